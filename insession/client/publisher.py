"""Sending a storefront's events to the engine: each contract to its stream's topic, with the
key the flow expects, checked before it leaves (a bad event is an error here, in the
storefront's code, not a dead letter later)."""

from __future__ import annotations

import threading
import time

from confluent_kafka import KafkaError, Message, Producer

from insession.connectors.kafka_admin import producer_limits
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

    def __init__(
        self, settings: Settings, *, linger_ms: int = 5, queue_full_wait_s: float = 5.0
    ) -> None:
        self.settings = settings
        self.queue_full_wait_s = queue_full_wait_s
        self._failed = 0
        self._why: set[str] = set()
        self._lock = threading.Lock()
        self._producer = Producer(
            {
                "linger.ms": linger_ms,
                "compression.type": "lz4",
                **settings.kafka_client(),
                "enable.idempotence": True,
                **producer_limits(settings.max_message_bytes),
                "on_delivery": self._delivered,
                "logger": kafka_logger(),
            }
        )

    def publish(self, event: Stamped) -> None:
        """Queue `event` for its topic. Raises ValueError for an event the engine would
        dead-letter (what is wrong, and in which field, with the engine's size limit) or one
        that is not an input, and PublishError when the local queue stays full (the brokers
        away) for `queue_full_wait_s`."""
        stream = STREAM_OF.get(event.type)
        if stream not in INPUT_STREAMS:
            raise ValueError(f"{event.type} is not an input of the engine (it writes those)")
        if isinstance(event, IdentityLink) and self.settings.identity_secret:
            event = sign_identity_link(event, self.settings.identity_secret)
        raw = encode(event)
        checked = decode(raw, max_bytes=self.settings.max_message_bytes)
        if isinstance(checked, Rejection):
            raise ValueError(f"{event.type} would be dead-lettered: {checked}")
        deadline = time.monotonic() + self.queue_full_wait_s
        while True:
            try:
                self._producer.produce(self.settings.topic(stream), raw, key=_key(event))
                break
            except BufferError:  # the local queue is full: serve deliveries to make room
                if time.monotonic() > deadline:
                    raise PublishError(
                        f"Kafka's local queue stayed full for {self.queue_full_wait_s:.0f} s"
                    ) from None
                self._producer.poll(0.1)
        self._producer.poll(0)

    def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until Kafka has every event sent; raises PublishError for those it has not
        (counted since the last flush)."""
        left = self._producer.flush(timeout_s)
        with self._lock:
            failed, why = self._failed, sorted(self._why)
            self._failed, self._why = 0, set()
        if left or failed:
            reasons = "; ".join(why[:3]) or "no answer from the brokers"
            raise PublishError(f"{left + failed} event(s) not delivered ({reasons})")

    def close(self, timeout_s: float = 10.0) -> None:
        """Send what is queued (bounded wait)."""
        self.flush(timeout_s)

    def _delivered(self, error: KafkaError | None, _: Message) -> None:
        if error is not None:
            with self._lock:
                self._failed += 1
                if len(self._why) < 10:
                    self._why.add(error.str())


def _key(event: Stamped) -> bytes | None:
    if isinstance(event, ProductUpdate):
        return event.partition_key().encode()
    if isinstance(event, Event):
        key = event.input_key()
        return key.encode() if key else None
    return None
