"""Following offers on the offers topic: one shopper's (customer and/or device, or one session),
or every shopper's, as a storefront's backend would."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from insession.client.live_offers import LiveOffers
from insession.connectors.kafka_admin import admin_client
from insession.keys import shopper_message_key
from insession.logs import kafka_logger
from insession.schemas.codec import decode
from insession.schemas.events import Offer, OfferWithdrawal
from insession.settings import Settings

log = logging.getLogger(__name__)

Start = Literal["latest", "earliest"] | int
"""Where a feed starts: new offers only, the topic's beginning, or an epoch-ms time (the
offers since a session began, say)."""


LEADER_SETTLING = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._TIMED_OUT,
    }
)
"""What a partition answers while its leader is being chosen (a topic just made)."""


@dataclass(frozen=True, slots=True)
class OfferUpdate:
    """A new offer to show, or an offer to stop showing (exactly one is set)."""

    offer: Offer | None = None
    withdrawal: OfferWithdrawal | None = None


class OfferFeed:
    """The offers topic, read from `start` on every partition, without a consumer group's
    commits (a storefront follows what is live; it does not resume). Offers are deduplicated by
    id, withdrawals honoured and expiry kept (`LiveOffers`).

    With `customer_id` and/or `anonymous_id`, only that shopper's: the offers topic's message
    key is the person (hashed with the key secret, as the engine writes it), so other shoppers'
    messages are skipped before they are decoded. With `session_id`, only that session's.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        customer_id: str | None = None,
        anonymous_id: str | None = None,
        session_id: str | None = None,
        start: Start = "latest",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.customer_id, self.anonymous_id = customer_id, anonymous_id
        self.session_id = session_id
        self.clock = clock
        self.live = LiveOffers()
        self._lock = threading.Lock()
        self.undecodable = 0
        self.consumer_errors = 0
        self._closed = False
        self._stopping = threading.Event()
        self._next_forget_ms = 0
        self._keys = {
            shopper_message_key(c, d, settings.key_secret).encode()
            for c, d in ((customer_id, None), (None, anonymous_id))
            if c is not None or d is not None
        }
        self.topic = settings.topic("offers")
        self._consumer = Consumer(
            {
                **settings.kafka_client(),
                "group.id": f"insession-client-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "logger": kafka_logger(),
            }
        )
        try:
            self._consumer.assign(self._starting_offsets(settings, start))
        except BaseException:
            self._consumer.close()
            raise

    def _starting_offsets(self, settings: Settings, start: Start) -> list[TopicPartition]:
        """Concrete offsets, resolved now: an offer produced right after the feed is made is
        read, however late the first fetch."""
        metadata = admin_client(settings.kafka_client()).list_topics(self.topic, timeout=30)
        described = metadata.topics.get(self.topic)
        if described is None or described.error is not None:
            raise ValueError(f"the offers topic {self.topic!r} does not exist")
        parts = [TopicPartition(self.topic, p) for p in sorted(described.partitions)]
        if isinstance(start, int):
            wanted = [TopicPartition(self.topic, p.partition, start) for p in parts]
            found = self._consumer.offsets_for_times(wanted, timeout=30)
            ends = {p.partition: self._watermarks(p)[1] for p in parts}
            return [
                TopicPartition(
                    self.topic, p.partition, p.offset if p.offset >= 0 else ends[p.partition]
                )
                for p in found
            ]
        side = 0 if start == "earliest" else 1
        return [TopicPartition(self.topic, p.partition, self._watermarks(p)[side]) for p in parts]

    def _watermarks(self, part: TopicPartition) -> tuple[int, int]:
        """The partition's first and next offsets; asked again while a new topic's leader is
        still being chosen (`NOT_LEADER_FOR_PARTITION` and other retriable errors)."""
        deadline = time.monotonic() + 30
        while True:
            try:
                low, high = self._consumer.get_watermark_offsets(part, timeout=10)
                return int(low), int(high)
            except KafkaException as failure:
                error = failure.args[0]
                settling = error.retriable() or error.code() in LEADER_SETTLING
                if not settling or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def poll(self, timeout_s: float = 1.0) -> list[OfferUpdate]:
        """What changed since the last poll: new offers (never one seen before) and
        withdrawals of offers being shown; waits up to `timeout_s` for the first message.
        Poll from one thread; `current()` may be read from any."""
        read: list[Offer | OfferWithdrawal] = []
        for message in self._consumer.consume(500, timeout_s):
            if message.error() is not None:
                self._consumer_error(message.error())
                continue
            if self._keys and message.key() not in self._keys:
                continue  # another shopper's: not even decoded
            contract = decode(message.value() or b"")
            if isinstance(contract, Offer | OfferWithdrawal):
                if self._wanted(contract):
                    read.append(contract)
            else:
                self.undecodable += 1
        now_ms = int(self.clock() * 1000)
        updates: list[OfferUpdate] = []
        with self._lock:
            for contract in read:
                if isinstance(contract, Offer):
                    if contract.expires_at > now_ms and self.live.add(contract):
                        updates.append(OfferUpdate(offer=contract))
                elif self.live.withdraw(contract):
                    updates.append(OfferUpdate(withdrawal=contract))
            if now_ms >= self._next_forget_ms:  # a scan of what is held: once a second
                self.live.forget(now_ms)
                self._next_forget_ms = now_ms + 1000
        return updates

    def _wanted(self, event: Offer | OfferWithdrawal) -> bool:
        """Whether an offer (or withdrawal) is for the shopper and session followed. Its
        message key matched already; without a key secret a customer id and a device id are
        one namespace, so the addressee is checked too."""
        if self.session_id is not None and event.session_id != self.session_id:
            return False
        if not self._keys:
            return True
        if event.customer_id is not None:
            return event.customer_id == self.customer_id
        return self.anonymous_id is not None and event.anonymous_id == self.anonymous_id

    def _consumer_error(self, error: KafkaError) -> None:
        self.consumer_errors += 1
        if self.consumer_errors == 1 or self.consumer_errors % 1000 == 0:
            log.warning("offers feed: %s (%d so far)", error.str(), self.consumer_errors)

    def wait(self, timeout_s: float = 10.0, *, at_least: int = 1) -> list[Offer]:
        """New offers, polling until `at_least` arrived or `timeout_s` passed."""
        deadline = time.monotonic() + timeout_s
        offers: list[Offer] = []
        while len(offers) < at_least and time.monotonic() < deadline:
            left = max(0.0, deadline - time.monotonic())
            offers += [u.offer for u in self.poll(min(0.5, left)) if u.offer is not None]
        return offers

    def current(self) -> list[Offer]:
        """The offers to show now (not expired, not withdrawn), newest first."""
        with self._lock:
            return self.live.current(int(self.clock() * 1000))

    def __iter__(self) -> Iterator[OfferUpdate]:
        """Updates as they come, until `stop()` (from any thread); then the feed closes."""
        while not self._stopping.is_set():
            yield from self.poll(1.0)
        self.close()

    def stop(self) -> None:
        """Ask an iterating feed to end (safe from any thread)."""
        self._stopping.set()

    def close(self) -> None:
        """Leave the topic; from the thread that polls (or when none does)."""
        if not self._closed:
            self._closed = True
            self._consumer.close()

    def __enter__(self) -> OfferFeed:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
