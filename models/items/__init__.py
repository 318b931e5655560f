"""Item-to-item knowledge learned online from the event stream, bounded in memory.

`ItemKnowledge` (in `knowledge`) is the interface; `Bounds` and `Scoring` (in `parameters`) its
settings; `state` and `strategies` hold what it keeps and how each strategy scores.
"""

from insession.models.items.knowledge import (
    FORGET,
    KINDS,
    STRATEGIES,
    ItemKnowledge,
    Kind,
    Observation,
    Recommendation,
    Sizes,
    Strategy,
)
from insession.models.items.parameters import Bounds, Scoring

__all__ = [
    "FORGET",
    "KINDS",
    "STRATEGIES",
    "Bounds",
    "ItemKnowledge",
    "Kind",
    "Observation",
    "Recommendation",
    "Scoring",
    "Sizes",
    "Strategy",
]
