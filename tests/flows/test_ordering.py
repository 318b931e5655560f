"""The ordered step releases an epoch only once a later one has reached the worker."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from bytewax.operators import StatefulBatchLogic
from insession.flows.ordering import (
    BACKLOG_RECHECK_MS,
    Timer,
    Watermarked,
    _EpochSorted,
    epoch_key_for,
)
from insession.operators.event_clock import EventClock


@dataclass
class Item:
    key: int
    epoch: int


def _collect(state: list[int] | None, item: Item) -> tuple[list[int], list[int]]:
    return (state or []) + [item.key], [item.key]


def _logic(run: str) -> _EpochSorted:
    return _EpochSorted(run, _collect, lambda item: item.key, None, strict=True)


def test_an_epoch_is_held_until_a_later_one_arrives_then_released_sorted() -> None:
    logic = _logic("run-a")
    out, _ = logic.on_batch([Item(3, 1), Item(1, 1)])
    assert list(out) == []
    out, _ = logic.on_batch([Item(2, 1)])
    assert list(out) == []
    out, _ = logic.on_batch([Item(9, 2)])
    assert list(out) == [1, 2, 3]
    out, _ = logic.on_eof()
    assert list(out) == [9]


def test_a_later_epoch_releases_every_key_held_before_it_in_the_order_of_their_items() -> None:
    """A key whose next item comes days later does not wait for it: the first key to see a
    new epoch releases every key's earlier epochs, key after key by their earliest item."""
    run = epoch_key_for("customer")
    quiet, busy, late = _logic(run), _logic(run), _logic(run)
    assert list(quiet.on_batch([Item(5, 1)])[0]) == []
    assert list(busy.on_batch([Item(2, 1), Item(7, 1)])[0]) == []
    out, _ = late.on_batch([Item(1, 2)])
    assert list(out) == [2, 7, 5], "busy's earliest item (2) comes before quiet's (5)"
    assert quiet.buffer == {} and busy.buffer == {}
    out, _ = quiet.on_eof()
    assert list(out) == [1], "the end of input releases what any key holds"
    assert list(late.on_eof()[0]) == []


@dataclass
class Stamped:
    key: int
    at_ms: int
    epoch: int


def _count_state(state: int | None, item: Stamped) -> tuple[int, list[str]]:
    return item.at_ms, [f"item {item.key}"]


def _idle_timer(idle_ms: int, *, idle: bool = True) -> Timer:
    """Fires once the key has been idle `idle_ms`: the key leaves (state None)."""
    return Timer(
        due=lambda last: last + idle_ms,
        fire=lambda last, now: (None, [f"left at {now}"]),
        event_time=lambda item: item.at_ms,
        idle=idle,
    )


def test_a_replay_fires_timers_at_the_earliest_event_time_of_each_sweep() -> None:
    run = epoch_key_for("customer")

    def logic() -> _EpochSorted:
        return _EpochSorted(
            run, _count_state, lambda i: (i.at_ms, i.key), None, True, _idle_timer(1_000)
        )

    idle, other, far = logic(), logic(), logic()
    idle.on_batch([Stamped(1, 100, 1)])
    assert list(other.on_batch([Stamped(2, 900, 2)])[0]) == ["item 1"]
    # Epoch 2 holds an item dated 900 and one dated years ahead: the sweep's time is 900.
    far.on_batch([Stamped(3, 10**12, 2)])
    out, _ = other.on_batch([Stamped(4, 1_200, 3)])
    assert list(out) == ["item 2", "item 3"], "not idle at 900: nothing fires"
    assert idle.state == 100
    out, _ = far.on_batch([Stamped(5, 1_300, 4)])
    assert list(out) == ["item 4", "left at 1200"], "idle since 100, at 1200 the key leaves"
    assert idle.state is None
    assert idle.on_eof()[1] == StatefulBatchLogic.DISCARD


def test_a_new_flow_does_not_inherit_an_earlier_runs_epochs() -> None:
    earlier = _logic(epoch_key_for("customer"))
    earlier.on_batch([Item(1, 50)])
    later = _logic(epoch_key_for("customer"))  # a new build, same step, same thread
    out, _ = later.on_batch([Item(2, 1)])
    assert list(out) == [], "epoch 1 must wait: nothing says it is complete yet"


@dataclass
class Timed:
    key: int
    at_ms: int
    epoch: int = 1


def _collect_timed(state: list[int] | None, item: Timed) -> tuple[list[int], list[int]]:
    return (state or []) + [item.key], [item.key]


class _Wall:
    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


def _watermarked(clock: EventClock, max_hold_ms: int = 60_000) -> _EpochSorted:
    marks = Watermarked(clock, lambda item: item.at_ms, max_hold_ms)
    return _EpochSorted(
        "live", _collect_timed, lambda i: (i.at_ms, i.key), None, False, None, marks
    )


def test_a_backlog_read_from_two_topics_is_applied_in_event_time_order() -> None:
    """Catching up after a crash: cart's backlog is read before clickstream's, yet each
    person's events are applied as they happened."""
    wall = _Wall(10_000.0)
    clock = EventClock(wall=wall)
    clock.register(("cart", 0))
    clock.register(("clicks", 0))
    logic = _watermarked(clock)
    clock.saw(("cart", 0), 5_000)
    clock.position(("cart", 0), caught_up=False)
    out, _ = logic.on_batch([Timed(3, 3_000), Timed(5, 5_000)])
    assert list(out) == [], "clicks has not been read: its earlier events may still come"
    clock.saw(("clicks", 0), 4_000)
    clock.position(("clicks", 0), caught_up=False)
    time.sleep(0.003)  # past the watermark's cache
    out, _ = logic.on_batch([Timed(1, 1_000), Timed(4, 4_000)])
    assert list(out) == [1, 3, 4], "up to the slower partition's time, in event-time order"
    clock.position(("clicks", 0), caught_up=True)
    clock.position(("cart", 0), caught_up=True)
    time.sleep(0.003)
    out, _ = logic.on_notify()
    assert list(out) == [5]


