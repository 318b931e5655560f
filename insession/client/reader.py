"""What the engine keeps in Redis for storefronts: a shopper's "for you" shelf, summary and
latest offers, read with the engine's own key names (hashed with the key secret if set)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from insession.connectors.redis_client import RedisClient, connect
from insession.connectors.redis_mirror import MirrorLayout
from insession.keys import shopper
from insession.schemas.codec import decode
from insession.schemas.events import Offer
from insession.settings import Settings


@dataclass(frozen=True, slots=True)
class ShelfItem:
    """One recommended product, with the strategy that found it and the product it came from."""

    item: str
    score: float
    strategy: str
    seed: str | None


@dataclass(frozen=True, slots=True)
class Shelf:
    """A shopper's "for you" shelf, best first; `updated_at` is the event time it was made at."""

    items: tuple[ShelfItem, ...]
    updated_at: int


class StateReader:
    """Reads a shopper's keys from the engine's Redis (server or cluster)."""

    def __init__(self, settings: Settings, client: RedisClient | None = None) -> None:
        self.layout = MirrorLayout(prefix=settings.redis_prefix, key_secret=settings.key_secret)
        self.redis = client if client is not None else connect(settings.redis_url)

    def shelf(
        self, *, customer_id: str | None = None, anonymous_id: str | None = None
    ) -> Shelf | None:
        """The shopper's shelf, or None before their first product view (or after erasure)."""
        raw = self.redis.get(self.layout.recs_key(shopper(customer_id, anonymous_id)))
        if raw is None:
            return None
        stored = orjson.loads(raw)
        items = tuple(
            ShelfItem(i["item"], float(i["score"]), i["strategy"], i.get("seed"))
            for i in stored["items"]
        )
        return Shelf(items, int(stored["updated_at"]))

    def summary(
        self, *, customer_id: str | None = None, anonymous_id: str | None = None
    ) -> dict[str, Any] | None:
        """The shopper's summary (consent, session, cart, recent products, offers and
        outcomes: `operators.summary`), or None."""
        raw = self.redis.get(self.layout.summary_key(shopper(customer_id, anonymous_id)))
        return None if raw is None else orjson.loads(raw)

    def latest_offers(
        self, *, customer_id: str | None = None, anonymous_id: str | None = None
    ) -> list[Offer]:
        """The shopper's latest offers as the mirror keeps them (newest first, withdrawn ones
        taken out); for a page that loads before its feed has seen anything."""
        key = self.layout.offers_key(shopper(customer_id, anonymous_id))
        offers = (decode(raw) for raw in self.redis.lrange(key, 0, -1))
        return [offer for offer in offers if isinstance(offer, Offer)]

    def close(self) -> None:
        self.redis.close()
