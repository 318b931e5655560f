"""The bounded rows between items and the exact trending top list."""

from __future__ import annotations

import random

from insession.models.items.state import ItemState, TrendingTop, add_to_row, take_from_row


def test_a_row_stays_within_twice_its_bound_and_keeps_the_strongest() -> None:
    items = [ItemState(n) for n in range(1_000)]
    row: dict[ItemState, float] = {}
    for n, item in enumerate(items):
        add_to_row(row, item, float(n % 100), keep=10)
        assert len(row) <= 20


def test_a_trim_keeps_the_strongest_live_entries() -> None:
    dead, *others = [ItemState(n) for n in range(21)]
    dead.alive = False
    row = {dead: 1_000.0} | {item: float(n) for n, item in enumerate(others[:19], start=1)}
    add_to_row(row, others[19], 0.5, keep=10)  # the 21st entry: trimmed back to 10
    assert sorted(row.values()) == [float(n) for n in range(10, 20)]


def test_taking_back_removes_an_entry_at_zero_and_ignores_trimmed_ones() -> None:
    a, b, c = ItemState("a"), ItemState("b"), ItemState("c")
    row = {a: 1.25, b: 0.5}
    take_from_row(row, a, 0.25)
    take_from_row(row, b, 0.5)
    take_from_row(row, c, 1.0)  # trimmed before: nothing to take
    take_from_row(None, a, 1.0)
    assert row == {a: 1.0}


def test_the_trending_top_list_is_exact_while_weights_grow() -> None:
    top = TrendingTop(half_life_ms=1_000, kept=10)
    items = [ItemState(n) for n in range(300)]
    rng = random.Random(11)
    for at in range(20_000):
        item = items[min(int(rng.paretovariate(1.0)) - 1, 299)]
        item.trend += top.weight(at)
        top.raised(item)
        if at % 997 == 0:
            grown = [i for i in items if i.trend > 0]
            truth = sorted(grown, key=lambda i: i.trend, reverse=True)[:10]
            assert top.best(10) == truth
