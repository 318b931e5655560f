"""Kafka input that never blocks the worker: one partition per source partition.

Bytewax's KafkaSource waits up to 1 ms in every `consume` call, for every partition, each
round: with seven input topics a worker spends ~7 ms a round waiting on quiet partitions,
and every event queues behind that. This source polls without waiting and asks Bytewax to
come back later (`next_awake`) only to partitions that had nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from confluent_kafka import Consumer, KafkaError, TopicPartition

from insession.kafka_admin import admin_client
from operators.routing import Inbound

LagCallback = Callable[[str, int, int], None]
"""(topic, partition, messages not yet read): consumer lag, for the metrics."""
LAG_EVERY_S = 0.5
PollCallback = Callable[[], None]
"""Called at every poll of every partition, whether the broker answers or not (liveness)."""


class _LivePartition(StatefulSourcePartition[Inbound, int]):
    """One topic partition; the snapshot is the next offset to read."""

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
    ) -> None:
        self.consumer = Consumer(config)
        self.on_lag = on_lag
        self.on_poll = on_poll
        self._next_lag = 0.0
        self.consumer.assign([TopicPartition(topic, partition, offset)])
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.batch_size = batch_size
        self.idle = idle
        self.awake: datetime | None = None
        self.at_end = False

    def next_batch(self) -> list[Inbound]:
        if self.at_end:
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
        return batch

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

    def snapshot(self) -> int:
        return self.offset

    def close(self) -> None:
        self.consumer.close()


class LiveKafkaSource(FixedPartitionedSource[Inbound, int]):
    """Every partition of `topics` as an input partition, read from `starting_offset`."""

    def __init__(
        self,
        bootstrap_servers: str,
        topics: list[str],
        *,
        starting_offset: int,
        tail: bool = True,
        batch_size: int = 1000,
        idle: timedelta = timedelta(milliseconds=1),
        config: dict[str, str] | None = None,
        on_lag: LagCallback | None = None,
        on_poll: PollCallback | None = None,
    ) -> None:
        self.on_lag = on_lag
        self.on_poll = on_poll
        self.bootstrap_servers = bootstrap_servers
        self.topics = topics
        self.starting_offset = starting_offset
        self.tail = tail
        self.batch_size = batch_size
        self.idle = idle
        self.config = config or {}

    def list_parts(self) -> list[str]:
        metadata = admin_client(self.bootstrap_servers).list_topics(timeout=30)
        parts = []
        for topic in self.topics:
            found = metadata.topics.get(topic)
            if found is None or found.error is not None:
                raise RuntimeError(
                    f"Kafka topic {topic!r} is missing: run `insession topics create`"
                )
            parts.extend(f"{index}-{topic}" for index in sorted(found.partitions))
        return parts

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _LivePartition:
        index, topic = for_part.split("-", 1)
        config: dict[str, object] = {
            "bootstrap.servers": self.bootstrap_servers,
            "group.id": "insession-unused",  # offsets live in the flow's snapshots, not a group
            "enable.auto.commit": False,
            "enable.partition.eof": not self.tail,
            **self.config,
        }
        offset = self.starting_offset if resume_state is None else resume_state
        return _LivePartition(
            config,
            topic,
            int(index),
            offset,
            self.batch_size,
            self.idle,
            self.on_lag,
            self.on_poll,
        )
