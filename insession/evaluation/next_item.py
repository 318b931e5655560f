"""Next-click prediction on real sessions: the item knowledge beside popularity, scored as
session-rec scores its baselines (HR@20, MRR@20, coverage, popularity bias).

For each test session and each position p (0-based, in time order) the recommender, having
seen clicks 0..p, lists 20 items for click p+1: a hit if it is in the list, reciprocal rank
otherwise 0. Test clicks on items the training never saw are dropped first, then sessions
left with fewer than two clicks. Frozen: learn from the training only (the published
baselines' protocol); otherwise each test session is also learned once it has ended, that
is, before the first test session that starts after its last click.
"""

from __future__ import annotations

import heapq
import time
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field, replace
from typing import IO, Protocol, TextIO

import numpy as np
import orjson

from insession.evaluation.clicks import Click, in_time_order, scored_sessions, sessions_of
from insession.models.items import ItemKnowledge, Strategy
from insession.models.off_policy import Estimate, ratio_of_means

CUTOFF = 20

ANCHORS = {
    "VSKNN (session-rec)": (0.648, 0.360),
    "SR (session-rec)": (0.565, 0.324),
    "POP (session-rec)": (0.090, 0.018),
}
"""HR@20 and MRR@20 on yoochoose-100k (train_tr -> train_valid, 12,455 predictions), measured
with session-rec's own code and example parameters (VSKNN k=500, sample 5000, quadratic,
div, IDF 5; SR 20 steps, quadratic, pruning 20)."""


class Recommender(Protocol):
    """What the protocol runs: learn from clicks, recommend for a partial session."""

    name: str

    def learn(self, clicks: Sequence[Click]) -> None: ...

    def recommend(self, views: Sequence[Hashable], n: int) -> list[Hashable]: ...


class KnowledgeRecommender:
    """`ItemKnowledge` with one strategy (default: the blend)."""

    def __init__(self, strategy: Strategy = "blended", knowledge: ItemKnowledge | None = None):
        self.name = f"item knowledge ({strategy})"
        self.strategy = strategy
        self.knowledge = knowledge or ItemKnowledge()

    def learn(self, clicks: Sequence[Click]) -> None:
        observe = self.knowledge.observe
        for click in clicks:
            observe(click.session, click.item, click.time_ms, click.kind)

    def recommend(self, views: Sequence[Hashable], n: int) -> list[Hashable]:
        return [r.item for r in self.knowledge.recommend(views, n, strategy=self.strategy)]


class Popularity:
    """The most viewed items, whatever the session (session-rec's POP)."""

    name = "popularity"

    def __init__(self) -> None:
        self.views: Counter[Hashable] = Counter()
        self._top: list[Hashable] | None = None

    def learn(self, clicks: Sequence[Click]) -> None:
        self.views.update(c.item for c in clicks if c.kind == "view")
        self._top = None

    def recommend(self, views: Sequence[Hashable], n: int) -> list[Hashable]:
        if self._top is None or len(self._top) < n:
            self._top = [item for item, _ in self.views.most_common(n)]
        return self._top[:n]


@dataclass(slots=True)
class _Tally:
    """Per test session: predictions, hits and reciprocal ranks; and what was recommended."""

    predictions: list[int] = field(default_factory=list)
    hits: list[int] = field(default_factory=list)
    ranks: list[float] = field(default_factory=list)
    recommended: set[Hashable] = field(default_factory=set)
    popularity: float = 0.0
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Scorecard:
    """One recommender's scores: HR and MRR at the cut-off with 95% intervals (over
    sessions), item coverage, popularity bias and the time per recommendation."""

    name: str
    sessions: int
    hit_rate: Estimate
    mrr: Estimate
    coverage: float
    """Share of the training's items that appear in some list."""
    popularity_bias: float
    """Mean over lists of the mean popularity (views / the most viewed item's) of its items."""
    micros: float
    """Mean wall time of one recommendation, in µs."""


@dataclass(frozen=True, slots=True)
class NextItemReport:
    """What was evaluated (training size, scored sessions, predictions) and each scorecard."""

    frozen: bool
    train_clicks: int
    train_items: int
    scored_sessions: int
    predictions: int
    scorecards: tuple[Scorecard, ...]


