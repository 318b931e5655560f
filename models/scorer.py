"""The scorer interface every model implements, and the transparent baseline.

A scorer predicts, for each candidate offer, the probability that the shopper accepts it in
this context. Arbitration (value, levers, contact policy) happens outside, in
`operators.decide`, so a learned model can replace the baseline without touching it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from insession.schemas.catalogue import CatalogueOffer
from insession.schemas.features import Features


class Scorer(Protocol):
    """Predicts acceptance probabilities; `version` is logged on every offer it chooses."""

    version: str

    def predict(self, features: Features, offers: Sequence[CatalogueOffer]) -> list[float]:
        """P(accept) for each offer, in the same order."""
        ...


class BaselineScorer:
    """The offer's prior rate, raised when it answers the moment's main signal.

    Transparent on purpose: a merchandiser can predict its choice from the catalogue.

    >>> from insession.schemas.catalogue import CatalogueOffer
    >>> help_offer = CatalogueOffer("help", "help", "Help", 4.0, 0.3, ("struggle",))
    >>> BaselineScorer().predict({"signal_struggle": 1.0}, [help_offer])
    [0.45]
    """

    version = "baseline-1"

    def __init__(self, match_boost: float = 1.5, ceiling: float = 0.95) -> None:
        self.match_boost = match_boost
        self.ceiling = ceiling

    def predict(self, features: Features, offers: Sequence[CatalogueOffer]) -> list[float]:
        scores = []
        for offer in offers:
            matched = any(features.get(f"signal_{s}") == 1.0 for s in offer.scenarios)
            rate = offer.base_rate * (self.match_boost if matched else 1.0)
            scores.append(round(min(rate, self.ceiling), 6))
        return scores
