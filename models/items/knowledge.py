"""`ItemKnowledge`: what items go together, learned from every event, bounded, answering fast."""

from __future__ import annotations

import contextlib
import math
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal, NamedTuple

from insession.models.items import snapshot, strategies
from insession.models.items.parameters import Bounds, Scoring
from insession.models.items.state import (
    ItemId,
    ItemState,
    SessionId,
    SessionState,
    TrendingTop,
    add_to_row,
    take_from_row,
)

Kind = Literal["view", "cart", "purchase"]
KINDS: tuple[Kind, ...] = ("view", "cart", "purchase")
Strategy = Literal[
    "blended", "viewed_together", "clicked_next", "bought_together", "recently_viewed", "trending"
]
STRATEGIES: tuple[Strategy, ...] = (
    "blended",
    "viewed_together",
    "clicked_next",
    "bought_together",
    "recently_viewed",
    "trending",
)


class Observation(NamedTuple):
    """One thing the knowledge learns: a view, cart addition or purchase of `item_id` in a
    session, or (`kind` "forget", no item) that session's erasure. What the flow hands the
    knowledge, and what processes share with each other (`insession.connectors.item_log`)."""

    session_id: str
    item_id: str
    time_ms: int
    kind: str
    event_id: str = ""
    """The event it came from: a process that replays events after a restart skips those
    it already learned (see `docs/recommendations.md`)."""


FORGET = "forget"
"""`Observation.kind` of a session's erasure."""


class Recommendation(NamedTuple):
    """One recommended item, its score, and why: the strategy and the session item behind it."""

    item: ItemId
    score: float
    strategy: str
    seed: ItemId | None


class Sizes(NamedTuple):
    """How much the knowledge holds, in total and in its largest row (see `Bounds`)."""

    items: int
    sessions: int
    index_entries: int
    next_entries: int
    partner_entries: int
    trending: int
    largest_index: int
    largest_next: int
    largest_partners: int
    largest_session: int


