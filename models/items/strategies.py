"""The strategies: each scores candidate items for a session from what the knowledge keeps.

Every strategy returns `Candidates`: a score per item and the session item (the seed) that
brought each one in, so that a recommendation can say why (`seed:<product>`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter

from insession.models.items.parameters import Scoring
from insession.models.items.state import ItemState, SessionState

_LAST_MS = attrgetter("last_ms")


@dataclass(slots=True)
class Candidates:
    """Scores of candidate items, and how to find each one's seed: a seed per item, one for
    all, or the neighbour sessions (with the seed each was found by) in order of strength."""

    scores: dict[ItemState, float] = field(default_factory=dict)
    seeds: dict[ItemState, ItemState] = field(default_factory=dict)
    seed: ItemState | None = None
    neighbours: list[tuple[SessionState, ItemState]] = field(default_factory=list)

    def seed_of(self, item: ItemState) -> ItemState | None:
        """Looked up only for what is recommended, so that scoring need not track seeds."""
        if item in self.seeds:
            return self.seeds[item]
        for neighbour, seed in self.neighbours:
            if item in neighbour.items:
                return seed
        return self.seed

    def find_seeds(self, items: Iterable[ItemState]) -> None:
        """Look up the neighbours' seeds of all of `items` at once (`seed_of` then reads
        them): one set intersection per neighbour instead of a scan of them per item."""
        if not self.neighbours:
            return
        seeds = self.seeds
        missing = {item for item in items if item not in seeds}
        for neighbour, seed in self.neighbours:
            if not missing:
                return
            found = neighbour.items.keys() & missing
            if found:
                seeds.update(dict.fromkeys(found, seed))
                missing -= found


def viewed_together(
    session: Sequence[ItemState],
    own: SessionState | None,
    scoring: Scoring,
    per_item: int,
    decay_from: Sequence[Sequence[float]],
    log_sessions: float,
) -> Candidates:
    """Session-kNN (VSKNN): items of the past sessions most similar to this one.

    Candidate neighbours are the most recent sessions of each of this session's items; of
    those, the `sample_size` most recently active are scored by the summed weight of the
    items they share with this session (linear or quadratic in the item's position, the
    latest counting 1, divided by the number of distinct items). The `neighbours` most
    similar each give their items similarity / step, where step counts back to the most
    recent session item they share (the seed), times exp(-distance / `neighbour_distance`)
    from the seed's position in the neighbour; then IDF: × (1 + idf_weight · log(sessions /
    sessions with the item)). An item's seed is the seed of its strongest neighbour.
    """
    length = len(session)
    found = Candidates()
    if not length:
        return found
    distinct = len(set(session))
    quadratic = scoring.position_weighting == "quadratic"
    # Of one item's sessions only the most recent `sample_size` can be among the most recent
    # `sample_size` candidates, so no more are read.
    take = min(per_item, scoring.sample_size)
    similarity: dict[SessionState, float] = {}
    found_by: dict[SessionState, tuple[int, ItemState]] = {}
    seen: set[ItemState] = set()
    for back in range(length):
        item = session[length - 1 - back]
        if item in seen:
            continue
        if len(seen) == scoring.query_items:
            break
        seen.add(item)
        share = (length - back) / length
        weight = (share * share if quadratic else share) / distinct
        recent = item.sessions[: -take - 1 : -1]  # the most recent first
        # Dict operations keep the per-session work in C (and the order deterministic):
        # only sessions met again loop here.
        for neighbour in similarity.keys() & recent:
            similarity[neighbour] += weight
        merged = dict.fromkeys(recent, weight)
        merged.update(similarity)
        similarity = merged
        first_found = dict.fromkeys(recent, (back + 1, item))
        first_found.update(found_by)
        found_by = first_found
    if own is not None:
        similarity.pop(own, None)
    pool: list[SessionState] | dict[SessionState, float] = similarity
    if len(similarity) > scoring.sample_size:
        pool = sorted(similarity, key=_LAST_MS, reverse=True)[: scoring.sample_size]
    nearest = sorted(pool, key=similarity.__getitem__, reverse=True)[: scoring.neighbours]
    strongest = sorted(
        ((similarity[n] / found_by[n][0], n) for n in nearest), key=_first, reverse=True
    )
    scores = found.scores
    get = scores.get
    for base, neighbour in strongest:
        seed = found_by[neighbour][1]
        found.neighbours.append((neighbour, seed))
        items = neighbour.items
        decay = decay_from[items[seed]]
        for item, position in items.items():
            scores[item] = get(item, 0.0) + base * decay[position]
    weight = scoring.idf_weight
    found.scores = {
        item: score * (1.0 + weight * (log_sessions - item.log_seen))
        for item, score in scores.items()
        if item.alive
    }
    return found


def clicked_next(session: Sequence[ItemState]) -> Candidates:
    """Sequential rules (SR): what is clicked after the latest item, within `rule_steps`.

    The weights were learned as 1/i² for a click i steps later in the same session.
    """
    latest = session[-1] if session else None
    if latest is None or latest.next is None:
        return Candidates()
    return Candidates({i: w for i, w in latest.next.items() if i.alive}, seed=latest)


def bought_together(session: Sequence[ItemState], decay: float) -> Candidates:
    """Items bought in the same session as this session's items, the latest counting most.

    An item's score sums co-purchase counts times decay^k for the k-th most recent distinct
    session item it was bought with; its seed is the most recent of those.
    """
    found = Candidates()
    scores, seeds = found.scores, found.seeds
    factor = 1.0
    for item in _latest_first(session):
        if item.bought:
            for partner, count in item.bought.items():
                if not partner.alive:
                    continue
                if partner in scores:
                    scores[partner] += factor * count
                else:
                    scores[partner] = factor * count
                    seeds[partner] = item
        factor *= decay
    return found


def recently_viewed(session: Sequence[ItemState], decay: float) -> Candidates:
    """The session's own items again (shoppers come back to them): decay^k, k steps back."""
    found = Candidates()
    scores, seeds = found.scores, found.seeds
    factor = 1.0
    for item in reversed(session):
        if item.alive:
            scores[item] = scores.get(item, 0.0) + factor
            seeds[item] = item
        factor *= decay
    return found


