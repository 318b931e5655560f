"""Idle people leave the flow's memory; what outlives their session waits for them elsewhere.

A person idle longer than the idle window (days, in event time), whose session has ended, who
has no decision waiting for its outcome and no personalised offer that may still be showing,
is *dormant*: the customer step drops their state and keeps this record of it instead, in a
`DormantStore` (Redis for live flows, `connectors.dormant_store`). When they come back, their
first event brings the record back as their state (`revive`), and the engine goes on as if they
had never left: the record holds everything a new session reads of the old ones.

Kept: who they are (ids, consent and when it was given), sentiment, orders, spend, what they
own and the categories they bought, their session count (offer ids hash the session number),
the key the item knowledge knows their sessions by (an erasure forgets those sessions by it),
and their last shelf. Dropped: the ended session (a new event starts a new one anyway), the
event ids kept to drop redeliveries (no producer redelivers after days), and the join of
decisions (it is empty).

>>> state = CustomerState(person="c-1", customer_id="c-1", orders=2, sessions=3)
>>> back = revive(dormant_record(state))
>>> (back.person, back.orders, back.sessions, back.session)
('c-1', 2, 3, None)
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Iterable
from sys import intern
from typing import Any, Protocol

import orjson
from insession.operators.session import OWNED_PRODUCTS, CustomerState

log = logging.getLogger(__name__)

RECORD_VERSION = 1


class DormantStore(Protocol):
    """Where dormant people's records wait: `save` returns False when the record could not be
    kept (the person then stays in memory), `load` None when there is none (or the store cannot
    say now)."""

    def save(self, person: str, record: bytes) -> bool: ...

    def load(self, person: str) -> bytes | None: ...

    def delete(self, person: str) -> bool: ...


class BatchDormantStore(DormantStore, Protocol):
    """A dormant store that reads many records in one round trip (`load_many`: a record or
    None per person, or None for all when the store cannot say now)."""

    def load_many(self, persons: list[str]) -> list[bytes | None] | None: ...


PREFETCH_KEEP = 20_000
"""Prefetched records kept at most; the oldest go first (their person is read again, alone)."""


class PrefetchingStore:
    """A dormant store read a batch at a time: `prefetch` reads, in one round trip, the records
    of every person of a batch who is not in memory, and `load` then answers from them.

    A live flow meets most people for the first time (or back after days), so without this
    every first event of a person waits for its own read on the flow's thread. A prefetched
    record is never stale: every write of a person's record (their eviction, their erasure)
    goes through this object, in the process that holds the person, and drops what was
    prefetched of them. It knows who is in memory from its own calls: `load` is asked when a
    person comes into memory, `save` and `delete` when one leaves it (a person restored from a
    snapshot is not known to be in memory: their prefetched record is never asked for and
    ages out).

    >>> store = PrefetchingStore(MemoryDormantStore())
    >>> store.save("c-1", b"record")
    True
    >>> store.prefetch(["c-1", "c-2"]), store.load("c-1"), store.load("c-2")
    (2, b'record', None)
    >>> store.prefetch(["c-1", "c-2"])  # both are in memory now
    0
    """

    def __init__(self, store: BatchDormantStore, keep: int = PREFETCH_KEEP) -> None:
        self.store = store
        self.keep = keep
        self.fetched: dict[str, bytes | None] = {}
        self.resident: set[str] = set()
        self.hits = 0
        # The workers of a process share the store: a read must not land after a write of the
        # same record that began after it (the read would then be stale), so they take turns.
        self._lock = threading.Lock()

    def prefetch(self, persons: Iterable[str]) -> int:
        """Read the records of those not in memory nor read already; how many were read."""
        with self._lock:
            wanted = list(
                dict.fromkeys(
                    p for p in persons if p not in self.resident and p not in self.fetched
                )
            )
            if not wanted:
                return 0
            records = self.store.load_many(wanted)
            if records is None:
                return 0  # the store cannot say now: each load asks again, alone
            self.fetched.update(zip(wanted, records, strict=True))
            for _ in range(len(self.fetched) - self.keep):
                del self.fetched[next(iter(self.fetched))]
            return len(wanted)

    def load(self, person: str) -> bytes | None:
        with self._lock:
            self.resident.add(person)
            if person in self.fetched:
                self.hits += 1
                return self.fetched.pop(person)
        return self.store.load(person)

    def save(self, person: str, record: bytes) -> bool:
        with self._lock:
            self.fetched.pop(person, None)
            if not self.store.save(person, record):
                return False
            self.resident.discard(person)
            return True

    def delete(self, person: str) -> bool:
        with self._lock:
            self.fetched.pop(person, None)
            self.resident.discard(person)
            return self.store.delete(person)


class MemoryDormantStore:
    """Records in this process, compressed: replays, where a record (about 400 bytes so,
    900 as JSON) stands in for a state of kilobytes, and tests. A record read back is dropped:
    the person is in memory again."""

    def __init__(self) -> None:
        self.records: dict[str, bytes] = {}

    def save(self, person: str, record: bytes) -> bool:
        self.records[person] = zlib.compress(record, 1)
        return True

    def load(self, person: str) -> bytes | None:
        record = self._read(person)
        self.records.pop(person, None)
        return record

    def delete(self, person: str) -> bool:
        self.records.pop(person, None)
        return True

    def load_many(self, persons: list[str]) -> list[bytes | None]:
        """Read without dropping: a prefetched record may be asked for again, alone."""
        return [self._read(person) for person in persons]

    def _read(self, person: str) -> bytes | None:
        record = self.records.get(person)
        return zlib.decompress(record) if record is not None else None


def last_event_at(state: CustomerState) -> int | None:
    """When the person was last seen (event time), if they have had a session."""
    return state.session.last_event_at if state.session is not None else None


def eviction_due(state: CustomerState, idle_ms: int) -> int | None:
    """When the person becomes idle enough to leave memory (event time), if they can."""
    last = last_event_at(state)
    return None if last is None else last + idle_ms + 1


def evictable(state: CustomerState, now_ms: int, idle_ms: int) -> bool:
    """Idle past the window, nothing waiting for an outcome, no personalised offer live."""
    due = eviction_due(state, idle_ms)
    return (
        due is not None
        and now_ms >= due
        and (state.pending is None or not state.pending.pending)
        and all(offer.expires_at <= now_ms for offer in state.live_offers)
        and not state.shelf_due
    )


def dormant_record(state: CustomerState) -> bytes:
    """What outlives the person's sessions, as the bytes a store keeps (JSON)."""
    return orjson.dumps(
        {
            "v": RECORD_VERSION,
            "person": state.person,
            "customer_id": state.customer_id,
            "anonymous_id": state.anonymous_id,
            "consent": state.consent,
            "consent_at": state.consent_at,
            "sentiment": state.sentiment,
            "sentiment_at": state.sentiment_at,
            "orders": state.orders,
            "lifetime_value": state.lifetime_value,
            "owned": list(state.owned),
            "purchased_categories": state.purchased_categories,
            "last_purchase_at": state.last_purchase_at,
            "sessions": state.sessions,
            "item_key": state.item_key,
            "shelf": state.shelf,
            "shelf_top": list(_top_seeds(state.shelf_top)),
            "shelf_seed": state.shelf_seed,
            "last_event_at": last_event_at(state),
        }
    )


