"""The three classes sentiment is learned and measured in, from most negative to most
positive."""

from __future__ import annotations

NEGATIVE = "negative"
NEUTRAL = "neutral"
POSITIVE = "positive"
LABELS = (NEGATIVE, NEUTRAL, POSITIVE)
