"""The item knowledge: bounds that hold under a flood, cold eviction, forgetting a session,
and what each strategy returns on small hand-made sessions."""

from __future__ import annotations

import random

import pytest
from insession.models.items import STRATEGIES, Bounds, ItemKnowledge, Scoring

SMALL = Bounds(
    max_items=50,
    max_sessions=20,
    sessions_per_item=5,
    events_per_session=10,
    next_per_item=4,
    partners_per_item=3,
    trending_kept=5,
)


def learn(knowledge: ItemKnowledge, sessions: dict[object, list[str]], start: int = 0) -> int:
    """Views of each session in turn, a second apart; returns the next free time."""
    at = start
    for session, items in sessions.items():
        for item in items:
            knowledge.observe(session, item, at, "view")
            at += 1_000
    return at


def items_of(knowledge: ItemKnowledge, session: list[str], **options: object) -> list[object]:
    return [r.item for r in knowledge.recommend(session, **options)]  # type: ignore[arg-type]


def test_bounds_hold_under_a_flood() -> None:
    knowledge = ItemKnowledge(SMALL)
    rng = random.Random(3)
    kinds = ["view"] * 8 + ["cart", "purchase"]
    for n in range(30_000):
        session = rng.randrange(3) if n % 7 == 0 else rng.randrange(5_000)  # 3 endless ones
        item = min(int(rng.paretovariate(0.7)), 2_000)
        knowledge.observe(session, item, n, rng.choice(kinds))  # type: ignore[arg-type]
        if n % 1_000 == 999:
            sizes = knowledge.sizes()
            assert sizes.items <= SMALL.max_items
            assert sizes.sessions <= SMALL.max_sessions
            assert sizes.largest_index <= 2 * SMALL.sessions_per_item
            assert sizes.largest_next <= 2 * SMALL.next_per_item
            assert sizes.largest_partners <= 2 * SMALL.partners_per_item
            assert sizes.largest_session <= SMALL.events_per_session
            assert sizes.trending <= SMALL.trending_kept
            # Each session in an item's index is one the knowledge still keeps.
            assert sizes.index_entries <= SMALL.max_sessions * SMALL.events_per_session
    assert knowledge.ignored_events > 0  # the endless sessions stopped being learned from
    for strategy in STRATEGIES:
        found = knowledge.recommend([1, 2, 3], n=7, strategy=strategy)
        assert len(found) <= 7
        assert all(knowledge.knows(r.item) for r in found)


def test_the_item_seen_least_recently_is_evicted() -> None:
    knowledge = ItemKnowledge(Bounds(max_items=3))
    learn(knowledge, {"s1": ["a", "b"], "s2": ["a", "c"]})  # b was seen least recently
    knowledge.observe("s3", "d", 10_000, "view")
    assert not knowledge.knows("b") and all(knowledge.knows(i) for i in "acd")
    for strategy in STRATEGIES:
        assert "b" not in items_of(knowledge, ["a", "c", "d"], strategy=strategy)
    assert items_of(knowledge, ["a"], strategy="viewed_together") == ["a", "c"]
    knowledge.observe("s4", "b", 11_000, "view")  # comes back as a new item: a is now coldest
    assert knowledge.knows("b") and not knowledge.knows("a")
    assert items_of(knowledge, ["b"], strategy="clicked_next") == []


def test_the_least_recently_active_session_leaves_the_neighbour_index() -> None:
    knowledge = ItemKnowledge(Bounds(max_sessions=2))
    learn(knowledge, {"old": ["tent", "stove"], "s2": ["tent", "mat"], "s3": ["boots", "socks"]})
    assert "stove" not in items_of(knowledge, ["tent"], strategy="viewed_together")
    # What it taught as counts (clicked next) stays: anonymous, and not its index entry.
    assert items_of(knowledge, ["tent"], strategy="clicked_next") == ["stove", "mat"]
    assert knowledge.forget_session("old") is False  # no longer kept: nothing to forget


