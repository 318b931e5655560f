"""Dropping redelivered events: a bounded window of each person's recent event ids.

Producers retry and Kafka delivers at least once, so one event (one `event_id`) can arrive
several times; counted each time, it would inflate the session (views, cart quantities) and
trigger decisions twice. Redeliveries come close behind their original, within a few of the
person's own events, so remembering each person's last `RECENT_EVENT_IDS` ids is enough, at a
cost bounded per person whatever they send.

>>> seen = RecentIds(limit=2)
>>> [seen.first_time(i) for i in ("e1", "e2", "e1", "e3", "e1")]
[True, True, False, True, True]
"""

from __future__ import annotations

from array import array
from hashlib import blake2b

RECENT_EVENT_IDS = 32
"""Event ids remembered per person. A producer's retry or a consumer's re-read follows its
original within a handful of that person's events; 32 covers that many times over."""


def id_digest(event_id: str) -> int:
    """A 64-bit digest of an event id, the same in every process (snapshots move between
    processes; Python's own `hash` of a string differs in each)."""
    return int.from_bytes(blake2b(event_id.encode(), digest_size=8).digest(), "little")


class RecentIds:
    """The last `limit` distinct event ids of one person, as 64-bit digests.

    An array of digests (8 bytes each, a ring once full) instead of the ids themselves: a
    person's window was about 600 bytes of id strings and their dict, and is now under 200. Two
    ids of one person's last 32 that share a digest (odds of about 1 in 10^17) would make the
    second look like a redelivery.
    """

    __slots__ = ("_ids", "_limit", "_next")

    def __init__(self, limit: int = RECENT_EVENT_IDS) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self._ids = array("Q")
        self._limit = limit
        self._next = 0
        """Where the next digest goes once the window is full (the oldest one)."""

    def first_time(self, event_id: str) -> bool:
        """Remember `event_id`; False when it is among the remembered ones (a duplicate)."""
        digest = id_digest(event_id)
        ids = self._ids
        if digest in ids:
            return False
        if len(ids) < self._limit:
            ids.append(digest)
        else:
            ids[self._next] = digest
            self._next = (self._next + 1) % self._limit
        return True

    def __len__(self) -> int:
        return len(self._ids)

    def __setstate__(self, state: tuple[None, dict[str, object]]) -> None:
        """Restore a snapshot, also one taken before digests (a dict of ids, oldest first)."""
        _, slots = state
        ids = slots["_ids"]
        if isinstance(ids, dict):
            self._ids = array("Q", map(id_digest, ids))
            self._limit = int(slots["_limit"])  # type: ignore[call-overload]
            self._next = 0  # the oldest came first
            return
        for name, value in slots.items():
            object.__setattr__(self, name, value)
