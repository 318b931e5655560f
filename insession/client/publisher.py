"""Sending a storefront's events to the engine: each contract to its stream's topic, with the
key the flow expects, checked before it leaves (a bad event is an error here, in the
storefront's code, not a dead letter later)."""

from __future__ import annotations

from confluent_kafka import KafkaError, Message, Producer

from insession.logs import kafka_logger
from insession.schemas.codec import Rejection, decode, encode
from insession.schemas.events import (
    INPUT_STREAMS,
    STREAM_OF,
    Event,
    IdentityLink,
    ProductUpdate,
    Stamped,
)
from insession.schemas.signatures import sign_identity_link
from insession.settings import Settings


class PublishError(RuntimeError):
    """Kafka did not take every event sent (the broker away past the timeout, a topic gone)."""


class EventPublisher:
    """An idempotent producer of the engine's input contracts.

    The key of a shopper's event is its device, else its customer (`Event.input_key`): one
    device's events keep their order on one partition, which is what the identity step reads;
    a product update's key is its product. Identity links are signed with the settings'
    identity secret (the storefront's backend is who vouches for a login).
    """

    def __init__(self, settings: Settings, *, linger_ms: int = 5) -> None:
        self.settings = settings
        self.failures: list[str] = []
        self._producer = Producer(
            {
                "linger.ms": linger_ms,
                "compression.type": "lz4",
                **settings.kafka_client(),
                "enable.idempotence": True,
                "on_delivery": self._delivered,
                "logger": kafka_logger(),
            }
        )

    def publish(self, event: Stamped) -> None:
        """Queue `event` for its topic. Raises ValueError for an event the engine would
        dead-letter (what is wrong, and in which field) or one that is not an input."""
        stream = STREAM_OF.get(event.type)
        if stream not in INPUT_STREAMS:
            raise ValueError(f"{event.type} is not an input of the engine (it writes those)")
        if isinstance(event, IdentityLink) and self.settings.identity_secret:
            event = sign_identity_link(event, self.settings.identity_secret)
        raw = encode(event)
        checked = decode(raw)
        if isinstance(checked, Rejection):
            raise ValueError(f"{event.type} would be dead-lettered: {checked}")
        key = _key(event)
        while True:
            try:
                self._producer.produce(self.settings.topic(stream), raw, key=key)
                break
            except BufferError:  # the local queue is full: serve deliveries to make room
                self._producer.poll(0.1)
        self._producer.poll(0)

    def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until Kafka has every event sent; raises PublishError for those it has not."""
        left = self._producer.flush(timeout_s)
        failed, self.failures = self.failures, []
        if left or failed:
            why = "; ".join(sorted(set(failed))[:3]) or "no answer from the brokers"
            raise PublishError(f"{left + len(failed)} event(s) not delivered ({why})")

    def close(self, timeout_s: float = 10.0) -> None:
        """Send what is queued (bounded wait)."""
        self.flush(timeout_s)

    def _delivered(self, error: KafkaError | None, _: Message) -> None:
        if error is not None:
            self.failures.append(error.str())


def _key(event: Stamped) -> bytes | None:
    if isinstance(event, ProductUpdate):
        return event.partition_key().encode()
    if isinstance(event, Event):
        key = event.input_key()
        return key.encode() if key else None
    return None
