"""Mirroring per-customer state to Redis for storefronts, in pipelined batches.

Key layout (all under a configurable prefix, default `insession:`):

* `{prefix}summary:{person}`: JSON customer summary (`operators.summary`), TTL `summary_ttl_s`.
* `{prefix}offers:{person}`: list of the latest offers as JSON, newest first, at most
  `max_offers` kept, TTL the offer lifetime; a withdrawn offer is taken out of it.
* `{prefix}dormant:{person}`: an idle person's record while they are out of memory, written
  and read by `insession.connectors.dormant_store`; deleted here too at an erasure.
* `{prefix}recs:{person}`: the "for you" shelf as JSON, `{"items": [{"item", "score",
  "strategy", "seed"}, ...], "updated_at": ms}`, best first, written after each product view,
  cart change and purchase; TTL `summary_ttl_s`.

`person` is the customer id, or `anon:{anonymous_id}` for a shopper not yet identified;
with a key secret, key names hold `insession.keys.person_key(person, secret)` instead. An
erasure deletes all four keys, and the person's offer-ledger entries with their index
(`{prefix}ledger:{{person}}`, `insession.offer_ledger`). While Redis is unreachable, updates
wait in a coalesced backlog (`RedisMirror`) and are written when it answers again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from insession import keys
from insession.connectors.breaker import Breaker
from insession.connectors.redis_client import REDIS_ERRORS, RETRY_LATER, RedisClient, flow_client
from insession.connectors.writer import LINGER_S, BackgroundWriter
from insession.operators.customer_step import Outcome
from insession.operators.identity import is_anonymous
from insession.schemas.codec import encode
from insession.schemas.events import Offer

MirrorObserver = Callable[[int, bool, int], None]
"""(commands sent, whether Redis took the batch, people waiting): for the metrics."""


@dataclass(frozen=True, slots=True)
class MirrorUpdate:
    """One change for the mirror: a new summary, a new offer, withdrawn offers, or an erasure."""

    person: str
    summary: dict[str, Any] | None = None
    offer: Offer | None = None
    erase: bool = False
    withdrawn: tuple[str, ...] = ()
    """Ids of offers to take out of the person's offers list."""
    shelf: bytes | None = None
    """The person's new shelf, as the JSON to store."""


@dataclass(frozen=True, slots=True)
class MirrorLayout:
    """Key names and lifetimes."""

    prefix: str = "insession:"
    summary_ttl_s: int = 7 * 24 * 3600
    offers_ttl_s: int = 1800
    max_offers: int = 5
    key_secret: str = ""
    """Hash people in key names (`insession.keys.person_key`); empty: raw ids."""

    def summary_key(self, person: str) -> str:
        return keys.summary_key(person, self.key_secret, self.prefix)

    def offers_key(self, person: str) -> str:
        return keys.offers_key(person, self.key_secret, self.prefix)

    def recs_key(self, person: str) -> str:
        return keys.recs_key(person, self.key_secret, self.prefix)

    def ledger_key(self, person: str) -> str:
        return keys.ledger_key(person, self.key_secret, self.prefix)

    def dormant_key(self, person: str) -> str:
        return keys.dormant_key(person, self.key_secret, self.prefix)


@dataclass(slots=True)
class _Pending:
    """What one person's keys still need, coalesced: applying it equals applying the updates
    one by one (an erasure first, then the newest offers, then the withdrawals, then the
    latest summary)."""

    erase: bool = False
    offers: list[bytes] = field(default_factory=list)
    summary: dict[str, Any] | None = None
    withdrawn: list[str] = field(default_factory=list)
    shelf: bytes | None = None


def _combine(older: _Pending | None, newer: _Pending) -> _Pending:
    """`older` then `newer`, as one pending change (newer wins; an erasure wipes older)."""
    if older is None or newer.erase:
        return newer
    withdrawn = older.withdrawn
    if withdrawn and newer.offers:  # an offer listed again after its withdrawal stays listed
        again = {orjson.loads(raw)["offer_id"] for raw in newer.offers}
        withdrawn = [offer_id for offer_id in withdrawn if offer_id not in again]
    return _Pending(
        erase=older.erase,
        offers=older.offers + newer.offers,
        summary=newer.summary if newer.summary is not None else older.summary,
        withdrawn=withdrawn + [w for w in newer.withdrawn if w not in withdrawn],
        shelf=newer.shelf if newer.shelf is not None else older.shelf,
    )


