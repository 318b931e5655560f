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

RECENT_EVENT_IDS = 32
"""Event ids remembered per person. A producer's retry or a consumer's re-read follows its
original within a handful of that person's events; 32 covers that many times over, and holds
about 4 KB per person at most (32-character ids)."""


class RecentIds:
    """The last `limit` distinct event ids of one person, oldest first.

    One insertion-ordered dict serves as both the queue and the set: O(1) to look up, to add and
    to forget the oldest, and half the memory of a deque beside a set.
    """

    __slots__ = ("_ids", "_limit")

    def __init__(self, limit: int = RECENT_EVENT_IDS) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self._ids: dict[str, None] = {}
        self._limit = limit

    def first_time(self, event_id: str) -> bool:
        """Remember `event_id`; False when it is among the remembered ones (a duplicate)."""
        ids = self._ids
        if event_id in ids:
            return False
        if len(ids) >= self._limit:
            del ids[next(iter(ids))]
        ids[event_id] = None
        return True

    def __len__(self) -> int:
        return len(self._ids)
