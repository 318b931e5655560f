"""Simulated shoppers answering offers, from hidden ground-truth acceptance probabilities.

The engine never sees the truth: each offer's real acceptance rate is its catalogue base rate
moved by a seeded random amount, and by effects of the channel group, of whether the shopper
is a known customer and of the time of day, different for every offer. A policy that learns
from feedback finds these out; the catalogue's base rates (the baseline's belief) are wrong on
purpose. Knowing the truth lets the simulation score every decision against an oracle.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from insession.schemas.catalogue import CatalogueOffer
from insession.schemas.events import Offer, OfferFeedback

CHANNEL_GROUPS = {"web": "web", "app": "app", "store": "store"}
"""Every other channel (instagram, tiktok, whatsapp, other) is `social`."""
DAYPARTS = ("night", "morning", "afternoon", "evening")
SHOWN_RATE = 0.95
"""Share of offers the storefront renders (the rest never get any feedback)."""
DISMISS_RATE = 0.3
"""Share of shoppers who do not accept an offer that close it explicitly."""


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def channel_group(channel: str) -> str:
    return CHANNEL_GROUPS.get(channel, "social")


def daypart(epoch_ms: int) -> str:
    return DAYPARTS[datetime.fromtimestamp(epoch_ms / 1000, UTC).hour // 6]


@dataclass(frozen=True, slots=True)
class HiddenTruth:
    """P(accept) of each offer in each context, and the feedback it makes shoppers send.

    >>> offers = [CatalogueOffer("help", "help", "Help", 4.0, 0.3, ("struggle",))]
    >>> truth = HiddenTruth.draw(offers, seed=1)
    >>> round(truth.acceptance("help", "web", True, 1_764_000_000_000), 3)
    0.58
    """

    seed: int
    logits: dict[tuple[str, str], float]
    """(action id, effect) -> contribution to the log-odds; effect "" is the offer's base."""

    @classmethod
    def draw(
        cls, offers: Sequence[CatalogueOffer], seed: int, strength: float = 1.0
    ) -> HiddenTruth:
        """Draw the truth: base rates off by ~0.7 in log-odds, context effects of ~0.5-0.8."""
        rng = random.Random(f"truth:{seed}")
        logits: dict[tuple[str, str], float] = {}
        for offer in sorted(offers, key=lambda o: o.action_id):
            action = offer.action_id
            logits[(action, "")] = _logit(offer.base_rate) + rng.gauss(0.0, 0.7) * strength
            for group in ("web", "app", "store", "social"):
                logits[(action, f"channel={group}")] = rng.gauss(0.0, 0.8) * strength
            logits[(action, "known")] = rng.gauss(0.0, 0.6) * strength
            for part in DAYPARTS:
                logits[(action, f"daypart={part}")] = rng.gauss(0.0, 0.5) * strength
        return cls(seed, logits)

    def acceptance(self, action_id: str, channel: str, known: bool, at_ms: int) -> float:
        """The true probability that this offer is accepted in this context."""
        logits = self.logits
        z = logits[(action_id, "")]
        z += logits[(action_id, f"channel={channel_group(channel)}")]
        z += logits[(action_id, "known")] if known else 0.0
        z += logits[(action_id, f"daypart={daypart(at_ms)}")]
        return _sigmoid(z)

    def of_offer(self, offer: Offer) -> float:
        return self.acceptance(
            offer.action_id, offer.channel, offer.customer_id is not None, offer.decided_at
        )

    def respond(self, offer: Offer) -> list[OfferFeedback]:
        """What the shopper sends back: `shown`, then `accepted`, `dismissed` or silence.

        Fixed by the offer id, so the same offer always gets the same answer. Only known
        customers can answer (feedback names the customer).
        """
        if offer.customer_id is None:
            return []
        draws = _uniforms(self.seed, offer.offer_id, 4)
        if draws[0] >= SHOWN_RATE:
            return []
        shown_at = offer.decided_at + 500 + int(draws[1] * 2_000)
        answers = [_feedback(offer, "shown", shown_at, 0)]
        answer_at = shown_at + 5_000 + int(draws[3] * 85_000)
        if draws[2] < self.of_offer(offer):
            answers.append(_feedback(offer, "accepted", answer_at, 1))
        elif draws[3] < DISMISS_RATE:
            answers.append(_feedback(offer, "dismissed", answer_at, 1))
        return answers


def _uniforms(seed: int, offer_id: str, count: int) -> list[float]:
    digest = hashlib.blake2b(f"{seed}\x1f{offer_id}".encode(), digest_size=8 * count).digest()
    return [int.from_bytes(digest[i : i + 8], "big") / 2**64 for i in range(0, 8 * count, 8)]


def _feedback(offer: Offer, outcome: str, at_ms: int, step: int) -> OfferFeedback:
    return OfferFeedback(
        event_id=f"fb-{offer.offer_id}-{step}",
        event_time=at_ms,
        channel=offer.channel,
        customer_id=offer.customer_id,
        session_id=offer.session_id,
        offer_id=offer.offer_id,
        outcome=outcome,
    )
