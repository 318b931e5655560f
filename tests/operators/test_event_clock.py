"""The stream's watermark: the slowest partition wins; a wrong clock moves nothing."""

from __future__ import annotations

import time

from insession.operators.event_clock import CACHE_S, IDLE_AFTER_S, EventClock


class _Wall:
    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


def test_lateness_is_taken_off_the_slowest_partition() -> None:
    clock = EventClock(lateness_ms=3_000, wall=lambda: 50.0)
    clock.saw(("cart", 1), 40_000)
    clock.position(("cart", 1), caught_up=False)
    clock.position(("clicks", 0), caught_up=True)
    assert clock.watermark() == 37_000


def test_with_every_partition_read_to_its_end_time_is_the_latest_event_read() -> None:
    wall = _Wall(50.0)
    clock = EventClock(wall=wall)
    clock.saw(("cart", 1), 40_000)
    clock.position(("cart", 1), caught_up=True)
    clock.position(("clicks", 0), caught_up=True)
    assert clock.watermark() == 40_000


def test_a_quiet_shop_s_clock_runs_on_with_the_wall() -> None:
    """Nothing read for a while: reward windows must still end."""
    wall = _Wall(50.0)
    clock = EventClock(wall=wall)
    clock.saw(("cart", 1), 40_000)
    clock.position(("cart", 1), caught_up=True)
    assert clock.watermark() == 40_000
    wall.now_s = 50.0 + IDLE_AFTER_S + 2.0
    time.sleep(CACHE_S * 2)
    assert clock.watermark() == 42_000
    wall.now_s = 1_000.0
    time.sleep(CACHE_S * 2)
    assert clock.watermark() == 1_000_000 - int(IDLE_AFTER_S * 1000) - 50_000 + 40_000


def test_an_event_dated_ahead_never_takes_the_clock_past_the_wall() -> None:
    clock = EventClock(wall=lambda: 50.0)
    clock.saw(("social", 0), 10**13)
    clock.position(("social", 0), caught_up=True)
    assert clock.watermark() == 50_000


def test_an_unknown_position_holds_time() -> None:
    clock = EventClock(wall=lambda: 50.0)
    clock.saw(("cart", 1), 40_000)
    clock.position(("cart", 1), caught_up=True)
    clock.position(("clicks", 0), caught_up=None)  # no fetch has answered yet
    assert clock.watermark() is None
    assert not clock.all_ended()


def test_timers_wait_at_the_watermark_s_pace() -> None:
    """Reading a backlog the watermark runs a hundred times the wall clock: a timer due in 100
    s of event time is looked at again in about a second, not in 100 s."""
    wall = _Wall(10_000.0)  # the watermark never passes the wall clock
    clock = EventClock(wall=wall)
    clock.register(("cart", 0))
    clock.saw(("cart", 0), 1_000_000)
    clock.position(("cart", 0), caught_up=False)
    assert clock.watermark() == 1_000_000 and clock.pace() == 1.0
    assert clock.wall_wait_ms(1_100_000) == 100_000, "no pace measured yet: wall speed"
    wall.now_s += 2.0
    clock.saw(("cart", 0), 1_200_000)
    time.sleep(CACHE_S * 2)
    assert clock.watermark() == 1_200_000
    assert clock.pace() == 100.0
    assert clock.wall_wait_ms(1_300_000) == 1_000
    assert clock.wall_wait_ms(1_000_000) == 0, "already passed"
    wall.now_s += 2.0  # caught up: the pace falls back to the wall's
    time.sleep(CACHE_S * 2)
    clock.saw(("cart", 0), 1_202_000)
    clock.watermark()
    assert clock.pace() == 1.0
