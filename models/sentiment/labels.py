"""The three classes sentiment is learned and measured in, from most negative to most
positive."""

from __future__ import annotations

NEGATIVE = "negative"
NEUTRAL = "neutral"
POSITIVE = "positive"
LABELS = (NEGATIVE, NEUTRAL, POSITIVE)


def most_probable(probabilities: dict[str, float]) -> str:
    """The class with the highest probability."""
    return max(probabilities, key=probabilities.__getitem__)


def polarity(probabilities: dict[str, float]) -> float:
    """P(positive) - P(negative), in [-1, 1]: the score the flow keeps for a post."""
    return probabilities[POSITIVE] - probabilities[NEGATIVE]
