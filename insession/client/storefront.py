"""`Storefront`: what a storefront's backend holds to talk to the engine (one per process)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from insession.client.feed import OfferFeed, Start
from insession.client.publisher import EventPublisher
from insession.client.reader import Shelf, StateReader
from insession.schemas.events import Offer, OfferFeedback, Stamped
from insession.settings import Settings

E = TypeVar("E", bound=Stamped)


class Storefront:
    """Send events and feedback, follow offers, read shelves and summaries.

    `send` fills in what every event carries (a fresh `event_id`, `event_time` now, the
    channel) so that a page handler names only what happened.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        channel: str = "web",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.channel = channel
        self.clock = clock
        self.publisher = EventPublisher(settings)
        self._reader: StateReader | None = None
        self._reader_lock = threading.Lock()

    def send(self, contract: type[E], **fields: Any) -> E:
        """Build an event of `contract` from `fields` and publish it; returns it."""
        fields.setdefault("event_id", uuid.uuid4().hex)
        fields.setdefault("event_time", int(self.clock() * 1000))
        fields.setdefault("channel", self.channel)
        event = contract(**fields)
        self.publisher.publish(event)
        return event

    def publish(self, event: Stamped) -> None:
        """Publish an event built elsewhere (its id and time are the caller's)."""
        self.publisher.publish(event)

    def feedback(self, offer: Offer, outcome: str, value: float | None = None) -> OfferFeedback:
        """Say what the shopper did with `offer` (`shown`, `clicked`, `accepted`,
        `dismissed`); `value` is the revenue of an accepted offer."""
        if offer.customer_id is None:
            raise ValueError(
                "offer feedback needs the customer (the engine learns from known customers); "
                f"offer {offer.offer_id} went to a device"
            )
        return self.send(
            OfferFeedback,
            customer_id=offer.customer_id,
            anonymous_id=offer.anonymous_id,
            session_id=offer.session_id,
            channel=offer.channel,
            offer_id=offer.offer_id,
            outcome=outcome,
            value=value,
        )

    def offers(
        self,
        *,
        customer_id: str | None = None,
        anonymous_id: str | None = None,
        session_id: str | None = None,
        start: Start = "latest",
    ) -> OfferFeed:
        """A feed of one shopper's offers (or one session's, or everyone's); close it after."""
        return OfferFeed(
            self.settings,
            customer_id=customer_id,
            anonymous_id=anonymous_id,
            session_id=session_id,
            start=start,
            clock=self.clock,
        )

    @property
    def state(self) -> StateReader:
        """The engine's Redis keys for storefronts (connected on first use)."""
        with self._reader_lock:
            if self._reader is None:
                self._reader = StateReader(self.settings)
            return self._reader

    def shelf(
        self, *, customer_id: str | None = None, anonymous_id: str | None = None
    ) -> Shelf | None:
        """The shopper's "for you" shelf (`StateReader.shelf`)."""
        return self.state.shelf(customer_id=customer_id, anonymous_id=anonymous_id)

    def summary(
        self, *, customer_id: str | None = None, anonymous_id: str | None = None
    ) -> dict[str, Any] | None:
        """The shopper's summary (`StateReader.summary`)."""
        return self.state.summary(customer_id=customer_id, anonymous_id=anonymous_id)

    def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until Kafka has every event sent (`EventPublisher.flush`)."""
        self.publisher.flush(timeout_s)

    def close(self) -> None:
        """Send what is queued and let go of Redis (both, whatever the first does)."""
        try:
            self.publisher.close()
        finally:
            if self._reader is not None:
                self._reader.close()

    def __enter__(self) -> Storefront:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