def evaluate_next_item(
    train: Sequence[Click],
    test: Sequence[Click],
    *,
    frozen: bool,
    recommenders: Sequence[Recommender] | None = None,
    out: IO[bytes] | None = None,
    cutoff: int = CUTOFF,
    bootstrap: int = 0,
    seed: int = 0,
) -> NextItemReport:
    """Run the protocol; the first recommender's lists go to `out` as JSON lines.

    Default recommenders: the item knowledge's blend, then popularity. Training clicks are
    learned as a stream, in time order.
    """
    if recommenders is None:
        recommenders = [KnowledgeRecommender(), Popularity()]
    stream = in_time_order(train)
    for recommender in recommenders:
        recommender.learn(stream)
    views = Counter(c.item for c in train if c.kind == "view")
    known = set(views) | {c.item for c in train}
    top_views = max(views.values(), default=1)
    scored = scored_sessions(test, known)
    tallies = [_Tally() for _ in recommenders]
    ended: list[tuple[int, int, list[Click]]] = []  # (last click, order, session): to learn
    for order, (session_id, clicks) in enumerate(sessions_of(test).items()):
        if not frozen:
            start = clicks[0].time_ms
            while ended and ended[0][0] < start:
                finished = heapq.heappop(ended)[2]
                for recommender in recommenders:
                    recommender.learn(finished)
            heapq.heappush(ended, (clicks[-1].time_ms, order, clicks))
        session_views = scored.get(session_id)
        if session_views is None:
            continue
        items = [c.item for c in session_views]
        for index, (recommender, tally) in enumerate(zip(recommenders, tallies, strict=True)):
            _score_session(
                recommender,
                tally,
                session_id,
                items,
                cutoff,
                views,
                top_views,
                out if index == 0 else None,
            )
    cards = tuple(
        _scorecard(r.name, t, len(known), bootstrap, seed)
        for r, t in zip(recommenders, tallies, strict=True)
    )
    return NextItemReport(
        frozen=frozen,
        train_clicks=len(train),
        train_items=len(known),
        scored_sessions=len(scored),
        predictions=sum(len(v) - 1 for v in scored.values()),
        scorecards=cards,
    )


def _score_session(
    recommender: Recommender,
    tally: _Tally,
    session_id: Hashable,
    items: list[Hashable],
    cutoff: int,
    views: Counter[Hashable],
    top_views: int,
    out: IO[bytes] | None,
) -> None:
    hits = 0
    ranks = 0.0
    for position in range(len(items) - 1):
        started = time.perf_counter()
        listed = recommender.recommend(items[: position + 1], cutoff)
        tally.seconds += time.perf_counter() - started
        if out is not None:
            line = {"session_id": session_id, "position": position, "items": listed}
            out.write(orjson.dumps(line) + b"\n")
        target = items[position + 1]
        if target in listed:
            hits += 1
            ranks += 1.0 / (listed.index(target) + 1)
        tally.recommended.update(listed)
        if listed:
            tally.popularity += sum(views[i] for i in listed) / (len(listed) * top_views)
    tally.predictions.append(len(items) - 1)
    tally.hits.append(hits)
    tally.ranks.append(ranks)


def _scorecard(name: str, tally: _Tally, items: int, bootstrap: int, seed: int) -> Scorecard:
    counts = np.array(tally.predictions, dtype=float)
    total = int(counts.sum())
    return Scorecard(
        name=name,
        sessions=len(counts),
        hit_rate=per_session_rate(np.array(tally.hits, dtype=float), counts, bootstrap, seed),
        mrr=per_session_rate(np.array(tally.ranks), counts, bootstrap, seed),
        coverage=len(tally.recommended) / max(items, 1),
        popularity_bias=tally.popularity / max(total, 1),
        micros=1e6 * tally.seconds / max(total, 1),
    )


def per_session_rate(sums: np.ndarray, counts: np.ndarray, bootstrap: int, seed: int) -> Estimate:
    """Σ sums / Σ counts over sessions, with a 95% interval that treats sessions (not single
    predictions, which are not independent within a session) as the sampled units: the
    delta-method normal interval, or with `bootstrap` > 0 the percentile bootstrap.
    `n` counts the predictions.

    >>> hits, predictions = np.array([1.0, 0.0, 2.0, 1.0]), np.array([2.0, 1.0, 2.0, 3.0])
    >>> e = per_session_rate(hits, predictions, bootstrap=0, seed=0)
    >>> round(e.value, 3), round(e.low, 3), round(e.high, 3), e.n
    (0.5, 0.154, 0.846, 8)
    """
    n = int(counts.sum())
    if len(counts) < 2:
        value = float(sums.sum() / n) if n else 0.0
        return Estimate(value, value, value, n)
    return replace(ratio_of_means(sums, counts, bootstrap=bootstrap, seed=seed), n=n)


def print_next_item(report: NextItemReport, out: TextIO, *, anchors: bool = False) -> None:
    """A Markdown table of the scorecards (and, with `anchors`, session-rec's figures)."""
    mode = "frozen (training only)" if report.frozen else "learning from ended test sessions"
    print(
        f"next-item: {report.train_clicks:,} training clicks on {report.train_items:,} items; "
        f"{report.scored_sessions:,} test sessions, {report.predictions:,} predictions; {mode}",
        file=out,
    )
    print(
        f"\n| recommender | HR@{CUTOFF} [95%] | MRR@{CUTOFF} [95%] | coverage | "
        "popularity | µs/list |",
        file=out,
    )
    print("|---|---|---|---|---|---|", file=out)
    for card in report.scorecards:
        print(
            f"| {card.name} | {_cell(card.hit_rate)} | {_cell(card.mrr)} | "
            f"{card.coverage:.3f} | {card.popularity_bias:.3f} | {card.micros:,.0f} |",
            file=out,
        )
    if anchors:
        figures = "; ".join(f"{name} {hr:.3f} / {mrr:.3f}" for name, (hr, mrr) in ANCHORS.items())
        print(
            f"\nsession-rec's HR@{CUTOFF} / MRR@{CUTOFF} on yoochoose-100k (train_tr -> "
            f"train_valid, 12,455 predictions, frozen): {figures}",
            file=out,
        )


def _cell(e: Estimate) -> str:
    return f"{e.value:.4f} [{e.low:.4f}, {e.high:.4f}]"
