"""Pickling the item knowledge (recovery snapshots) gives back the same knowledge."""

from __future__ import annotations

import pickle
import random

import pytest
from insession.models.items import STRATEGIES, Bounds, ItemKnowledge
from insession.models.items.snapshot import restore
from insession.models.items.state import TrendingTop


def flooded(seed: int = 5) -> ItemKnowledge:
    """Enough sessions that items and sessions chain through each other far and wide, with
    cold items evicted (dead ones still named by sessions and rows)."""
    knowledge = ItemKnowledge(Bounds(max_items=1_500, max_sessions=5_000))
    rng = random.Random(seed)
    kinds = ["view"] * 8 + ["cart", "purchase"]
    at = 0
    for session in range(20_000):
        for _ in range(rng.randint(1, 8)):
            at += 1_000
            knowledge.observe(session, rng.randrange(2_000), at, rng.choice(kinds))  # type: ignore[arg-type]
    return knowledge


def test_a_large_knowledge_pickles_and_answers_the_same() -> None:
    knowledge = flooded()
    with pytest.raises(RecursionError):  # why it is flattened: the objects chain too deep
        pickle.dumps(knowledge.__dict__)
    copy = pickle.loads(pickle.dumps(knowledge))
    assert copy.sizes() == knowledge.sizes()
    rng = random.Random(1)
    sessions = [[rng.randrange(2_000) for _ in range(rng.randint(1, 5))] for _ in range(100)]
    for strategy in STRATEGIES:
        for items in sessions:
            assert copy.recommend(items, strategy=strategy) == knowledge.recommend(
                items, strategy=strategy
            )
    # ...and both go on learning and forgetting alike.
    for twin in (knowledge, copy):
        for n in range(50):
            twin.observe(f"new-{n % 7}", n % 11, 10**9 + n, "view")
        assert twin.forget_session(19_999)
    assert copy.sizes() == knowledge.sizes()
    for items in sessions[:20]:
        assert copy.recommend(items, session_id="new-3") == knowledge.recommend(
            items, session_id="new-3"
        )


def test_an_unknown_snapshot_version_is_refused() -> None:
    with pytest.raises(ValueError, match="version"):
        restore({"version": 99}, TrendingTop(1, 1))
