"""The ordered step releases an epoch only once a later one has reached the worker."""

from __future__ import annotations

import time
from dataclasses import dataclass

from flows.ordering import StreamClock, _EpochSorted, epoch_key_for


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


def test_a_stream_catching_up_keeps_its_own_clock() -> None:
    """Reward windows of a backlog must not close by the wall clock before its feedback is
    read: the clock is the event time reached, never ahead of the wall clock."""
    clock = StreamClock()
    an_hour_ago = int(time.time() * 1000) - 3_600_000
    clock.saw(an_hour_ago)
    clock.saw(an_hour_ago - 5_000)  # an older event does not move it back
    assert clock.now_ms() == an_hour_ago
    clock.saw(int(time.time() * 1000) + 60_000)  # a producer's clock ahead of ours
    assert clock.now_ms() <= int(time.time() * 1000)
