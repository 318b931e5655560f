"""`insession record`: copy Kafka topics into a recording that `insession replay` reads.

Every message keeps its topic, partition, offset, timestamp, key and headers, and its value
byte for byte (malformed ones too, so a replay dead-letters them as the live flow did). The consumer
has a group id of its own and commits nothing: recording never moves anyone's offsets.

Messages are copied as they arrive into `<out>.partial` (itself a readable recording, should
the recorder die), then merged into `<out>` in timestamp order, each partition's order kept,
so that a replay meets them in the order they reached the broker.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaException,
    Message,
    TopicPartition,
)
from tqdm import tqdm

from insession.connectors.kafka_admin import KafkaClient, admin_client, brokers
from insession.connectors.recording import (
    EnvelopeWriter,
    PartitionRange,
    RecordedMessage,
    RecordingHeader,
    read_messages,
)
from insession.connectors.time_order import PartitionId, merge_in_time_order
from insession.logs import kafka_logger
from insession.settings import Settings

CONSUME_BATCH = 500

POLL_S = 0.2


class RecordError(RuntimeError):
    """Recording could not start or go on: a topic is missing, or the broker refused."""


@dataclass(frozen=True, slots=True)
class StopAfter:
    """When recording stops; None is no limit. Ctrl-C always stops it cleanly."""

    messages: int | None = None
    seconds: float | None = None
    idle_s: float | None = None
    """Seconds without a new message (from the start, if none came at all)."""


@dataclass(slots=True)
class _Tally:
    messages: int = 0
    first_offset: int = 0
    last_offset: int = 0
    first_timestamp_ms: int | None = None
    last_timestamp_ms: int | None = None

    def add(self, offset: int, timestamp_ms: int | None) -> None:
        if self.messages == 0:
            self.first_offset, self.first_timestamp_ms = offset, timestamp_ms
        self.last_offset, self.last_timestamp_ms = offset, timestamp_ms
        self.messages += 1

    def as_range(self, topic: str, partition: int) -> PartitionRange:
        return PartitionRange(
            topic,
            partition,
            self.messages,
            self.first_offset,
            self.last_offset,
            self.first_timestamp_ms,
            self.last_timestamp_ms,
        )


@dataclass(slots=True)
class RecordResult:
    """What a recording holds and why it stopped."""

    path: Path
    header: RecordingHeader
    seconds: float
    stopped: str
    empty_topics: list[str] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return sum(p.messages for p in self.header.partitions)


def topics_to_record(names: Sequence[str], settings: Settings) -> list[str]:
    """Stream names ("cart") become their configured topics; other names are topic names."""
    return [settings.topics.get(name, name) for name in names]


def _partitions(client: KafkaClient, topics: Sequence[str]) -> list[PartitionId]:
    try:
        metadata = admin_client(client).list_topics(timeout=30)
    except KafkaException as failure:
        raise RecordError(f"Kafka at {brokers(client)} did not answer: {failure}") from None
    found: list[PartitionId] = []
    for topic in topics:
        described = metadata.topics.get(topic)
        if described is None or described.error is not None:
            raise RecordError(
                f"topic {topic!r} does not exist on {brokers(client)} "
                "(name a stream such as 'cart', or an existing topic)"
            )
        found.extend((topic, index) for index in sorted(described.partitions))
    return found


def _timestamp_ms(message: Message) -> int | None:
    kind, value = message.timestamp()
    return None if kind == TIMESTAMP_NOT_AVAILABLE else value


class _StopOnSignal:
    """Turns Ctrl-C into a request to stop after the current batch (main thread only)."""

    def __init__(self) -> None:
        self.requested = False
        self.previous: Any = None

    def _request(self, _signal: int, _frame: FrameType | None) -> None:
        self.requested = True

    def __enter__(self) -> _StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._request)
        return self

    def __exit__(self, *_: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def record(
    settings: Settings,
    topics: Sequence[str],
    out: Path,
    *,
    from_beginning: bool = False,
    stop: StopAfter = StopAfter(),
    progress: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> RecordResult:
    """Copy `topics` (names as on the broker) into the recording `out` until `stop` says."""
    partitions = _partitions(settings.kafka_client(), topics)
    consumer = Consumer(
        {
            **settings.kafka_client(),
            "logger": kafka_logger(),
            "group.id": f"insession-record-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
        }
    )
    start_at = OFFSET_BEGINNING if from_beginning else OFFSET_END
    consumer.assign([TopicPartition(topic, index, start_at) for topic, index in partitions])
    partial = out.with_name(out.name + ".partial")
    recorded_at = int(time.time() * 1000)
    tallies = {key: _Tally() for key in partitions}
    started = clock()
    try:
        with (
            EnvelopeWriter(partial, RecordingHeader(tuple(topics), recorded_at)) as writer,
            tqdm(total=stop.messages, unit="msg", desc="record", disable=not progress) as bar,
            _StopOnSignal() as interrupt,
        ):
            stopped = _copy(consumer, writer, tallies, stop, clock, bar, interrupt)
    finally:
        consumer.close()
    header = RecordingHeader(
        tuple(topics),
        recorded_at,
        tuple(
            tally.as_range(topic, index)
            for (topic, index), tally in sorted(tallies.items())
            if tally.messages
        ),
    )
    counts = {key: t.messages for key, t in tallies.items()}
    merging = out.with_name(out.name + ".merging")
    with EnvelopeWriter(merging, header, gzipped=out.suffix == ".gz") as final:
        for message in merge_in_time_order(read_messages(partial), counts):
            final.write(message)
    merging.replace(out)
    partial.unlink()
    seconds = clock() - started
    recorded_topics = {p.topic for p in header.partitions}
    empty = [topic for topic in topics if topic not in recorded_topics]
    return RecordResult(out, header, seconds, stopped, empty)


FIRST_FETCH_S = 15.0

"""Longest wait for every partition's first fetch before idleness is counted anyway."""


