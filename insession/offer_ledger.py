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
reserved content. While Redis is unreachable the sink sends what it has (at-least-once,
counted in `errors`). With `durable`, each batch waits for the broker's acknowledgement, so a
Bytewax snapshot never covers input whose offers are still in the producer's buffer.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import redis
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from confluent_kafka import Producer

from insession.breaker import Breaker
from insession.connectors import deliver, producer_config
from schemas.codec import encode
from schemas.events import Offer


@dataclass(slots=True)
class LedgerCounters:
    """How many offers were new, resent with their first content, or sent unchecked."""

    new: int = 0
    resent: int = 0
    errors: int = 0


class OfferLedger:
    """First content per offer id, in Redis, for as long as an offer can be re-decided."""

    def __init__(
        self, client: redis.Redis, prefix: str, ttl_s: int, breaker: Breaker | None = None
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.breaker = breaker or Breaker(pause_s=5.0)
        self.counters = LedgerCounters()

    def key(self, offer_id: str) -> str:
        return f"{self.prefix}offer:{offer_id}"

    def settle(self, offers: list[Offer]) -> list[bytes]:
        """The bytes to send for each offer: its own if its id is new, else the first sent."""
        encoded = [encode(offer) for offer in offers]
        if not self.breaker.allow():
            self.counters.errors += len(offers)
            return encoded
        pipe = self.client.pipeline(transaction=False)
        for offer, raw in zip(offers, encoded, strict=True):
            pipe.set(self.key(offer.offer_id), raw, nx=True, get=True, ex=self.ttl_s)
        try:
            earlier = pipe.execute()
        except redis.RedisError as error:
            self.breaker.failed()
            self.counters.errors += len(offers)
            if self.counters.errors == len(offers) or self.counters.errors % 1000 < len(offers):
                print(f"insession: offer ledger unavailable ({error})", file=sys.stderr)
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


class _LedgerPartition(StatelessSinkPartition[Offer]):
    def __init__(
        self, producer: Producer, topic: str, ledger: OfferLedger, durable: bool
    ) -> None:
        self.producer = producer
        self.topic = topic
        self.ledger = ledger
        self.durable = durable

    def write_batch(self, items: list[Offer]) -> None:
        for offer, raw in zip(items, self.ledger.settle(items), strict=True):
            key = offer.partition_key()
            self.producer.produce(self.topic, raw, key=key.encode() if key else None)
        deliver(self.producer, self.durable)

    def close(self) -> None:
        self.producer.flush()
        self.ledger.client.close()


class LedgerOffersSink(DynamicSink[Offer]):
    """Offers to Kafka keyed by customer or device, each id with one content only."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        ledger: Callable[[], OfferLedger],
        *,
        durable: bool = False,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.config = producer_config(bootstrap_servers, on_error)
        self.topic = topic
        self.ledger = ledger
        self.durable = durable

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _LedgerPartition:
        return _LedgerPartition(Producer(self.config), self.topic, self.ledger(), self.durable)
