"""Producing the flow's outputs to Kafka so that no single message can stop the flow.

`Producer.produce()` raises for a message it will not queue (larger than the producer's
limit, the local queue full, an unknown topic). Raised in a sink, that ends the flow; with
recovery the flow resumes before the same input and dies on it again, forever. A
`TopicProducer` counts and logs such a message instead, like one whose delivery failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from insession.connectors.kafka_admin import KafkaClient, producer_limits
from insession.logs import kafka_logger
from insession.schemas.codec import DEFAULT_MAX_BYTES

log = logging.getLogger(__name__)

DURABLE_FLUSH_TIMEOUT_S = 30.0
CLOSE_FLUSH_TIMEOUT_S = 30.0
QUEUE_FULL_WAIT_S = 5.0
"""How long a send waits for room in a full local queue (the broker away) before giving up."""
LOG_EVERY = 1000
"""Failures are logged at the first, then every this many: an outage must not flood stderr."""


def producer_config(
    client: KafkaClient, max_message_bytes: int = DEFAULT_MAX_BYTES
) -> dict[str, object]:
    """The flow's producers: idempotent (a retried send is not written twice), batched for at
    most 1 ms, compressed, and taking records as large as the topics do. The client's own
    properties (the `kafka` table) may change the batching and compression."""
    return {
        "linger.ms": 1,
        "compression.type": "lz4",
        **client,
        "enable.idempotence": True,
        **producer_limits(max_message_bytes),
    }


class TopicProducer:
    """One topic's producer: what Kafka refuses, at once or at delivery, is counted
    (`on_error(topic)`) and logged, and the flow goes on."""

    def __init__(
        self,
        client: KafkaClient,
        topic: str,
        *,
        max_message_bytes: int = DEFAULT_MAX_BYTES,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.topic = topic
        self.on_error = on_error
        self.failures = 0
        config = producer_config(client, max_message_bytes)
        self.producer = Producer(
            {**config, "on_delivery": self._delivered, "logger": kafka_logger()}
        )

    def send(self, value: bytes, key: str | None) -> bool:
        """Queue one message; False when Kafka refused it (counted and logged)."""
        encoded_key = key.encode() if key else None
        waited = 0.0
        while True:
            try:
                self.producer.produce(self.topic, value, key=encoded_key)
                return True
            except BufferError:
                if waited >= QUEUE_FULL_WAIT_S:
                    self._failed(f"the producer's queue stayed full for {waited:.0f} s")
                    return False
                self.producer.poll(0.1)  # serving deliveries is what makes room
                waited += 0.1
            except KafkaException as refused:
                self._failed(_describe(refused.args[0]), size=len(value))
                return False

    def deliver(self, durable: bool) -> None:
        """After a batch is sent: with `durable`, wait for the broker's acknowledgement (so a
        Bytewax snapshot never covers what is still in the producer's buffer); otherwise serve
        delivery callbacks without waiting, so batches do not queue behind a round trip."""
        if durable:
            left = self.producer.flush(DURABLE_FLUSH_TIMEOUT_S)
            if left:
                raise RuntimeError(f"{left} message(s) not acknowledged by Kafka in time")
        else:
            self.producer.poll(0)

    def close(self) -> None:
        """Send what is queued, waiting a bounded time: a stop must end even with no broker."""
        left = self.producer.flush(CLOSE_FLUSH_TIMEOUT_S)
        if left:
            log.warning("%d message(s) to %s still unsent at close", left, self.topic)

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._failed(error.str(), size=len(message.value() or b""))

    def _failed(self, why: str, size: int | None = None) -> None:
        self.failures += 1
        if self.on_error is not None:
            self.on_error(self.topic)
        if self.failures == 1 or self.failures % LOG_EVERY == 0:
            what = f"a {size:,}-byte message" if size is not None else "a message"
            log.warning(
                "%s to %s was not delivered (%s); %s so far",
                what,
                self.topic,
                why,
                f"{self.failures:,}",
                extra={"topic": self.topic, "failures": self.failures},
            )


def _describe(error: object) -> str:
    return error.str() if isinstance(error, KafkaError) else str(error)


@dataclass(frozen=True, slots=True)
class TopicTarget:
    """Where a sink produces and how: every Kafka sink of the flow is built from one, and
    each worker's partition of the sink makes its producer from it."""

    client: KafkaClient
    topic: str
    durable: bool = False
    """Each batch waits for the broker's ack (recovery on): a snapshot never covers what is
    still in the producer's buffer."""
    on_error: Callable[[str], None] | None = None
    max_message_bytes: int = DEFAULT_MAX_BYTES

    def producer(self) -> TopicProducer:
        return TopicProducer(
            self.client,
            self.topic,
            max_message_bytes=self.max_message_bytes,
            on_error=self.on_error,
        )
