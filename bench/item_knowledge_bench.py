"""Microseconds per event to update the item knowledge, per top-20, and bytes per item.

Run: `.venv/bin/python bench/item_knowledge_bench.py [--sizes 10000 100000 1000000]`.

Synthetic power-law traffic over a catalogue of N items: sessions of geometric length (mean
5, at most 50 events); each event repeats the previous item (25%), takes a related one (a
nearby id, 35%) or a fresh item drawn by Zipf(1) popularity; 90% views, 7% cart additions,
3% purchases, 50 ms apart on average. Item and session ids are strings made per event, as
decoded events bring them. For each N, with the default `Bounds` (1M items, 200k sessions):

- build: `events_per_item` x N events observed under tracemalloc; the traced bytes after
  the build, per item kept, are the memory cost (ids, states, index, rules, sessions);
- update: 100,000 more events, each timed alone (tracemalloc off);
- top-20: 2,000 sessions of 1-5 events from fresh traffic, each `recommend`ed alone per
  strategy (the session is not observed: a query, as a page view would make it);
- baseline: `blended` and `viewed_together` again with the scoring of `BASELINE` (the
  defaults before `query_items`, sample 500, 100 neighbours), each query timed under both
  in turn (alternating which goes first), and the ratio baseline / defaults, so that the
  machine's load affects both alike.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import tracemalloc
from collections.abc import Iterator

import numpy as np
from insession.models.items import ItemKnowledge, Kind, Scoring, Strategy

KINDS: tuple[Kind, ...] = ("view", "cart", "purchase")
TIMED: tuple[Strategy, ...] = ("blended", "viewed_together", "clicked_next", "trending")
COMPARED: tuple[Strategy, ...] = ("blended", "viewed_together")
BASELINE = {"query_items": 200, "sample_size": 500, "neighbours": 100}
"""The scoring the defaults are compared with (the whole session: `events_per_session`)."""


class Traffic:
    """The random draws of `events` synthetic events, made up front (numpy) so that only the
    ids the knowledge keeps are allocated while it learns."""

    def __init__(self, catalogue: int, events: int, seed: int, first_session: int = 0) -> None:
        rng = np.random.default_rng(seed)
        weights = 1.0 / np.arange(1, catalogue + 1)
        cdf = np.cumsum(weights) / weights.sum()
        self.catalogue = catalogue
        self.first_session = first_session
        self.fresh = np.minimum(np.searchsorted(cdf, rng.random(events)), catalogue - 1)
        self.step = rng.random(events)
        self.offset = rng.integers(1, 20, size=events)
        self.kinds = rng.choice(3, size=events, p=[0.90, 0.07, 0.03])
        self.ends = rng.random(events) < 0.2
        self.times = rng.exponential(50.0, size=events).cumsum().astype(np.int64)

    def __iter__(self) -> Iterator[tuple[str, str, int, Kind]]:
        """(session id, item id, time ms, kind) of each event, the ids made as it goes."""
        catalogue = self.catalogue
        session, length, previous = self.first_session, 0, -1
        for fresh, step, offset, kind, end, at in zip(
            self.fresh.tolist(),
            self.step.tolist(),
            self.offset.tolist(),
            self.kinds.tolist(),
            self.ends.tolist(),
            self.times.tolist(),
            strict=True,
        ):
            if length and (end or length >= 50):
                session, length, previous = session + 1, 0, -1
            if previous >= 0 and step < 0.25:
                item = previous
            elif previous >= 0 and step < 0.60:
                item = (previous + offset) % catalogue
            else:
                item = fresh
            previous, length = item, length + 1
            yield f"s{session}", f"sku-{item}", at, KINDS[kind]


def percentiles(micros: list[float]) -> str:
    p50, p90, p99 = np.percentile(micros, [50, 90, 99])
    return f"{np.mean(micros):7.1f} {p50:7.1f} {p90:7.1f} {p99:7.1f}"


def bench(catalogue: int, events_per_item: int, seed: int) -> None:
    knowledge = ItemKnowledge()
    events = events_per_item * catalogue
    draws = Traffic(catalogue, events, seed)
    tracemalloc.start()
    started = time.perf_counter()
    for session, item, at, kind in draws:
        knowledge.observe(session, item, at, kind)
    build = time.perf_counter() - started
    traced, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del draws
    sizes = knowledge.sizes()

    more = list(Traffic(catalogue, 100_000, seed + 1, first_session=10 * events))
    updates = []
    clock = time.perf_counter_ns
    for session, item, at, kind in more:
        before = clock()
        knowledge.observe(session, item, at + 100_000_000, kind)
        updates.append((clock() - before) / 1_000)

    queries: list[list[str]] = []
    rng = np.random.default_rng(seed + 2)
    current: list[str] = []
    for session, item, _, _ in Traffic(catalogue, 20_000, seed + 3, first_session=20 * events):
        if current and session != current[0]:
            queries.append(current[1 : 1 + int(rng.integers(1, 6))])
            current = []
        current = current or [session]
        current.append(item)
    queries = [q for q in queries if q][:2_000]
    timings = {}
    for strategy in TIMED:
        spent = []
        for query in queries:
            before = clock()
            knowledge.recommend(query, 20, strategy=strategy)
            spent.append((clock() - before) / 1_000)
        timings[strategy] = spent
    compared = {strategy: compare(knowledge, queries, strategy) for strategy in COMPARED}
    print(
        f"\n## {catalogue:,} items in the catalogue, {events:,} events "
        f"(built in {build:.0f} s under tracemalloc)\n"
        f"kept: {sizes.items:,} items, {sizes.sessions:,} sessions, "
        f"{sizes.index_entries:,} index entries, {sizes.next_entries:,} clicked-next and "
        f"{sizes.partner_entries:,} bought-together entries; {knowledge.ignored_events:,} "
        f"events past a session's bound\n"
        f"memory: {traced / 2**20:,.0f} MiB traced, {traced / max(sizes.items, 1):,.0f} "
        "bytes per item kept\n"
        f"\n{'µs':<24} {'mean':>7} {'p50':>7} {'p90':>7} {'p99':>7}\n"
        f"{'update (observe)':<24} {percentiles(updates)}",
    )
    for strategy, spent in timings.items():
        print(f"{'top-20 ' + strategy:<24} {percentiles(spent)}")
    print(f"\nbaseline scoring {BASELINE} against the defaults, interleaved:")
    for strategy, (baseline, defaults) in compared.items():
        print(f"{'baseline ' + strategy:<24} {percentiles(baseline)}")
        print(f"{'defaults ' + strategy:<24} {percentiles(defaults)}")
        ratios = [
            a / b
            for a, b in zip(
                np.percentile(baseline, [50, 90, 99]),
                np.percentile(defaults, [50, 90, 99]),
                strict=True,
            )
        ]
        print(
            f"{'ratio ' + strategy:<24} {sum(baseline) / sum(defaults):7.2f} "
            + " ".join(f"{r:7.2f}" for r in ratios)
        )


def compare(
    knowledge: ItemKnowledge, queries: list[list[str]], strategy: Strategy
) -> tuple[list[float], list[float]]:
    """µs per query under the `BASELINE` scoring and under the defaults, each query timed
    under both in turn, the order alternating."""
    defaults = knowledge.scoring
    baseline = dataclasses.replace(defaults, **BASELINE)
    spent: dict[Scoring, list[float]] = {baseline: [], defaults: []}
    clock = time.perf_counter_ns
    for at, query in enumerate(queries):
        for scoring in (baseline, defaults) if at % 2 else (defaults, baseline):
            knowledge.scoring = scoring
            before = clock()
            knowledge.recommend(query, 20, strategy=strategy)
            spent[scoring].append((clock() - before) / 1_000)
    knowledge.scoring = defaults
    return spent[baseline], spent[defaults]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--events-per-item", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    for size in args.sizes:
        bench(size, args.events_per_item, args.seed)


if __name__ == "__main__":
    main()