_WITHDRAW = """
for _, raw in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local ok, offer = pcall(cjson.decode, raw)
  if ok and type(offer) == 'table' then
    for i = 1, #ARGV do
      if offer.offer_id == ARGV[i] then
        redis.call('LREM', KEYS[1], 0, raw)
        break
      end
    end
  end
end
return 0
"""
"""Takes the offers with the given ids (ARGV) out of an offers list (KEYS[1]), on the server in
one step. By id, not by bytes: the list may hold an offer as first sent (after a resume)."""


_ERASE_LEDGER = """
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, id in ipairs(ids) do
  redis.call('DEL', ARGV[1] .. id)
end
redis.call('DEL', KEYS[1])
return #ids
"""
"""Deletes a person's offer-ledger entries (ids in the index KEYS[1], keys ARGV[1] .. id) and
the index, on the server in one step. The entries share the index's slot (`keys.slot_tag`), as
a cluster requires of the keys one script touches."""


@dataclass(slots=True)
class MirrorCounters:
    """For the metrics: round trips, commands, failures, and what waits for Redis."""

    batches: int = 0
    commands: int = 0
    errors: int = 0
    refused: int = 0
    last_error: str = ""


class RedisMirror:
    """Writes batches of updates in one pipelined round trip; rides out Redis outages.

    Updates are merged into a per-person backlog first, which is sent and cleared when Redis
    takes it. While Redis is down the backlog keeps only what the keys must end up holding
    (a person's latest summary and newest offers), so it is bounded by the people active
    during the outage, and the mirror converges once Redis is back. After a failure, sends
    wait `retry_after_s` before trying again, so nothing stalls on a dead server.

    `write` sends at once (replays, tests); `start` moves sending to a background thread
    that `submit` wakes, so a live flow never waits on Redis, even one that hangs.
    """

    def __init__(
        self,
        client: RedisClient,
        layout: MirrorLayout | None = None,
        *,
        retry_after_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        observe: MirrorObserver | None = None,
    ) -> None:
        self.client = client
        self.layout = layout or MirrorLayout()
        self.breaker = Breaker(retry_after_s, clock)
        self.observe = observe
        self.backlog: dict[str, _Pending] = {}
        self.counters = MirrorCounters()
        self._lock = threading.Lock()
        self._writer: BackgroundWriter | None = None

    @property
    def pending(self) -> int:
        """People whose keys wait for Redis."""
        return len(self.backlog)

    def write(self, updates: Iterable[MirrorUpdate]) -> int:
        """Merge the updates into the backlog and send it; commands sent (0 if not now)."""
        self.submit(updates)
        return self.flush()

    def submit(self, updates: Iterable[MirrorUpdate]) -> None:
        """Merge the updates into the backlog; the background writer (if started) sends it."""
        with self._lock:
            self._merge(self.backlog, updates)
        if self._writer is not None:
            self._writer.wake()

    def flush(self) -> int:
        """Send the backlog in one round trip unless Redis failed under `retry_after_s` ago."""
        if not self.backlog or not self.breaker.allow():
            return 0
        with self._lock:
            taken, self.backlog = self.backlog, {}
        try:
            pipe = self.client.pipeline(transaction=False)
            for person, pending in taken.items():
                self._queue(pipe, person, pending)
            sent = len(pipe)
            results = pipe.execute(raise_on_error=False)
            # A node down or a slot moving: the whole batch is kept and sent again.
            later = next((r for r in results if isinstance(r, RETRY_LATER)), None)
            if later is not None:
                raise later
        except REDIS_ERRORS as error:
            self.breaker.failed()
            with self._lock:
                for person, newer in self.backlog.items():
                    taken[person] = _combine(taken.get(person), newer)
                self.backlog = taken
            self.counters.errors += 1
            self.counters.last_error = str(error)
            self._observe(0, False)
            return 0
        # A command Redis refuses (e.g. a key of another type) would be refused again: it is
        # counted and dropped, not retried, so one bad key cannot hold up the mirror.
        refused = [r for r in results if isinstance(r, redis.ResponseError)]
        if refused:
            self.counters.refused += len(refused)
            self.counters.last_error = str(refused[0])
        self.counters.batches += 1
        self.counters.commands += sent
        self._observe(sent, not refused)
        return sent

    def start(self, interval_s: float = 0.05, linger_s: float = LINGER_S) -> None:
        """Send from a daemon thread: `linger_s` after it is woken, and every `interval_s` to
        retry."""
        self._writer = BackgroundWriter(
            self.flush, "redis-mirror", self._failed, interval_s=interval_s, linger_s=linger_s
        )
        self._writer.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the writer and make a last attempt to send what waits."""
        if self._writer is not None:
            self._writer.stop(timeout_s)
        self.flush()

    def _failed(self, error: Exception) -> None:
        self.counters.errors += 1
        self.counters.last_error = f"{type(error).__name__}: {error}"

    def _observe(self, sent: int, ok: bool) -> None:
        if self.observe is not None:
            self.observe(sent, ok, len(self.backlog))

    def _merge(self, backlog: dict[str, _Pending], updates: Iterable[MirrorUpdate]) -> None:
        keep = self.layout.max_offers
        for update in updates:
            pending = backlog.get(update.person)
            if pending is None:
                pending = backlog[update.person] = _Pending()
            if update.erase:
                pending.erase, pending.offers, pending.summary = True, [], None
                pending.withdrawn, pending.shelf = [], None
                continue
            if update.shelf is not None:
                pending.shelf = update.shelf
            if update.offer is not None:
                pending.offers.append(encode(update.offer))
                del pending.offers[:-keep]
                if update.offer.offer_id in pending.withdrawn:
                    pending.withdrawn.remove(update.offer.offer_id)
            for offer_id in update.withdrawn:
                if offer_id not in pending.withdrawn:
                    pending.withdrawn.append(offer_id)
            if update.summary is not None:
                pending.summary = update.summary

    def _queue(self, pipe: Any, person: str, pending: _Pending) -> None:
        layout = self.layout
        summary_key, offers_key = layout.summary_key(person), layout.offers_key(person)
        recs_key = layout.recs_key(person)
        if pending.erase:
            # One key per command: a cluster refuses a DEL of keys in different slots.
            for key in (summary_key, offers_key, recs_key, layout.dormant_key(person)):
                pipe.delete(key)
            # A customer's erasure takes their ledger entries too. A device forgotten at its
            # link keeps its entries: they name no customer, and guard a resume's resends.
            if not is_anonymous(person):
                entries = keys.offer_prefix(person, layout.key_secret, layout.prefix)
                pipe.execute_command("EVAL", _ERASE_LEDGER, 1, layout.ledger_key(person), entries)
        if pending.offers:
            # LREM first: a batch resent after a timeout that Redis had in fact applied, or
            # an offer re-emitted after a crash, is not listed twice.
            for raw in pending.offers:
                pipe.lrem(offers_key, 0, raw)
            pipe.lpush(offers_key, *pending.offers)
            pipe.ltrim(offers_key, 0, layout.max_offers - 1)
            pipe.expire(offers_key, layout.offers_ttl_s)
        if pending.withdrawn:
            pipe.execute_command("EVAL", _WITHDRAW, 1, offers_key, *pending.withdrawn)
        if pending.summary is not None:
            pipe.set(summary_key, orjson.dumps(pending.summary), ex=layout.summary_ttl_s)
        if pending.shelf is not None:
            pipe.set(recs_key, pending.shelf, ex=layout.summary_ttl_s)


def shelf_json(outcome: Outcome) -> bytes:
    """The `recs:<person>` value of an outcome's shelf."""
    items = [
        {"item": r.item, "score": round(r.score, 6), "strategy": r.strategy, "seed": r.seed}
        for r in outcome.shelf or ()
    ]
    return orjson.dumps({"items": items, "updated_at": outcome.event_time})