def test_held_items_of_a_backlog_are_looked_at_again_at_the_watermarks_pace() -> None:
    """Hours behind the wall clock, "when the wall clock passes them" is long ago: the key
    asks again when the watermark, at its pace, should have passed its earliest item (here
    1 s of event time ahead, at 1 event ms per wall ms), not every millisecond."""
    clock = EventClock(wall=_Wall(10_000.0))  # the events below are 10,000 s old
    clock.register(("cart", 0))
    clock.register(("clicks", 0))
    logic = _watermarked(clock)
    clock.saw(("cart", 0), 5_000)
    clock.saw(("clicks", 0), 4_000)
    for partition in (("cart", 0), ("clicks", 0)):
        clock.position(partition, caught_up=False)
    out, _ = logic.on_batch([Timed(5, 5_000)])
    assert list(out) == []
    at = logic.notify_at()
    assert at is not None
    wait_ms = (at - datetime.now(UTC)).total_seconds() * 1000
    assert 990 <= wait_ms <= 1_000 <= BACKLOG_RECHECK_MS
    out, _ = logic.on_notify()
    assert list(out) == [], "the watermark has not moved: nothing to release"


def test_an_event_dated_ahead_moves_no_clock_past_the_wall() -> None:
    wall = _Wall(1_000.0)
    clock = EventClock(wall=wall)
    clock.saw(("social", 0), 10**13)  # decades ahead
    clock.position(("social", 0), caught_up=False)
    assert clock.watermark() == 1_000_000


def test_a_restart_waits_for_every_partition_before_time_moves() -> None:
    """Restored reward windows must not close before the backlog they wait for is read."""
    clock = EventClock(wall=_Wall(1_000.0))
    clock.register(("feedback", 0))
    clock.register(("clicks", 0))
    clock.position(("clicks", 0), caught_up=True)
    assert clock.watermark() is None
    clock.ended(("feedback", 0))
    time.sleep(0.003)
    assert clock.watermark() == 1_000_000


def test_allowed_lateness_holds_events_until_the_stream_has_moved_past_them() -> None:
    clock = EventClock(lateness_ms=2_000, wall=_Wall(200.0))
    clock.position(("clicks", 0), caught_up=True)
    logic = _watermarked(clock)
    clock.saw(("clicks", 0), 99_500)
    out, _ = logic.on_batch([Timed(2, 99_500)])
    assert list(out) == []
    clock.saw(("clicks", 0), 99_000)
    out, _ = logic.on_batch([Timed(1, 99_000)])  # arrived later, happened earlier
    assert list(out) == []
    clock.saw(("clicks", 0), 101_600)  # the stream is 2.1 s past both
    time.sleep(0.003)
    out, _ = logic.on_batch([Timed(3, 101_600)])
    assert list(out) == [1, 2]


def test_a_partition_that_stops_moving_holds_events_only_so_long() -> None:
    clock = EventClock(wall=_Wall(100.0))
    clock.register(("stuck", 0))  # never reports
    logic = _watermarked(clock, max_hold_ms=20)
    out, _ = logic.on_batch([Timed(1, 99_000)])
    assert list(out) == []
    time.sleep(0.03)
    out, _ = logic.on_notify()
    assert list(out) == [1]


def test_the_end_of_input_applies_everything_held() -> None:
    clock = EventClock(wall=_Wall(100.0))
    clock.register(("stuck", 0))
    logic = _watermarked(clock)
    logic.on_batch([Timed(2, 99_000), Timed(1, 98_000)])
    out, _ = logic.on_eof()
    assert list(out) == [1, 2]


@pytest.mark.parametrize("idle", [True, False])
def test_a_live_idleness_timer_counts_from_when_late_events_came(idle: bool) -> None:
    """A session read 10 s behind the stream is not idle the moment it is applied; a
    deadline counts from the event all the same."""
    clock = EventClock(wall=_Wall(100.0))
    clock.position(("clicks", 0), caught_up=True)
    marks = Watermarked(clock, lambda item: item.at_ms, 60_000)
    logic = _EpochSorted(
        "live-late", _count_state, lambda i: (i.at_ms, i.key), None, False,
        _idle_timer(5_000, idle=idle), marks,
    )  # fmt: skip
    clock.saw(("clicks", 0), 11_000)
    out, _ = logic.on_batch([Stamped(1, 1_000, 1)])  # 10 s late: applied at once
    if not idle:
        assert list(out) == ["item 1", "left at 11000"], "a deadline 4 s before it came"
        return
    assert list(out) == ["item 1"]
    clock.saw(("clicks", 0), 15_000)
    time.sleep(0.003)
    assert list(logic.on_notify()[0]) == [], "idle 14 s by event time, 4 s since it came"
    clock.saw(("clicks", 0), 16_000)
    time.sleep(0.003)
    assert list(logic.on_notify()[0]) == ["left at 16000"]
