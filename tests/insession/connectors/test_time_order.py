"""Merging partitions by timestamp keeps each partition's own order."""

from __future__ import annotations

from insession.connectors.recording import RecordedMessage
from insession.connectors.time_order import merge_in_time_order


def _m(partition: int, offset: int, stamp: int | None) -> RecordedMessage:
    return RecordedMessage("t", partition, offset, stamp, None, b"v")


def test_merge_orders_by_time_and_keeps_each_partitions_order() -> None:
    # Partition 1 is stored first and has a timestamp that goes back (offset 12).
    stored = [_m(1, 10, 5), _m(1, 11, 9), _m(1, 12, 2), _m(0, 0, 1), _m(0, 1, 6), _m(0, 2, 7)]

    merged = list(merge_in_time_order(stored, {("t", 0): 3, ("t", 1): 3, ("t", 2): 0}))

    assert [(m.partition, m.offset) for m in merged] == [
        (0, 0), (1, 10), (0, 1), (0, 2), (1, 11), (1, 12)
    ]  # fmt: skip


def test_a_message_of_no_counted_partition_is_handed_on_and_holds_nothing_back() -> None:
    unreadable = RecordedMessage("clicks.jsonl", 0, 3, None, None, b"{cut", error="cut short")
    stored = iter([_m(0, 0, 1), _m(0, 1, 2), unreadable])
    merged = merge_in_time_order(stored, {("t", 0): 2})

    assert [next(merged).offset, next(merged).offset] == [0, 1]  # before the cut line is read
    assert next(merged) is unreadable and next(merged, None) is None