class _MirrorPartition(StatelessSinkPartition[Outcome]):
    def __init__(self, mirror: RedisMirror, summarise: Callable[[Outcome], dict[str, Any]]) -> None:
        self.mirror = mirror
        self.summarise = summarise
        mirror.start()

    def write_batch(self, items: list[Outcome]) -> None:
        # Summaries are built once per person per batch, from the latest state; sending
        # happens on the mirror's own thread, so the flow never waits on Redis.
        last = {item.person: i for i, item in enumerate(items) if item.state is not None}
        self.mirror.submit(
            MirrorUpdate(
                item.person,
                summary=self.summarise(item) if last.get(item.person) == i else None,
                offer=item.offer,
                erase=item.erased,
                withdrawn=tuple(w.offer_id for w in item.withdrawals) if item.withdrawals else (),
                shelf=shelf_json(item) if item.shelf is not None else None,
            )
            for i, item in enumerate(items)
        )

    def close(self) -> None:
        self.mirror.stop()
        self.mirror.client.close()


class RedisMirrorSink(DynamicSink[Outcome]):
    """Mirrors outcomes to Redis: one pipelined round trip per batch of the flow."""

    def __init__(
        self,
        url: str,
        layout: MirrorLayout,
        summarise: Callable[[Outcome], dict[str, Any]],
        observe: MirrorObserver | None = None,
    ) -> None:
        self.url = url
        self.layout = layout
        self.summarise = summarise
        self.observe = observe

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _MirrorPartition:
        mirror = RedisMirror(flow_client(self.url), self.layout, observe=self.observe)
        return _MirrorPartition(mirror, self.summarise)
