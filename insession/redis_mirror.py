"""Mirroring per-customer state to Redis for storefronts, in pipelined batches.

Key layout (all under a configurable prefix, default `insession:`):

* `{prefix}summary:{person}`: JSON customer summary (`operators.summary`), TTL `summary_ttl_s`.
* `{prefix}offers:{person}`: list of the latest offers as JSON, newest first, at most
  `max_offers` kept, TTL the offer lifetime.

`person` is the customer id, or `anon:{anonymous_id}` for a shopper not yet identified.
An erasure deletes both keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
import redis

from schemas.codec import encode
from schemas.events import Offer


@dataclass(frozen=True, slots=True)
class MirrorUpdate:
    """One change for the mirror: a new summary, a new offer, or an erasure."""

    person: str
    summary: dict[str, Any] | None = None
    offer: Offer | None = None
    erase: bool = False


@dataclass(frozen=True, slots=True)
class MirrorLayout:
    """Key names and lifetimes."""

    prefix: str = "insession:"
    summary_ttl_s: int = 7 * 24 * 3600
    offers_ttl_s: int = 1800
    max_offers: int = 5

    def summary_key(self, person: str) -> str:
        return f"{self.prefix}summary:{person}"

    def offers_key(self, person: str) -> str:
        return f"{self.prefix}offers:{person}"


class RedisMirror:
    """Writes batches of updates in one pipelined round trip."""

    def __init__(self, client: redis.Redis, layout: MirrorLayout | None = None) -> None:
        self.client = client
        self.layout = layout or MirrorLayout()

    def write(self, updates: Iterable[MirrorUpdate]) -> int:
        """Apply the updates in order; return how many commands were sent."""
        layout = self.layout
        pipe = self.client.pipeline(transaction=False)
        latest_summary: dict[str, dict[str, Any]] = {}
        for update in updates:
            if update.erase:
                latest_summary.pop(update.person, None)
                pipe.delete(layout.summary_key(update.person), layout.offers_key(update.person))
                continue
            if update.summary is not None:
                # Only the last summary of a person in a batch matters: one SET, not many.
                latest_summary[update.person] = update.summary
            if update.offer is not None:
                key = layout.offers_key(update.person)
                pipe.lpush(key, encode(update.offer))
                pipe.ltrim(key, 0, layout.max_offers - 1)
                pipe.expire(key, layout.offers_ttl_s)
        for person, summary in latest_summary.items():
            pipe.set(layout.summary_key(person), orjson.dumps(summary), ex=layout.summary_ttl_s)
        sent = len(pipe)
        if sent:
            pipe.execute()
        return sent