def test_forgetting_a_session_leaves_what_never_seeing_it_leaves() -> None:
    sessions = {
        "s1": ["tent", "mat", "stove"],
        "s2": ["tent", "mat"],
        "s3": ["boots", "socks", "tent"],
    }
    purchases = [("s1", "tent"), ("s1", "mat"), ("s3", "boots"), ("s3", "socks")]
    shopper = {"erased": ["tent", "lamp", "mat", "lamp", "stove"]}

    def build(with_shopper: bool) -> ItemKnowledge:
        knowledge = ItemKnowledge()
        learn(knowledge, sessions)
        if with_shopper:
            learn(knowledge, shopper, start=100_000)
            knowledge.observe("erased", "lamp", 110_000, "purchase")
            knowledge.observe("erased", "tent", 111_000, "purchase")
        for n, (session, item) in enumerate(purchases):  # the same times with or without
            knowledge.observe(session, item, 200_000 + n, "purchase")
        return knowledge

    forgotten = build(with_shopper=True)
    assert "lamp" in items_of(forgotten, ["tent"], strategy="viewed_together")
    assert "lamp" in items_of(forgotten, ["tent"], strategy="bought_together")
    assert forgotten.forget_session("erased") is True
    never = build(with_shopper=False)
    for strategy in STRATEGIES:
        for session in (["tent"], ["mat", "tent"], ["boots"], ["lamp"]):
            got = forgotten.recommend(session, strategy=strategy)
            want = never.recommend(session, strategy=strategy)
            assert [r.item for r in got] == [r.item for r in want], (strategy, session)
            assert [r.score for r in got] == pytest.approx([r.score for r in want])
    assert forgotten.forget_session("erased") is False
    assert not forgotten.knows("lamp")  # only the erased session had it
    assert forgotten.sizes() == never.sizes()


def test_viewed_together_finds_the_items_of_sessions_sharing_the_seed() -> None:
    knowledge = ItemKnowledge()
    learn(knowledge, {1: ["tent", "mat"], 2: ["tent", "stove"], 3: ["boots", "socks"]})
    found = knowledge.recommend(["tent"], strategy="viewed_together", exclude=["tent"])
    assert {r.item for r in found} == {"mat", "stove"}
    assert {(r.strategy, r.seed) for r in found} == {("viewed_together", "tent")}
    # The latest item counts most: after boots then tent, tent's neighbours come first.
    ranked = items_of(knowledge, ["boots", "tent"], strategy="viewed_together")
    assert set(ranked[:3]) == {"tent", "mat", "stove"} and set(ranked[3:]) == {"boots", "socks"}
    seeds = {r.item: r.seed for r in knowledge.recommend(["boots", "tent"])}
    assert seeds["mat"] == "tent" and seeds["socks"] == "boots"


def test_viewed_together_reads_the_neighbours_of_the_latest_query_items_only() -> None:
    knowledge = ItemKnowledge(scoring=Scoring(query_items=2))
    learn(knowledge, {1: ["boots", "socks"], 2: ["tent", "mat"], 3: ["lamp", "stove"]})
    ranked = items_of(knowledge, ["boots", "tent", "lamp"], strategy="viewed_together")
    assert set(ranked) == {"tent", "mat", "lamp", "stove"}  # boots is 3 items back
    found = knowledge.recommend(["boots", "tent", "lamp", "lamp"], strategy="viewed_together")
    assert {r.item: r.seed for r in found} == {
        "lamp": "lamp",
        "stove": "lamp",
        "tent": "tent",
        "mat": "tent",
    }
    with pytest.raises(ValueError, match="query_items"):
        Scoring(query_items=0)


def test_a_session_being_observed_is_not_its_own_neighbour() -> None:
    knowledge = ItemKnowledge()
    learn(knowledge, {"past": ["tent", "mat"], "now": ["tent", "lamp"]})
    assert "lamp" in items_of(knowledge, ["tent"], strategy="viewed_together")
    alone = items_of(knowledge, ["tent"], strategy="viewed_together", session_id="now")
    assert set(alone) == {"tent", "mat"}


def test_clicked_next_ranks_what_follows_the_latest_item_by_distance() -> None:
    knowledge = ItemKnowledge()
    learn(knowledge, {1: ["a", "b", "c"], 2: ["a", "b"], 3: ["x", "a"]})
    after_a = knowledge.recommend(["x", "a"], strategy="clicked_next")
    assert [(r.item, r.seed) for r in after_a] == [("b", "a"), ("c", "a")]
    assert after_a[0].score == 1.0 and after_a[1].score == pytest.approx(0.25 / 2)
    assert items_of(knowledge, ["c"], strategy="clicked_next") == []  # nothing came after c