def _copy(
    consumer: Consumer,
    writer: EnvelopeWriter,
    tallies: dict[PartitionId, _Tally],
    stop: StopAfter,
    clock: Callable[[], float],
    bar: tqdm[Any],
    interrupt: _StopOnSignal,
) -> str:
    """Consume and write until a limit is reached; return why it stopped.

    Idleness is counted from the moment every partition has answered a fetch: on a broker
    that has just started, the first fetch can take longer than `--until-idle` itself.
    """
    started = last_seen = clock()
    fetching = False
    while True:
        now = clock()
        if interrupt.requested:
            return "interrupted"
        if stop.messages is not None and writer.count >= stop.messages:
            return f"{stop.messages:,} messages"
        if stop.seconds is not None and now - started >= stop.seconds:
            return f"{stop.seconds:g} s elapsed"
        if not fetching:
            fetching = now - started >= FIRST_FETCH_S or _all_fetched(consumer, tallies)
            last_seen = now
        elif stop.idle_s is not None and now - last_seen >= stop.idle_s:
            return f"idle for {stop.idle_s:g} s"
        wanted = CONSUME_BATCH
        if stop.messages is not None:
            wanted = min(wanted, stop.messages - writer.count)
        batch = consumer.consume(wanted, POLL_S)
        for message in batch:
            error = message.error()
            if error is not None:
                raise RecordError(
                    f"Kafka refused {message.topic()} partition {message.partition()}: "
                    f"{error.str()}"
                )
            topic, index, offset = message.topic(), message.partition(), message.offset()
            timestamp = _timestamp_ms(message)
            headers = tuple(message.headers() or ())
            writer.write(
                RecordedMessage(
                    topic, index, offset, timestamp, message.key(), message.value(), headers=headers
                )
            )
            tallies[topic, index].add(offset, timestamp)
        if batch:
            last_seen = clock()
            bar.update(len(batch))


def _all_fetched(consumer: Consumer, partitions: dict[PartitionId, _Tally]) -> bool:
    """Whether the broker has answered a fetch for every partition (its high watermark is
    known), so that silence from now on means there is nothing more to read."""
    for topic, index in partitions:
        marks = consumer.get_watermark_offsets(TopicPartition(topic, index), cached=True)
        if marks is None or marks[1] < 0:
            return False
    return True
