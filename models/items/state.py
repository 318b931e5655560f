"""What the item knowledge keeps per item and per session, and the bounded rows between items.

Items and sessions refer to each other directly (an item lists its recent sessions, a session
its items), so that scoring follows references instead of looking ids up. An item that is
forgotten is marked dead and emptied; rows elsewhere that still name it skip it and drop it
at their next trim.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable
from operator import attrgetter, itemgetter

ItemId = Hashable
SessionId = Hashable

_BY_WEIGHT = itemgetter(1)
_TREND = attrgetter("trend")


class ItemState:
    """One item: its recent sessions, what is clicked after it and bought with it, its counts."""

    __slots__ = ("alive", "bought", "id", "log_seen", "next", "seen", "sessions", "trend")

    def __init__(self, item_id: ItemId) -> None:
        self.id = item_id
        self.alive = True
        self.sessions: list[SessionState] = []  # oldest first; trimmed to the bound lazily
        self.next: dict[ItemState, float] | None = None  # created at the first rule
        self.bought: dict[ItemState, float] | None = None  # created at the first co-purchase
        self.seen = 0  # sessions that had it (the document frequency of the IDF)
        self.log_seen = 0.0  # log(seen), kept for the IDF
        self.trend = 0.0  # trending weight, in the scale of `TrendingTop`

    def __repr__(self) -> str:
        return f"ItemState({self.id!r}, seen={self.seen})"


class SessionState:
    """One session's events as the strategies need them, at most `events_per_session`."""

    __slots__ = ("bought", "events", "given", "id", "items", "last_ms", "views")

    def __init__(self, session_id: SessionId, time_ms: int) -> None:
        self.id = session_id
        self.last_ms = time_ms
        self.events = 0
        self.views: list[ItemState] = []  # every view in order (clicked-next learns from it)
        self.items: dict[ItemState, int] = {}  # distinct items -> position of the first event
        self.given: list[float] = []  # trending weight given to each distinct item, by position
        self.bought: list[ItemState] | None = None  # distinct items purchased

    def __repr__(self) -> str:
        return f"SessionState({self.id!r}, items={len(self.items)})"


def add_to_row(row: dict[ItemState, float], item: ItemState, weight: float, keep: int) -> None:
    """Add `weight` to `item` in a row of an item's neighbours, keeping it bounded.

    A row may grow to twice `keep` before it is cut back to its `keep` strongest live
    entries, so that a trim (O(keep log keep)) comes at most once every `keep` additions.
    """
    row[item] = row.get(item, 0.0) + weight
    if len(row) > 2 * keep:
        strongest = heapq.nlargest(keep, (e for e in row.items() if e[0].alive), key=_BY_WEIGHT)
        row.clear()
        row.update(strongest)


def take_from_row(row: dict[ItemState, float] | None, item: ItemState, weight: float) -> None:
    """Take back what `add_to_row` added (a forgotten session); an entry left at ~0 goes."""
    if row is None:
        return
    left = row.get(item)
    if left is None:
        return  # trimmed away already: nothing of it is left to take back
    if left - weight <= 1e-9:
        del row[item]
    else:
        row[item] = left - weight


class TrendingTop:
    """Time-decayed popularity with an exact top list.

    An event at time t adds 2^((t - t0) / half_life) instead of decaying every weight: stored
    weights only grow, so the items with the largest weights are known exactly by keeping the
    `kept` largest as they grow, and comparing two weights compares the decayed popularities.
    When the exponent gets large the knowledge rescales every weight and moves t0 forward.
    """

    __slots__ = ("floor", "half_life_ms", "kept", "origin_ms", "top")

    RESCALE_AFTER = 64.0
    """Half-lives past the origin before weights are rescaled (2^64 is far from overflow)."""

    def __init__(self, half_life_ms: int, kept: int) -> None:
        self.half_life_ms = half_life_ms
        self.kept = kept
        self.origin_ms: int | None = None
        self.top: set[ItemState] = set()
        self.floor = 0.0  # the smallest weight in `top` once full (a lower bound after forgets)

    def weight(self, time_ms: int) -> float:
        """The weight of one event at `time_ms`."""
        if self.origin_ms is None:
            self.origin_ms = time_ms
        return 2.0 ** ((time_ms - self.origin_ms) / self.half_life_ms)

    def needs_rescale(self, time_ms: int) -> bool:
        return (
            self.origin_ms is not None
            and (time_ms - self.origin_ms) / self.half_life_ms > self.RESCALE_AFTER
        )

    def raised(self, item: ItemState) -> None:
        """`item`'s weight grew: it may enter the top list, pushing its smallest out."""
        top = self.top
        if item in top:
            return
        if len(top) < self.kept:
            top.add(item)
            if len(top) == self.kept:
                self.floor = min(i.trend for i in top)
            return
        if item.trend <= self.floor:
            return
        smallest = min(top, key=_TREND)
        if item.trend > smallest.trend:
            top.remove(smallest)
            top.add(item)
        self.floor = min(i.trend for i in top)

    def best(self, n: int) -> list[ItemState]:
        """The `n` items with the largest weight, largest first."""
        return sorted(self.top, key=_TREND, reverse=True)[:n]