def test_bought_together_counts_purchases_in_one_session_not_views() -> None:
    knowledge = ItemKnowledge()
    orders = {1: ["tent", "mat"], 2: ["tent", "stove"], 3: ["tent", "mat"], 4: ["lamp"]}
    for n, (session, items) in enumerate(orders.items()):
        for item in items:
            knowledge.observe(session, item, n, "purchase")
    learn(knowledge, {5: ["tent", "boots"]}, start=100)  # viewed together, not bought
    found = knowledge.recommend(["tent"], strategy="bought_together")
    assert [(r.item, r.seed) for r in found] == [("mat", "tent"), ("stove", "tent")]
    assert found[1].score == pytest.approx(0.5)
    knowledge.observe(1, "mat", 200, "purchase")  # bought again: no new pair
    assert knowledge.recommend(["tent"], strategy="bought_together") == found


def test_recently_viewed_brings_back_the_session_latest_first() -> None:
    knowledge = ItemKnowledge(scoring=Scoring(session_decay=0.5))
    learn(knowledge, {1: ["a", "b", "c"]})
    found = knowledge.recommend(["a", "b", "a", "c"], strategy="recently_viewed")
    assert [(r.item, r.seed) for r in found] == [("c", "c"), ("a", "a"), ("b", "b")]
    assert [r.score for r in found] == [1.0, 0.625, 0.25]


def test_trending_forgets_old_popularity_at_the_half_life() -> None:
    hour = 3_600_000
    knowledge = ItemKnowledge(scoring=Scoring(trending_half_life_ms=hour))
    for n in range(8):
        knowledge.observe(n, "old", n, "view")
    assert items_of(knowledge, [], strategy="trending") == ["old"]
    for n in range(3):  # 3 views 3 hours later beat 8 at a third of the weight each
        knowledge.observe(100 + n, "new", 3 * hour + n, "cart")
    found = knowledge.recommend([], strategy="trending")
    assert [(r.item, r.seed, r.strategy) for r in found] == [
        ("new", None, "trending"),
        ("old", None, "trending"),
    ]
    assert found[1].score == pytest.approx(8 / 8 / 3, rel=1e-3)


def test_trending_survives_many_half_lives() -> None:
    knowledge = ItemKnowledge(scoring=Scoring(trending_half_life_ms=1))
    for n in range(2_000):  # 2,000 half-lives: weights are rescaled, never overflow
        knowledge.observe(n, f"item-{n % 3}", n, "view")
    found = knowledge.recommend([], strategy="trending")
    assert [r.item for r in found] == ["item-1", "item-0", "item-2"]
    assert all(0.0 <= r.score <= 1.0 for r in found)


def test_blended_names_a_strategy_and_a_seed_and_fills_with_trending() -> None:
    knowledge = ItemKnowledge()
    learn(knowledge, {1: ["tent", "mat"], 2: ["tent", "mat"], 3: ["boots"], 4: ["socks"]})
    found = knowledge.recommend(["tent"], n=4, exclude=["tent"])
    assert [r.item for r in found[:1]] == ["mat"]
    assert found[0].strategy == "viewed_together" and found[0].seed == "tent"
    assert {r.item for r in found[1:]} == {"boots", "socks"}
    assert {(r.strategy, r.seed, r.score) for r in found[1:]} == {("trending", None, 0.0)}
    assert "tent" not in [r.item for r in found]


def test_unknown_items_and_empty_sessions_are_no_error() -> None:
    knowledge = ItemKnowledge()
    assert knowledge.recommend(["never-seen"]) == []
    learn(knowledge, {1: ["tent", "mat"]})
    for strategy in STRATEGIES:
        assert all(r.item in ("tent", "mat") for r in knowledge.recommend([], strategy=strategy))
    assert knowledge.recommend(["tent"], n=0) == []


def test_bad_kinds_strategies_and_parameters_fail_loudly() -> None:
    knowledge = ItemKnowledge()
    with pytest.raises(ValueError, match="kind"):
        knowledge.observe(1, "tent", 0, "click")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="strategy"):
        knowledge.recommend(["tent"], strategy="random")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_items"):
        Bounds(max_items=0)
    with pytest.raises(ValueError, match="neighbour_distance"):
        Scoring(neighbour_distance=0.0)
