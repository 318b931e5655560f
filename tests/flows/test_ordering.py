"""The ordered step releases an epoch only once a later one has reached the worker."""

from __future__ import annotations

import time
from dataclasses import dataclass

from insession.flows.ordering import Watermarked, _EpochSorted, epoch_key_for
from insession.operators.event_clock import EventClock


@dataclass
class Item:
    key: int
    epoch: int


def _collect(state: list[int] | None, item: Item) -> tuple[list[int], list[int]]:
    return (state or []) + [item.key], [item.key]


def _logic(run: str) -> _EpochSorted:
    return _EpochSorted(run, _collect, lambda item: item.key, None, None, strict=True)


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
        "live", _collect_timed, lambda i: (i.at_ms, i.key), None, None, False, None, marks
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