def _top_seeds(top: Iterable[Any]) -> tuple[str | None, ...]:
    """The seeds of a shelf's first items, also from whole recommendations ([item, score,
    strategy, seed]: what states and records held before)."""
    return tuple(r[3] if isinstance(r, (list, tuple)) else r for r in top)


def revived(store: DormantStore, person: str) -> CustomerState | None:
    """The person's state from their dormant record, if the store has one. An unreadable
    record is not theirs to trust: the person starts anew (and it is logged)."""
    record = store.load(person)
    if record is None:
        return None
    try:
        return revive(record)
    except ValueError as bad:
        log.warning("a dormant record was unreadable and is ignored: %s", bad)
        return None


def revive(record: bytes) -> CustomerState:
    """The state a dormant record stands for (raises ValueError on a record it cannot read)."""
    try:
        fields: dict[str, Any] = orjson.loads(record)
        if fields.get("v") != RECORD_VERSION:
            raise ValueError(f"dormant record version {fields.get('v')!r} is not {RECORD_VERSION}")
        return CustomerState(
            person=fields["person"],
            customer_id=fields["customer_id"],
            anonymous_id=fields["anonymous_id"],
            consent=fields["consent"],
            consent_at=fields["consent_at"],
            sentiment=fields["sentiment"],
            sentiment_at=fields["sentiment_at"],
            orders=fields["orders"],
            lifetime_value=fields["lifetime_value"],
            owned=[intern(p) for p in fields["owned"][-OWNED_PRODUCTS:]],
            purchased_categories={intern(c): n for c, n in fields["purchased_categories"].items()},
            last_purchase_at=fields["last_purchase_at"],
            sessions=fields["sessions"],
            item_key=fields["item_key"],
            shelf=tuple(map(intern, fields["shelf"])),
            shelf_top=_top_seeds(fields["shelf_top"]),
            shelf_seed=fields["shelf_seed"],
        )
    except (orjson.JSONDecodeError, KeyError, TypeError) as bad:
        raise ValueError(f"unreadable dormant record: {bad}") from None