class ItemKnowledge:
    """What is viewed together, clicked next, bought together and trending, learned online.

    `observe` takes every event (a view, a cart addition or a purchase of an item in a
    session); `recommend` answers a top-N for the items of a session from one of the
    strategies or their blend, each recommendation naming its strategy and seed item.
    Everything kept is bounded (`Bounds`); `forget_session` removes a session and what it
    taught (erasure).

    >>> knowledge = ItemKnowledge()
    >>> trips = [["tent", "mat", "stove"], ["tent", "mat"], ["tent", "mat", "lamp"], ["boots"]]
    >>> for session, items in enumerate(trips):
    ...     for second, item in enumerate(items):
    ...         knowledge.observe(session, item, time_ms=1_000 * second, kind="view")
    >>> knowledge.observe(1, "mat", time_ms=5_000, kind="purchase")
    >>> knowledge.observe(1, "tent", time_ms=6_000, kind="purchase")
    >>> for r in knowledge.recommend(["tent"], n=2, exclude=["tent"]):
    ...     print(r.item, round(r.score, 3), r.strategy, r.seed)
    mat 1.067 viewed_together tent
    lamp 0.561 viewed_together tent
    >>> after_tent = knowledge.recommend(["tent"], strategy="clicked_next")
    >>> [(r.item, round(r.score, 3)) for r in after_tent]
    [('mat', 1.0), ('stove', 0.083), ('lamp', 0.083)]
    >>> [(r.item, r.seed) for r in knowledge.recommend(["mat"], strategy="bought_together")]
    [('tent', 'mat')]
    >>> knowledge.forget_session(1), knowledge.recommend(["mat"], strategy="bought_together")
    (True, [])
    """

    def __init__(self, bounds: Bounds | None = None, scoring: Scoring | None = None) -> None:
        self.bounds = bounds or Bounds()
        self.scoring = scoring or Scoring()
        self._items: OrderedDict[ItemId, ItemState] = OrderedDict()  # least recently seen first
        self._sessions: OrderedDict[SessionId, SessionState] = OrderedDict()
        self._trending = TrendingTop(self.scoring.trending_half_life_ms, self.bounds.trending_kept)
        self._session_count = 0  # sessions learned from (the N of the IDF), less forgotten ones
        self.ignored_events = 0
        """Events past a session's `events_per_session`, not learned from."""
        self._rule_weights = [1.0 / (i * i) for i in range(1, self.scoring.rule_steps + 1)]
        decay = [
            math.exp(-d / self.scoring.neighbour_distance)
            for d in range(self.bounds.events_per_session + 1)
        ]
        # Row p: the decay of each position seen from position p (shared floats, no abs()
        # in the scoring loop); events_per_session² references, 320 kB at the default 200.
        self._decay_from = [
            [decay[abs(q - p)] for q in range(len(decay))] for p in range(len(decay))
        ]

    # -- learning -----------------------------------------------------------------------

    def observe(self, session_id: SessionId, item_id: ItemId, time_ms: int, kind: Kind) -> None:
        """Learn from one event: `item_id` was viewed, added to the cart or bought.

        O(rule_steps + partners) dict updates; a new session or item may push the least
        recently active one out (`Bounds.max_sessions`, `Bounds.max_items`).
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        session = self._sessions.get(session_id)
        if session is None:
            session = self._sessions[session_id] = SessionState(session_id, time_ms)
            self._session_count += 1
            if len(self._sessions) > self.bounds.max_sessions:
                self._unindex(self._sessions.popitem(last=False)[1])
        else:
            self._sessions.move_to_end(session_id)
            if session.events >= self.bounds.events_per_session:
                self.ignored_events += 1
                return
            session.last_ms = max(session.last_ms, time_ms)
        session.events += 1
        item = self._items.get(item_id)
        if item is None:
            item = self._items[item_id] = ItemState(item_id)
            if len(self._items) > self.bounds.max_items:
                self._drop_item(self._items.popitem(last=False)[1])
        else:
            self._items.move_to_end(item_id)

        trending = self._trending
        if trending.needs_rescale(time_ms):
            self._rescale(time_ms)
        weight = trending.weight(time_ms)
        item.trend += weight
        trending.raised(item)

        position = session.items.get(item)
        if position is None:
            session.items[item] = len(session.given)
            session.given.append(weight)
            item.seen += 1
            item.log_seen = math.log(item.seen)
            index = item.sessions
            index.append(session)
            if len(index) > 2 * self.bounds.sessions_per_item:
                del index[: -self.bounds.sessions_per_item]
        else:
            session.given[position] += weight

        if kind == "view":
            self._learn_view(session, item)
        elif kind == "purchase":
            self._learn_purchase(session, item)

    def _learn_view(self, session: SessionState, item: ItemState) -> None:
        views = session.views
        keep = self.bounds.next_per_item
        for weight, before in zip(self._rule_weights, reversed(views), strict=False):
            if before.alive:
                if before.next is None:
                    before.next = {}
                add_to_row(before.next, item, weight, keep)
        views.append(item)

    def _learn_purchase(self, session: SessionState, item: ItemState) -> None:
        if session.bought is None:
            session.bought = []
        if item in session.bought:
            return  # bought again: no new pair
        keep = self.bounds.partners_per_item
        for other in session.bought:
            if other.alive:
                if other.bought is None:
                    other.bought = {}
                if item.bought is None:
                    item.bought = {}
                add_to_row(other.bought, item, 1.0, keep)
                add_to_row(item.bought, other, 1.0, keep)
        session.bought.append(item)

    def learn(self, observations: Iterable[Observation]) -> None:
        """`observe` each observation in order, and `forget_session` those that say so."""
        for seen in observations:
            if seen.kind == FORGET:
                self.forget_session(seen.session_id)
            else:
                self.observe(seen.session_id, seen.item_id, seen.time_ms, seen.kind)  # type: ignore[arg-type]

    # -- forgetting -----------------------------------------------------------------------

    def forget_session(self, session_id: SessionId) -> bool:
        """Remove a session: its neighbour index entries and, as far as they are still kept,
        its views, rules, co-purchases and trending weight. False if it is not kept (never
        seen, or pushed out by `max_sessions`: then only anonymous counts remain of it)."""
        session = self._sessions.pop(session_id, None)
        if session is None:
            return False
        self._unindex(session, forgotten=True)
        return True

    def _unindex(self, session: SessionState, *, forgotten: bool = False) -> None:
        """Take a session out of its items' neighbour index (and, when it is forgotten rather
        than pushed out, take back what it taught), then let go of its contents."""
        for item in session.items:
            # ValueError: already trimmed from that item's most recent sessions.
            with contextlib.suppress(ValueError):
                item.sessions.remove(session)
        if forgotten:
            self._take_back(session)
        session.items.clear()
        session.views.clear()
        session.given.clear()
        session.bought = None

    def _take_back(self, session: SessionState) -> None:
        self._session_count -= 1
        unseen = []
        for item, position in session.items.items():
            item.trend -= session.given[position]
            if item.trend <= 1e-12:  # nothing left of it to trend (but rounding)
                item.trend = 0.0
                self._trending.top.discard(item)
            item.seen -= 1
            item.log_seen = math.log(item.seen) if item.seen > 0 else 0.0
            if item.seen <= 0 and item.alive:
                unseen.append(item)
        views = session.views
        steps = self.scoring.rule_steps
        for at, item in enumerate(views):
            for distance in range(1, min(steps, at) + 1):
                take_from_row(views[at - distance].next, item, self._rule_weights[distance - 1])
        bought = session.bought or []
        for i, item in enumerate(bought):
            for other in bought[:i]:
                take_from_row(other.bought, item, 1.0)
                take_from_row(item.bought, other, 1.0)
        for item in unseen:  # only this session had it: as if it had never been seen
            del self._items[item.id]
            self._drop_item(item)

    def _drop_item(self, item: ItemState) -> None:
        """Forget a cold item: rows and sessions elsewhere that name it skip it from now on."""
        item.alive = False
        item.sessions = []
        item.next = None
        item.bought = None
        self._trending.top.discard(item)

    def _rescale(self, time_ms: int) -> None:
        """Move the trending origin to `time_ms`, scaling every weight by the same factor."""
        trending = self._trending
        assert trending.origin_ms is not None
        halvings = (time_ms - trending.origin_ms) // trending.half_life_ms
        factor = 2.0**-halvings
        trending.origin_ms += halvings * trending.half_life_ms
        trending.floor *= factor
        for item in self._items.values():
            item.trend *= factor
        for session in self._sessions.values():
            session.given = [g * factor for g in session.given]

    # -- answering ------------------------------------------------------------------------

    def recommend(
        self,
        session_items: Sequence[ItemId],
        n: int = 20,
        *,
        exclude: Iterable[ItemId] = (),
        strategy: Strategy = "blended",
        session_id: SessionId | None = None,
    ) -> list[Recommendation]:
        """The top `n` items for a session whose items so far are `session_items` (oldest
        first), best first, none of `exclude`.

        `blended` (the default) sums `viewed_together`, `clicked_next`, `bought_together` and
        `recently_viewed`, each divided by its maximum and weighted (`Scoring.blend_*`), names
        each item's strongest part as its strategy, and fills up with `trending` (score 0).
        `session_id` keeps the session itself out of its neighbours when it is being observed.
        Unknown items in `session_items` are ignored. Without personalisation consent, pass
        only the product in view: the answer then reads nothing of the shopper's history.
        """
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, not {strategy!r}")
        if n < 1:
            return []
        known = self._items
        session = [state for i in session_items if (state := known.get(i)) is not None]
        excluded = {state for i in exclude if (state := known.get(i)) is not None}
        if strategy == "trending":
            best = self._trending.best(n + len(excluded))
            top = best[0].trend if best else 1.0
            picked = [item for item in best if item not in excluded][:n]
            return [Recommendation(i.id, i.trend / top, "trending", None) for i in picked]
        if strategy != "blended":
            found = self._strategy(strategy, session, session_id)
            top = max(found.scores.values(), default=1.0) or 1.0
            best = self._best(found.scores, n, excluded)
            found.find_seeds(best)
            return [
                _recommendation(item, found.scores[item] / top, strategy, found.seed_of(item))
                for item in best
            ]
        parts = [
            (name, weight, self._strategy(name, session, session_id))
            for name, weight in self._blend_weights()
        ]
        total, unit, scaled = strategies.blend(parts)
        best = self._best(total, n, excluded)
        why = strategies.strongest_parts(best, scaled)
        chosen = [
            _recommendation(item, total[item] * unit, name, seed)
            for item, (name, seed) in zip(best, why, strict=True)
        ]
        if len(chosen) < n:
            taken = excluded.union(best)
            fill = [i for i in self._trending.best(n + len(taken)) if i not in taken]
            chosen += [Recommendation(i.id, 0.0, "trending", None) for i in fill[: n - len(chosen)]]
        return chosen

    def _blend_weights(self) -> list[tuple[Strategy, float]]:
        s = self.scoring
        return [
            ("viewed_together", s.blend_viewed_together),
            ("clicked_next", s.blend_clicked_next),
            ("bought_together", s.blend_bought_together),
            ("recently_viewed", s.blend_recently_viewed),
        ]

    def _strategy(
        self, name: Strategy, session: list[ItemState], session_id: SessionId | None
    ) -> strategies.Candidates:
        if name == "viewed_together":
            own = self._sessions.get(session_id) if session_id is not None else None
            return strategies.viewed_together(
                session,
                own,
                self.scoring,
                self.bounds.sessions_per_item,
                self._decay_from,
                math.log(max(self._session_count, 1)),
            )
        if name == "clicked_next":
            return strategies.clicked_next(session)
        if name == "bought_together":
            return strategies.bought_together(session, self.scoring.session_decay)
        return strategies.recently_viewed(session, self.scoring.session_decay)

    @staticmethod
    def _best(scores: dict[ItemState, float], n: int, excluded: set[ItemState]) -> list[ItemState]:
        """The `n` items of `scores` with the highest scores, best first, none excluded."""
        # A sort in C beats heapq's Python loop at the few hundred candidates a session has.
        ranked = sorted(scores, key=scores.__getitem__, reverse=True)[: n + len(excluded)]
        return [item for item in ranked if item not in excluded and item.alive][:n]

    # -- pickling -------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        """Flat tables (`snapshot`): pickling the objects themselves would recurse along
        item -> session -> item references (RecursionError on a real catalogue)."""
        return {
            "bounds": self.bounds,
            "scoring": self.scoring,
            "session_count": self._session_count,
            "ignored_events": self.ignored_events,
            "tables": snapshot.flatten(self._items, self._sessions, self._trending),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["bounds"], state["scoring"])  # type: ignore[misc]
        self._session_count = state["session_count"]
        self.ignored_events = state["ignored_events"]
        self._items, self._sessions = snapshot.restore(state["tables"], self._trending)

    # -- looking inside -------------------------------------------------------------------

    def knows(self, item_id: ItemId) -> bool:
        return item_id in self._items

    def recent_sessions(self, item_id: ItemId) -> Iterator[SessionId]:
        """The ids of the item's most recent sessions (its neighbour index), newest first;
        lazily, as callers mostly stop early."""
        item = self._items.get(item_id)
        if item is None:
            return iter(())
        return (session.id for session in reversed(item.sessions))

    def sessions_with(self, item_id: ItemId) -> int:
        """Sessions learned from that had the item (0: unknown): how much its neighbours
        may have changed since a list was computed for it."""
        item = self._items.get(item_id)
        return item.seen if item is not None else 0

    def sizes(self) -> Sizes:
        """Counts of what is held, to check the bounds (O(items + sessions))."""
        items = self._items.values()
        index = [len(i.sessions) for i in items]
        following = [len(i.next) for i in items if i.next]
        partners = [len(i.bought) for i in items if i.bought]
        return Sizes(
            items=len(self._items),
            sessions=len(self._sessions),
            index_entries=sum(index),
            next_entries=sum(following),
            partner_entries=sum(partners),
            trending=len(self._trending.top),
            largest_index=max(index, default=0),
            largest_next=max(following, default=0),
            largest_partners=max(partners, default=0),
            largest_session=max((s.events for s in self._sessions.values()), default=0),
        )


def _recommendation(
    item: ItemState, score: float, strategy: str, seed: ItemState | None
) -> Recommendation:
    return Recommendation(item.id, score, strategy, None if seed is None else seed.id)
