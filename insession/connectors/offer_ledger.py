"""The offers sink that never sends one offer id with two contents.

After a crash, Bytewax resumes from its last snapshot and decides again on the events that
followed it. The offer ids come out the same (they hash the person, session, action and
trigger), but the content need not: the model may have learned in between, changing the
logged probability or model version. Storefronts dedupe on the offer id, so a second content
under a known id must never reach them.

The ledger is a Redis key per offer id holding the first content sent, written with
`SET NX GET` before producing: a new id stores its content and sends it; a known id sends the
stored content again (a duplicate with the same bytes, which storefronts drop). Reserving
before producing means a crash between the two loses nothing: the resumed flow sends the
reserved content. Each person also has an index of their offer ids
(`{prefix}ledger:{{person}}`, a sorted set scored by expiry, pruned as it is written), so that an
erasure deletes the person's entries with it (`insession.redis_mirror`) rather than leaving
offers naming them for the ledger's lifetime. While Redis is unreachable the sink sends what it
has (at-least-once, counted in `errors`). With `durable`, each batch waits for the broker's
acknowledgement, so a Bytewax snapshot never covers input whose offers are still in the
producer's buffer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from bytewax.outputs import DynamicSink, StatelessSinkPartition

from insession import keys
from insession.connectors.breaker import Breaker
from insession.connectors.kafka_producer import TopicProducer, TopicTarget
from insession.connectors.redis_client import REDIS_ERRORS, RedisClient
from insession.schemas.codec import encode
from insession.schemas.events import Event, Offer, OfferWithdrawal

log = logging.getLogger(__name__)


@dataclass(slots=True)
class LedgerCounters:
    """How many offers were new, resent with their first content, or sent unchecked."""

    new: int = 0
    resent: int = 0
    errors: int = 0


class OfferLedger:
    """First content per offer id, in Redis, for as long as an offer can be re-decided."""

    def __init__(
        self,
        client: RedisClient,
        prefix: str,
        ttl_s: int,
        breaker: Breaker | None = None,
        *,
        key_secret: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.breaker = breaker or Breaker(pause_s=5.0)
        self.key_secret = key_secret
        self.clock = clock
        self.counters = LedgerCounters()

    def key(self, offer: Offer) -> str:
        return keys.offer_key(keys.person_of(offer), offer.offer_id, self.key_secret, self.prefix)

    def index_key(self, person: str) -> str:
        """The person's index of offer ids (what an erasure deletes their entries by)."""
        return keys.ledger_key(person, self.key_secret, self.prefix)

    def message_key(self, item: Event) -> str | None:
        """The offers topic's message key of an offer (or withdrawal): `insession.keys`."""
        return keys.message_key(item, self.key_secret)

    def settle(self, offers: list[Offer]) -> list[bytes]:
        """The bytes to send for each offer: its own if its id is new, else the first sent."""
        encoded = [encode(offer) for offer in offers]
        if not self.breaker.allow():
            self.counters.errors += len(offers)
            return encoded
        pipe = self.client.pipeline(transaction=False)
        for offer, raw in zip(offers, encoded, strict=True):
            pipe.set(self.key(offer), raw, nx=True, get=True, ex=self.ttl_s)
        now_s = self.clock()
        by_person: dict[str, dict[str, float]] = {}
        for offer in offers:
            by_person.setdefault(keys.person_of(offer), {})[offer.offer_id] = now_s + self.ttl_s
        for person, expiries in by_person.items():
            index = self.index_key(person)
            pipe.zadd(index, expiries)
            pipe.zremrangebyscore(index, "-inf", now_s)
            pipe.expire(index, self.ttl_s)
        try:
            earlier = pipe.execute()[: len(offers)]
        except REDIS_ERRORS as error:
            self.breaker.failed()
            self.counters.errors += len(offers)
            if self.counters.errors == len(offers) or self.counters.errors % 1000 < len(offers):
                log.warning("offer ledger unavailable (%s)", error)
            return encoded
        settled = []
        for raw, first in zip(encoded, earlier, strict=True):
            if first is None:
                self.counters.new += 1
                settled.append(raw)
            else:
                self.counters.resent += 1
                settled.append(first)
        return settled


class _LedgerPartition(StatelessSinkPartition[Offer | OfferWithdrawal]):
    def __init__(self, producer: TopicProducer, ledger: OfferLedger, durable: bool) -> None:
        self.producer = producer
        self.ledger = ledger
        self.durable = durable

    def write_batch(self, items: list[Offer | OfferWithdrawal]) -> None:
        settled = iter(self.ledger.settle([i for i in items if isinstance(i, Offer)]))
        for item in items:
            # A withdrawal's content follows from the offer and its cause: nothing to settle.
            raw = next(settled) if isinstance(item, Offer) else encode(item)
            self.producer.send(raw, self.ledger.message_key(item))
        self.producer.deliver(self.durable)

    def close(self) -> None:
        self.producer.close()
        self.ledger.client.close()


class LedgerOffersSink(DynamicSink[Offer | OfferWithdrawal]):
    """Offers (and their withdrawals) to Kafka keyed by customer or device, each offer id with
    one content only."""

    def __init__(self, target: TopicTarget, ledger: Callable[[], OfferLedger]) -> None:
        self.target = target
        self.ledger = ledger

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _LedgerPartition:
        return _LedgerPartition(self.target.producer(), self.ledger(), self.target.durable)
