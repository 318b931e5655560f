"""Dormant people's records in Redis (`operators.dormant`): what outlives their sessions, kept
while they are out of the flow's memory.

One string per person, `{prefix}dormant:{person}` (the person's key under a key secret, as for
the summary), with a long TTL: someone who never returns is forgotten in the end. Writes are
synchronous on the flow's thread, and rare: when a person leaves memory after days idle. Reads
come at the first event of someone the flow does not hold (new or returning), one `MGET` for a
whole batch of them (`load_many`, through `operators.dormant.PrefetchingStore`). An erasure
deletes the record (and the mirror deletes it again with the person's other keys, in case Redis
was away).

While Redis is unreachable nobody leaves memory (`save` says no) and a returning person cannot
be brought back: they start anew, which the `errors` counter and a log line say.
"""

from __future__ import annotations

import logging

import redis

from insession import keys
from insession.connectors.breaker import Breaker
from insession.connectors.redis_client import REDIS_ERRORS, RedisClient

log = logging.getLogger(__name__)

DORMANT_TTL_S = 400 * 24 * 3600
"""How long a record waits for its person: over a year, so a yearly shopper comes back known."""


class RedisDormantStore:
    """`operators.dormant.DormantStore` on Redis (a server or a cluster)."""

    def __init__(
        self,
        client: RedisClient,
        prefix: str,
        *,
        key_secret: str = "",
        ttl_s: int = DORMANT_TTL_S,
        breaker: Breaker | None = None,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.key_secret = key_secret
        self.ttl_s = ttl_s
        self.breaker = breaker or Breaker(pause_s=5.0)
        self.errors = 0

    def key(self, person: str) -> str:
        return keys.dormant_key(person, self.key_secret, self.prefix)

    def save(self, person: str, record: bytes) -> bool:
        if not self.breaker.allow():
            return False
        try:
            self.client.set(self.key(person), record, ex=self.ttl_s)
        except REDIS_ERRORS as error:
            self._failed("kept in memory", error)
            return False
        return True

    def load(self, person: str) -> bytes | None:
        if not self.breaker.allow():
            self.errors += 1
            return None
        try:
            record = self.client.get(self.key(person))
        except REDIS_ERRORS as error:
            self._failed("a returning person starts anew", error)
            return None
        return record  # type: ignore[no-any-return]

    def load_many(self, persons: list[str]) -> list[bytes | None] | None:
        """Many records in one round trip (`operators.dormant.PrefetchingStore`); None when
        Redis cannot say now."""
        if not self.breaker.allow():
            return None
        names = [self.key(person) for person in persons]
        try:
            if isinstance(self.client, redis.Redis):
                return self.client.mget(names)  # type: ignore[no-any-return]
            # A cluster: the records hash to many slots, so one MGET per node.
            return self.client.mget_nonatomic(names)  # type: ignore[no-any-return]
        except REDIS_ERRORS as error:
            self._failed("each person is read alone", error)
            return None

    def delete(self, person: str) -> bool:
        try:
            self.client.delete(self.key(person))
        except REDIS_ERRORS as error:
            self._failed("the mirror deletes it when Redis is back", error)
            return False
        return True

    def _failed(self, consequence: str, error: Exception) -> None:
        self.breaker.failed()
        self.errors += 1
        if self.errors == 1 or self.errors % 1000 == 0:
            log.warning("dormant store unavailable (%s): %s", error, consequence)
