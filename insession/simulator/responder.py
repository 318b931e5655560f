"""Simulated shoppers answering offers, from hidden ground-truth acceptance probabilities.

The engine never sees the truth: each offer's real acceptance rate is its catalogue base rate
moved by a seeded random amount, and by effects of the channel group, of whether the shopper
is a known customer and of the time of day, different for every offer. A policy that learns
from feedback finds these out; the catalogue's base rates (the baseline's belief) are wrong on
purpose. Knowing the truth lets the simulation score every decision against an oracle.

A product offer's rate also depends on the products it shows and the shopper it shows them
to (`Taste`): what goes with the products in play, or suits their favourite categories and
price band, lifts it; what fits none of that lowers it.
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
from insession.simulator.catalogue import Product
from insession.simulator.taste import Taste

CHANNEL_GROUPS = {"web": "web", "app": "app", "store": "store"}
"""Every other channel (instagram, tiktok, whatsapp, other) is `social`."""
DAYPARTS = ("night", "morning", "afternoon", "evening")
SHOWN_RATE = 0.95
"""Share of offers the storefront renders (the rest never get any feedback)."""
DISMISS_RATE = 0.3
"""Share of shoppers who do not accept an offer that close it explicitly."""
PARTNER_LIFT = 1.6
"""Log-odds for an item that goes with a product in play (cart, just bought, being viewed)."""
TASTE_LIFT = 1.2
"""Log-odds for an item of a favourite category at the shopper's price (less further off)."""
MISFIT = 0.8
"""Log-odds lost by an item that fits neither (a best-seller of a category never looked at)."""


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

    def acceptance(
        self, action_id: str, channel: str, known: bool, at_ms: int, items_fit: float = 0.0
    ) -> float:
        """The true probability that this offer is accepted in this context.

        `items_fit` is the log-odds the offer's items add for the shopper (`items_fit()`).
        """
        logits = self.logits
        z = logits[(action_id, "")]
        z += logits[(action_id, f"channel={channel_group(channel)}")]
        z += logits[(action_id, "known")] if known else 0.0
        z += logits[(action_id, f"daypart={daypart(at_ms)}")]
        return _sigmoid(z + items_fit)

    def of_offer(self, offer: Offer, taste: Taste | None = None) -> float:
        return self.acceptance(
            offer.action_id,
            offer.channel,
            offer.customer_id is not None,
            offer.decided_at,
            offer_fit(offer, taste),
        )

    def respond(self, offer: Offer, taste: Taste | None = None) -> list[OfferFeedback]:
        """What the shopper sends back: `shown`, then `accepted`, `dismissed` or silence.

        Fixed by the offer id, so the same offer always gets the same answer. Only known
        customers can answer (feedback names the customer). A product offer's items count
        when the shopper's `taste` is given.
        """
        if offer.customer_id is None:
            return []
        draws = _uniforms(self.seed, offer.offer_id, 4)
        if draws[0] >= SHOWN_RATE:
            return []
        shown_at = offer.decided_at + 500 + int(draws[1] * 2_000)
        answers = [_feedback(offer, "shown", shown_at, 0)]
        answer_at = shown_at + 5_000 + int(draws[3] * 85_000)
        if draws[2] < self.of_offer(offer, taste):
            answers.append(_feedback(offer, "accepted", answer_at, 1))
        elif draws[3] < DISMISS_RATE:
            answers.append(_feedback(offer, "dismissed", answer_at, 1))
        return answers


def offer_fit(offer: Offer, taste: Taste | None) -> float:
    """The log-odds a product offer's items add for the shopper; 0 for any other offer."""
    return items_fit(offer.items, taste) if offer.kind == "product" else 0.0


def items_fit(items: Sequence[str], taste: Taste | None) -> float:
    """The log-odds that showing these items to this shopper adds to an offer's rate.

    The best item draws the eye and the others dilute it: half the best item's fit plus half
    the mean fit, over the items the shop sells (none of them, or no taste: 0).

    >>> from insession.simulator import Shop, SimulationConfig
    >>> shop = Shop(SimulationConfig(seed=1))
    >>> jacket = shop.catalogue["apparel.jacket"][0]
    >>> taste = Taste(shop, ("apparel.jacket",), 0, anchors=(jacket.product_id,))
    >>> round(items_fit([shop.partners(jacket)[0].product_id], taste), 2)
    0.8
    >>> round(items_fit(["sku-beauty.perfume-1"], taste), 2)
    -0.8
    """
    if taste is None:
        return 0.0
    shop = taste.shop
    products = [shop.products[item] for item in items if item in shop.products]
    if not products:
        return 0.0
    partners = {
        partner.product_id
        for anchor in taste.anchors
        if anchor in shop.products
        for partner in shop.partners(shop.products[anchor])
    }
    fits = [_item_fit(product, partners, taste) for product in products]
    return 0.5 * max(fits) + 0.5 * sum(fits) / len(fits)


def _item_fit(product: Product, partners: set[str], taste: Taste) -> float:
    """`PARTNER_LIFT` if it goes with a product in play, plus `TASTE_LIFT` × its price's
    closeness to the shopper's band if its category is a favourite, minus `MISFIT`."""
    fit = PARTNER_LIFT if product.product_id in partners else 0.0
    if product.category in taste.favourites:
        fit += TASTE_LIFT * taste.shop.closeness(product, taste.price_band)
    return fit - MISFIT


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