Part = tuple[str, float, Candidates]
"""A strategy's name, a factor for its scores and its candidates."""


def blend(parts: Sequence[Part]) -> tuple[dict[ItemState, float], float, list[Part]]:
    """The weighted sum of the parts' scores, each divided by its maximum, in units of a
    factor (a blended score is the sum times it), and the parts with the factor (weight /
    maximum) each was scaled by.

    The sum starts as a copy of the first part's scores (in its own units, a copy in C), so
    only the other parts, a few dozen items each, are added item by item; the caller scales
    only what it recommends.
    """
    scaled: list[Part] = []
    for name, weight, part in parts:
        top = max(part.scores.values(), default=0.0)
        if weight > 0.0 and top > 0.0:
            scaled.append((name, weight / top, part))
    if not scaled:
        return {}, 1.0, scaled
    unit = scaled[0][1]
    total = dict(scaled[0][2].scores)
    get = total.get
    for _, factor, part in scaled[1:]:
        ratio = factor / unit
        for item, score in part.scores.items():
            total[item] = get(item, 0.0) + ratio * score
    return total, unit, scaled


def strongest_parts(
    items: Sequence[ItemState], scaled: Sequence[Part]
) -> list[tuple[str, ItemState | None]]:
    """For each of `items`, the part of a blend that gave it most (`scaled` as `blend`
    returns it) and that part's seed for it."""
    strongest = []
    for item in items:
        best, chosen = -1.0, scaled[0]
        for part in scaled:
            score = part[2].scores.get(item)
            if score is not None and part[1] * score > best:
                best, chosen = part[1] * score, part
        strongest.append(chosen)
    for part in scaled:
        part[2].find_seeds([item for item, by in zip(items, strongest, strict=True) if by is part])
    return [(by[0], by[2].seed_of(item)) for item, by in zip(items, strongest, strict=True)]


def _latest_first(session: Sequence[ItemState]) -> list[ItemState]:
    """Distinct items of the session, the most recent first."""
    return list(dict.fromkeys(reversed(session)))


def _first(pair: tuple[float, SessionState]) -> float:
    return pair[0]
