"""Producing simulated traffic to Kafka, paced to a target rate: produce and ProduceStats."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from insession.schemas.events import Event
from insession.settings import Settings
from insession.simulator.messages import encode_item, key_of, stream_of


@dataclass(slots=True)
class ProduceStats:
    """What a Kafka run did: messages sent, per stream, failures, and how fast."""

    sent: int = 0
    failed: int = 0
    per_stream: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


def produce(
    items: Iterable[Event | bytes],
    settings: Settings,
    rate: float | None,
    *,
    progress: Callable[[ProduceStats], None] | None = None,
    progress_every_s: float = 2.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ProduceStats:
    """Produce every message to its stream's topic, paced to `rate` per second (None: flat out).

    Pacing follows a schedule (message n is due at n / rate), so short stalls are caught up
    and the achieved rate matches the target over the run.
    """
    from confluent_kafka import KafkaError, Message, Producer

    from insession.logs import kafka_logger

    producer = Producer(
        {
            "linger.ms": 5,
            "compression.type": "lz4",
            **settings.kafka_client(),
            "enable.idempotence": True,
            "logger": kafka_logger(),
        }
    )
    stats = ProduceStats()

    def delivered(error: KafkaError | None, _: Message) -> None:
        if error is not None:
            stats.failed += 1

    started = clock()
    next_report = started + progress_every_s
    for item in items:
        if rate:
            ahead = started + stats.sent / rate - clock()
            if ahead > 0.002:
                sleep(ahead)
        stream = stream_of(item)
        _produce_one(producer, settings.topic(stream), encode_item(item), key_of(item), delivered)
        stats.sent += 1
        stats.per_stream[stream] = stats.per_stream.get(stream, 0) + 1
        producer.poll(0)
        if progress is not None and clock() >= next_report:
            stats.seconds = clock() - started
            progress(stats)
            next_report += progress_every_s
    remaining = producer.flush(60)
    stats.failed += remaining
    stats.seconds = clock() - started
    return stats


def _produce_one(
    producer: Any, topic: str, value: bytes, key: bytes | None, on_delivery: Callable[..., None]
) -> None:
    """Produce, waiting for room when the client's queue is full instead of failing."""
    while True:
        try:
            producer.produce(topic, value, key=key, on_delivery=on_delivery)
            return
        except BufferError:
            producer.poll(0.1)
