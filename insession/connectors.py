"""Bytewax sources and sinks for recordings, JSON-lines outputs and the Redis mirror.

Kafka uses Bytewax's own KafkaSource and KafkaSink; these are the connectors it lacks.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import redis
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from confluent_kafka import Producer

from insession.recording import read_lines
from insession.redis_mirror import MirrorLayout, MirrorUpdate, RedisMirror
from operators.customer_step import Outcome
from operators.routing import Inbound
from schemas.codec import encode
from schemas.events import Contract

DEFAULT_BATCH = 1000


class _RecordingPartition(StatefulSourcePartition[Inbound, int]):
    """One recording, read in fixed-size batches; the snapshot is the line number reached."""

    def __init__(self, path: Path, batch_size: int, resume_line: int | None) -> None:
        self.batch_size = batch_size
        resume_after = self.line = resume_line or 0
        self.inbound = (
            Inbound(path.name, 0, line.line_no, line.raw)
            for line in read_lines(path)
            if line.line_no > resume_after
        )

    def next_batch(self) -> list[Inbound]:
        batch = list(itertools.islice(self.inbound, self.batch_size))
        if not batch:
            raise StopIteration
        self.line = batch[-1].offset
        return batch

    def snapshot(self) -> int:
        return self.line

    def close(self) -> None:
        self.inbound.close()


class RecordingSource(FixedPartitionedSource[Inbound, int]):
    """Recordings as input, one partition per file, in fixed-size batches.

    Fixed-size batches (rather than time-based ones) make the flow's epochs, and so its
    outputs, the same on every run.
    """

    def __init__(self, paths: Sequence[Path], batch_size: int = DEFAULT_BATCH) -> None:
        self.paths = {str(path): path for path in paths}
        self.batch_size = batch_size

    def list_parts(self) -> list[str]:
        return list(self.paths)

    def build_part(
        self, step_id: str, for_part: str, resume_state: int | None
    ) -> _RecordingPartition:
        return _RecordingPartition(self.paths[for_part], self.batch_size, resume_state)


class _LinesPartition(StatelessSinkPartition[Contract]):
    def __init__(self, path: Path) -> None:
        self.handle = path.open("wb")

    def write_batch(self, items: list[Contract]) -> None:
        self.handle.write(b"".join(encode(item) + b"\n" for item in items))

    def close(self) -> None:
        self.handle.close()


class JsonLinesSink(DynamicSink[Contract]):
    """Each worker writes `<stem>.part<N>.jsonl` beside `path`; `merge_parts` joins them."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _parts(self) -> list[Path]:
        return sorted(self.path.parent.glob(f"{self.path.stem}.part*.jsonl"))

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _LinesPartition:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if worker_index == 0:
            self.path.unlink(missing_ok=True)
        return _LinesPartition(self.path.with_name(f"{self.path.stem}.part{worker_index}.jsonl"))

    def merge_parts(self, sort_key: Callable[[bytes], Any]) -> int:
        """Join the workers' files into `path`, sorted so the result is worker-independent."""
        parts = self._parts()
        lines = [line for part in parts for line in part.read_bytes().splitlines() if line]
        lines.sort(key=sort_key)
        self.path.write_bytes(b"".join(line + b"\n" for line in lines))
        for part in parts:
            part.unlink()
        return len(lines)


class _KafkaPartition(StatelessSinkPartition[Contract]):
    def __init__(
        self, producer: Producer, topic: str, key: Callable[[Contract], str | None]
    ) -> None:
        self.producer = producer
        self.topic = topic
        self.key = key

    def write_batch(self, items: list[Contract]) -> None:
        for item in items:
            key = self.key(item)
            self.producer.produce(self.topic, encode(item), key=key.encode() if key else None)
        # Serve delivery callbacks without waiting: a synchronous flush per batch would put a
        # broker round trip on every batch's path and make offers queue behind each other.
        self.producer.poll(0)

    def close(self) -> None:
        self.producer.flush()


class ContractKafkaSink(DynamicSink[Contract]):
    """Produces contracts to one topic, keyed (e.g. by customer) for partition affinity.

    Produces asynchronously (librdkafka batches for at most `linger.ms`) and flushes when the
    flow stops.
    """

    def __init__(
        self, bootstrap_servers: str, topic: str, key: Callable[[Contract], str | None]
    ) -> None:
        self.config = {
            "bootstrap.servers": bootstrap_servers,
            "enable.idempotence": True,
            "linger.ms": 1,
            "compression.type": "lz4",
        }
        self.topic = topic
        self.key = key

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _KafkaPartition:
        return _KafkaPartition(Producer(self.config), self.topic, self.key)


class _TallyPartition(StatelessSinkPartition[Outcome]):
    def __init__(self, tally: Callable[[list[Outcome]], None]) -> None:
        self.tally = tally

    def write_batch(self, items: list[Outcome]) -> None:
        self.tally(items)


class CallbackSink(DynamicSink[Outcome]):
    """Hands each batch to a thread-safe callback in this process (replay statistics)."""

    def __init__(self, tally: Callable[[list[Outcome]], None]) -> None:
        self.tally = tally

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _TallyPartition:
        return _TallyPartition(self.tally)


class _MirrorPartition(StatelessSinkPartition[Outcome]):
    def __init__(self, mirror: RedisMirror, summarise: Callable[[Outcome], dict[str, Any]]) -> None:
        self.mirror = mirror
        self.summarise = summarise

    def write_batch(self, items: list[Outcome]) -> None:
        # Summaries are built once per person per batch, from the latest state.
        last = {item.person: i for i, item in enumerate(items) if item.state is not None}
        self.mirror.write(
            MirrorUpdate(
                item.person,
                summary=self.summarise(item) if last.get(item.person) == i else None,
                offer=item.offer,
                erase=item.erased,
            )
            for i, item in enumerate(items)
        )

    def close(self) -> None:
        self.mirror.client.close()


class RedisMirrorSink(DynamicSink[Outcome]):
    """Mirrors outcomes to Redis: one pipelined round trip per batch of the flow."""

    def __init__(
        self, url: str, layout: MirrorLayout, summarise: Callable[[Outcome], dict[str, Any]]
    ) -> None:
        self.url = url
        self.layout = layout
        self.summarise = summarise

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _MirrorPartition:
        client = redis.Redis.from_url(self.url, socket_timeout=5)
        return _MirrorPartition(RedisMirror(client, self.layout), self.summarise)
