"""Messages of several partitions merged into one timestamp order, each partition's order kept:
the order in which a replay meets a recording's messages."""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Iterator, Mapping

from insession.connectors.recorded_message import RecordedMessage

PartitionId = tuple[str, int]


def merge_in_time_order(
    messages: Iterable[RecordedMessage], counts: Mapping[PartitionId, int]
) -> Iterator[RecordedMessage]:
    """Messages of several partitions, merged by timestamp; each partition's order is kept.

    `counts` says how many messages each partition has. A message is released once every
    partition with messages still to come has one waiting, so memory holds no more than how
    far the stored order runs ahead of the timestamp order. A message of a partition not in
    `counts` is handed on as it comes.
    """
    waiting: dict[PartitionId, deque[RecordedMessage]] = {key: deque() for key in counts}
    left = dict(counts)
    heads: list[tuple[int, str, int, int]] = []
    starving = sum(1 for count in left.values() if count > 0)

    def release() -> RecordedMessage:
        nonlocal starving
        _, topic, partition, _ = heapq.heappop(heads)
        queue = waiting[topic, partition]
        message = queue.popleft()
        left[topic, partition] = left.get((topic, partition), 0) - 1
        if queue:
            heapq.heappush(heads, _merge_key(queue[0]))
        elif left[topic, partition] > 0:
            starving += 1
        return message

    for message in messages:
        if (message.topic, message.partition) not in counts:  # of no counted partition
            yield message
            continue
        queue = waiting.setdefault((message.topic, message.partition), deque())
        queue.append(message)
        if len(queue) == 1:
            heapq.heappush(heads, _merge_key(message))
            if left.get((message.topic, message.partition), 0) > 0:
                starving -= 1
        while heads and starving == 0:
            yield release()
    while heads:
        yield release()


def _merge_key(message: RecordedMessage) -> tuple[int, str, int, int]:
    stamp = message.timestamp_ms if message.timestamp_ms is not None else -1
    return (stamp, message.topic, message.partition, message.offset)
