"""A small builder of realistic event sequences for one shopper, for scenario tests."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from insession.models.policy import GreedyPolicy
from insession.models.scorer import BaselineScorer
from insession.operators.personalise import Personaliser
from insession.operators.session import CustomerState
from insession.schemas.catalogue import load_catalogue
from insession.schemas.events import (
    CartAdd,
    CartRemove,
    CheckoutStart,
    Consent,
    Event,
    Offer,
    OfferFeedback,
    OfferWithdrawal,
    OrderLine,
    PageView,
    ProductView,
    Purchase,
    Search,
    SocialPost,
)

CATALOGUE = Path(__file__).resolve().parents[2] / "insession" / "catalogue.toml"

Product = tuple[str, float, str]
"""(product id, price, category) of a scenario's product."""
JACKET_RED: Product = ("jacket-red-38", 129.0, "apparel.jacket")
JACKET_BASIC: Product = ("jacket-basic", 40.0, "apparel.jacket")
SCARF_SILK: Product = ("scarf-silk-red", 60.0, "apparel.scarf")
SCARF_POLY: Product = ("scarf-poly", 9.0, "apparel.scarf")


def outfits(red_with_cheap: int, red_with_silk: int, basic_with_cheap: int) -> list:
    """(shoppers, basket) of traffic where jackets and scarves are bought together: red
    jackets with the cheap scarf more often than with the silk one, if asked so."""
    return [
        (red_with_cheap, [JACKET_RED, SCARF_POLY]),
        (red_with_silk, [JACKET_RED, SCARF_SILK]),
        (basic_with_cheap, [JACKET_BASIC, SCARF_POLY]),
    ]


T0 = 1_764_000_000_000


@dataclass
class Shopper:
    """Emits events for one customer, a given number of seconds apart, through the engine."""

    customer_id: str = "c-1"
    now: int = T0
    engine: Personaliser = field(
        default_factory=lambda: Personaliser(
            load_catalogue(CATALOGUE), GreedyPolicy(BaselineScorer())
        )
    )
    state: CustomerState = field(init=False)
    offers: list[Any] = field(default_factory=list)
    withdrawals: list[OfferWithdrawal] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.state = CustomerState(person=self.customer_id)

    def send(
        self, event_type: type[Event], after_s: float = 10, at: int | None = None, **fields: Any
    ):
        """Send an event `after_s` after the last one, or dated `at` (a late event: the
        shopper's clock stays where it was)."""
        if at is None:
            self.now += int(after_s * 1000)
        event = event_type(
            event_id=f"e{next(self._ids)}",
            event_time=self.now if at is None else at,
            channel=fields.pop("channel", "web"),
            customer_id=self.customer_id,
            session_id="s1",
            **fields,
        )
        decision = self.engine.on_event(self.state, event)
        self.withdrawals.extend(self.engine.follow_offers(self.state, event, decision.offer))
        if decision.offer is not None:
            self.offers.append(decision.offer)
        return decision

    def consent(self, granted: bool = True, **kw):
        return self.send(Consent, granted=granted, **kw)

    def view(self, product: str, price: float = 120.0, category: str = "apparel.jacket", **kw):
        return self.send(ProductView, product_id=product, price=price, category=category, **kw)

    def hesitate(self, product: str, views: int = 3) -> Offer:
        """View one product again and again (no cart): the hesitation offer it earns."""
        decisions = [self.view(product) for _ in range(views)]
        offer = decisions[-1].offer
        assert offer is not None, decisions[-1]
        return offer

    def search(self, query: str, results: int, **kw):
        return self.send(Search, query=query, result_count=results, **kw)

    def page(self, page_type: str, **kw):
        return self.send(PageView, page_type=page_type, **kw)

    def add(self, product: str, price: float = 120.0, category: str = "apparel.jacket", **kw):
        return self.send(CartAdd, product_id=product, unit_price=price, category=category, **kw)

    def remove(self, product: str, **kw):
        return self.send(CartRemove, product_id=product, **kw)

    def checkout(self, **kw):
        return self.send(CheckoutStart, **kw)

    def buy(self, product: str, price: float = 120.0, category: str = "apparel.jacket", **kw):
        line = OrderLine(product_id=product, unit_price=price, category=category)
        return self.send(Purchase, order_id=f"o{self.now}", lines=(line,), total=price, **kw)

    def post(self, score: float, text: str = "...", **kw):
        return self.send(SocialPost, platform="instagram", score=score, text=text, **kw)

    def feedback(self, offer_id: str, outcome: str, **kw):
        return self.send(OfferFeedback, offer_id=offer_id, outcome=outcome, **kw)
