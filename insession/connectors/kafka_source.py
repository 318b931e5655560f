"""Kafka input that never blocks the worker: one partition per source partition.

Bytewax's KafkaSource waits up to 1 ms in every `consume` call, for every partition, each
round: with seven input topics a worker spends ~7 ms a round waiting on quiet partitions,
and every event queues behind that. This source polls without waiting and asks Bytewax to
come back later (`next_awake`) only to partitions that had nothing.

Each partition tells the flow's `EventClock` whether it has been read to its end (the
watermark), and commits its consumer group's offsets, `commit_delay_s` behind what it has
read: without Bytewax snapshots, a restart resumes from there (at least once).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    OFFSET_STORED,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)

from insession.connectors.kafka_admin import KafkaClient, admin_client
from insession.logs import kafka_logger
from insession.operators.event_clock import EventClock
from insession.operators.routing import Inbound
from insession.runner.stopping import stop_requested

LagCallback = Callable[[str, int, int], None]
"""(topic, partition, messages not yet read): consumer lag, for the metrics."""
LAG_EVERY_S = 0.5
COMMIT_EVERY_S = 1.0
PollCallback = Callable[[], None]
"""Called at every poll of every partition, whether the broker answers or not (liveness)."""


Resume = tuple[int, int | None]
"""A partition's snapshot: the next offset to read, and the latest event time read from it
(so a resumed flow's clock starts where it stood, not at the wall clock)."""


class _LivePartition(StatefulSourcePartition[Inbound, Resume]):
    """One topic partition; the snapshot is where it stands (`Resume`)."""

    def __init__(
        self,
        config: dict[str, object],
        topic: str,
        partition: int,
        offset: int,
        batch_size: int,
        idle: timedelta,
        on_lag: LagCallback | None = None,
        on_poll: PollCallback | None = None,
        clock: EventClock | None = None,
        commit_delay_s: float | None = None,
    ) -> None:
        self.consumer = Consumer({**config, "logger": kafka_logger()})
        self.on_lag = on_lag
        self.on_poll = on_poll
        self.clock = clock
        self.commit_delay_s = commit_delay_s
        self._read: deque[tuple[float, int]] = deque()
        self._next_commit = 0.0
        self._committed = -1
        self._next_lag = 0.0
        if offset < 0:
            offset = _start_offset(self.consumer, TopicPartition(topic, partition), offset)
        self.consumer.assign([TopicPartition(topic, partition, offset)])
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.batch_size = batch_size
        self.idle = idle
        self.awake: datetime | None = None
        self.at_end = False

    def next_batch(self) -> list[Inbound]:
        if self.at_end or stop_requested():
            if self.clock is not None:
                self.clock.ended((self.topic, self.partition))
            raise StopIteration
        if self.on_poll is not None:
            self.on_poll()
        batch: list[Inbound] = []
        for message in self.consumer.consume(self.batch_size, 0):
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    self.at_end = True
                    break
                batch.append(
                    Inbound(
                        self.topic,
                        self.partition,
                        max(self.offset, 0),
                        None,
                        error=f"consumer error: {error.str()}",
                    )
                )
                continue
            offset = message.offset()
            batch.append(
                Inbound(self.topic, self.partition, offset, message.value(), message.key())
            )
            self.offset = offset + 1
        self.awake = None if batch else datetime.now(UTC) + self.idle
        if self.on_lag is not None:
            self._report_lag()
        if self.clock is not None:
            self.clock.position((self.topic, self.partition), caught_up=self._caught_up())
        if self.commit_delay_s is not None:
            self._commit_behind(self.commit_delay_s)
        return batch

    def _caught_up(self) -> bool | None:
        """Whether every message the broker held at the last fetch has been read (None: no
        fetch has answered yet)."""
        tp = TopicPartition(self.topic, self.partition)
        high = self.consumer.get_watermark_offsets(tp, cached=True)
        if high is None or high[1] < 0:
            return None
        return self.offset >= high[1]

    def _commit_behind(self, delay_s: float) -> None:
        """Commit the offset reached `delay_s` ago: by then the flow has applied and sent what
        came before it (held items wait at most the ordering's hold time)."""
        now = time.monotonic()
        if self.offset >= 0 and (not self._read or self._read[-1][1] != self.offset):
            self._read.append((now, self.offset))
        if now < self._next_commit:
            return
        self._next_commit = now + COMMIT_EVERY_S
        offset = None
        while self._read and self._read[0][0] <= now - delay_s:
            offset = self._read.popleft()[1]
        if offset is None or offset <= self._committed:
            return
        try:
            self.consumer.commit(
                offsets=[TopicPartition(self.topic, self.partition, offset)], asynchronous=True
            )
            self._committed = offset
        except KafkaException:
            pass  # the broker is away; the next commit carries a later offset anyway

    def _report_lag(self) -> None:
        """At most twice a second: the high watermark last fetched minus our next offset."""
        now = time.monotonic()
        if now < self._next_lag:
            return
        self._next_lag = now + LAG_EVERY_S
        high = self.consumer.get_watermark_offsets(
            TopicPartition(self.topic, self.partition), cached=True
        )
        if high is not None and high[1] >= 0 and self.offset >= 0:
            assert self.on_lag is not None
            self.on_lag(self.topic, self.partition, max(0, high[1] - self.offset))

    def next_awake(self) -> datetime | None:
        return self.awake

    def snapshot(self) -> Resume:
        latest = self.clock.latest((self.topic, self.partition)) if self.clock else None
        return (self.offset, latest)

    def close(self) -> None:
        self.consumer.close()


START_TIMEOUT_S = 60.0


def _start_offset(consumer: Consumer, tp: TopicPartition, logical: int) -> int:
    """The first offset to read, resolved before reading: a logical start (the beginning, the
    end, or where the group left off, else the end) becomes a number, so nothing sent while a
    new group's coordinator is still being set up is skipped, and the position is known from
    the start (the watermark needs it)."""
    if logical == OFFSET_STORED:
        committed = consumer.committed([tp], timeout=START_TIMEOUT_S)[0].offset
        if committed >= 0:
            return int(committed)
        logical = OFFSET_END
    low, high = consumer.get_watermark_offsets(tp, timeout=START_TIMEOUT_S)
    return int(low if logical == OFFSET_BEGINNING else high)


class LiveKafkaSource(FixedPartitionedSource[Inbound, Resume]):
    """Every partition of `topics` as an input partition, read from `starting_offset`."""

    def __init__(
        self,
        client: KafkaClient,
        topics: list[str],
        *,
        starting_offset: int,
        tail: bool = True,
        batch_size: int = 1000,
        idle: timedelta = timedelta(milliseconds=1),
        config: dict[str, str] | None = None,
        on_lag: LagCallback | None = None,
        on_poll: PollCallback | None = None,
        clock: EventClock | None = None,
        group_id: str = "insession",
        commit_delay_s: float | None = None,
    ) -> None:
        self.on_lag = on_lag
        self.on_poll = on_poll
        self.clock = clock
        self.group_id = group_id
        self.commit_delay_s = commit_delay_s
        self.client = dict(client)
        self.topics = topics
        self.starting_offset = starting_offset
        self.tail = tail
        self.batch_size = batch_size
        self.idle = idle
        self.config = config or {}

    def list_parts(self) -> list[str]:
        metadata = admin_client(self.client).list_topics(timeout=30)
        parts = []
        for topic in self.topics:
            found = metadata.topics.get(topic)
            if found is None or found.error is not None:
                raise RuntimeError(
                    f"Kafka topic {topic!r} is missing: run `insession topics create`"
                )
            parts.extend(f"{index}-{topic}" for index in sorted(found.partitions))
        return parts

    def build_part(
        self, step_id: str, for_part: str, resume_state: Resume | None
    ) -> _LivePartition:
        index, topic = for_part.split("-", 1)
        config: dict[str, object] = {
            **self.config,  # the engine's tuning, which the client's own properties override
            **self.client,
            # Partitions are assigned, not subscribed: the group only keeps committed offsets
            # (where a restart without snapshots resumes, and what lag tools read).
            "group.id": self.group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "latest",  # a committed offset gone with retention
            "enable.partition.eof": not self.tail,
        }
        offset = self.starting_offset if resume_state is None else resume_state[0]
        if self.clock is not None:
            self.clock.register((topic, int(index)))
            if resume_state is not None and resume_state[1] is not None:
                self.clock.saw((topic, int(index)), resume_state[1])
        return _LivePartition(
            config,
            topic,
            int(index),
            offset,
            self.batch_size,
            self.idle,
            self.on_lag,
            self.on_poll,
            self.clock,
            self.commit_delay_s,
        )
