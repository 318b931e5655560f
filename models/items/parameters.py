"""The memory bounds and scoring parameters of the item knowledge, checked once when built."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

PositionWeighting = Literal["linear", "quadratic"]


@dataclass(frozen=True, slots=True)
class Bounds:
    """What the knowledge may hold: every collection it keeps is capped by one of these.

    The defaults hold a large catalogue: a million items and the 200,000 most recently active
    sessions. Measured on synthetic power-law traffic (bench/item_knowledge_bench.py): 568 MiB
    for 451,113 items and 200,000 sessions, 1.3 kB per item; rows at their 100-entry peak cost
    7 kB each (docs/recommendations.md).
    """

    max_items: int = 1_000_000
    """Items known at once; beyond it the item seen least recently is forgotten (cold items)."""
    max_sessions: int = 200_000
    """Sessions kept in the neighbour index; beyond it the least recently active one goes."""
    sessions_per_item: int = 500
    """The neighbour index: the most recent sessions that contain an item (`m`)."""
    events_per_session: int = 200
    """Events learned from per session; later ones are ignored (bots and crawlers)."""
    next_per_item: int = 50
    """Items remembered as clicked after an item (sequential rules), the strongest kept."""
    partners_per_item: int = 50
    """Items remembered as bought with an item, the strongest kept."""
    trending_kept: int = 100
    """Items in the exact trending top list (the most `trending` can return)."""

    def __post_init__(self) -> None:
        for field in fields(self):
            if getattr(self, field.name) < 1:
                raise ValueError(f"Bounds.{field.name} must be at least 1")


@dataclass(frozen=True, slots=True)
class Scoring:
    """How the strategies score (and clicked-next learns); the defaults were chosen on a
    validation split of YOOCHOOSE (the last day of `train_tr`), never on the held-out set."""

    sample_size: int = 250
    """Candidate neighbour sessions: the most recently active of those sharing an item."""
    neighbours: int = 100
    """Neighbour sessions kept, the most similar of the candidates (VSKNN's `k`)."""
    query_items: int = 2
    """`viewed_together` looks for neighbours of the session's latest this many distinct
    items only (Serenade's `max_items_in_session`, 2 by default there too); the others still
    count in the position weights. Bounds the query's work however long the session is."""
    position_weighting: PositionWeighting = "quadratic"
    """Weight of the current session's items by position: (position/length) or its square."""
    neighbour_distance: float = 3.0
    """Items of a neighbour session count exp(-distance/this) from the item it was found by."""
    idf_weight: float = 5.0
    """`viewed_together` multiplies an item's score by 1 + this · log(sessions / sessions
    that had it): VSKNN's IDF weighting, which lifts items that are not everywhere."""
    rule_steps: int = 20
    """Clicked-next learning window: an item clicked i steps after another counts 1/i²."""
    session_decay: float = 0.6
    """`recently_viewed` and `bought_together` count the latest session item 1, the one
    before it this, the one before that this squared, ..."""
    blend_viewed_together: float = 1.0
    blend_clicked_next: float = 0.05
    blend_bought_together: float = 0.3
    blend_recently_viewed: float = 0.3
    """Blend weights, each applied to its strategy's scores divided by their maximum."""
    trending_half_life_ms: int = 6 * 3_600_000
    """Half-life of an event's weight in the trending popularity."""

    def __post_init__(self) -> None:
        counts = ("sample_size", "neighbours", "query_items", "rule_steps", "trending_half_life_ms")
        for name in counts:
            if getattr(self, name) < 1:
                raise ValueError(f"Scoring.{name} must be at least 1")
        if self.position_weighting not in ("linear", "quadratic"):
            raise ValueError("Scoring.position_weighting must be 'linear' or 'quadratic'")
        if self.neighbour_distance <= 0.0:
            raise ValueError("Scoring.neighbour_distance must be positive")
        if not 0.0 <= self.session_decay <= 1.0:
            raise ValueError("Scoring.session_decay must be within [0, 1]")
        for field in fields(self):
            if field.name.startswith(("blend_", "idf_")) and getattr(self, field.name) < 0.0:
                raise ValueError(f"Scoring.{field.name} must not be negative")
