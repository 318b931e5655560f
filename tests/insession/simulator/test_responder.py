"""The hidden truth: product offers are accepted for items that suit the shopper."""

from __future__ import annotations

from dataclasses import replace

import pytest
from insession.schemas.catalogue import CatalogueOffer
from insession.schemas.events import Offer

from insession.simulator import SimulationConfig
from insession.simulator.catalogue import Product, Shop
from insession.simulator.responder import MISFIT, PARTNER_LIFT, HiddenTruth, items_fit
from insession.simulator.taste import Taste

AT = 1_764_000_000_000
OFFERS = [
    CatalogueOffer("help", "help", "Help", 4.0, 0.3, ("struggle",)),
    CatalogueOffer("goes-with", "product", "Goes with it", 30.0, 0.08, ("complementary",)),
]


@pytest.fixture(scope="module")
def shop() -> Shop:
    return Shop(SimulationConfig(seed=4))


def _offer(offer_id: str, action: str, kind: str, items: tuple[str, ...] = ()) -> Offer:
    return Offer(
        event_id=offer_id,
        event_time=AT,
        channel="app",
        customer_id="cust-000001",
        session_id="ses-1",
        offer_id=offer_id,
        action_id=action,
        kind=kind,
        items=items,
        score=0.1,
        probability=1.0,
        reason_codes=("r",),
        model_version="m",
        decided_at=AT,
        expires_at=AT + 600_000,
    )


def _jacket_shopper(shop: Shop) -> tuple[Taste, Product]:
    """A jacket and jeans shopper at the typical price, with a mid-priced jacket in her cart."""
    jackets = sorted(shop.catalogue["apparel.jacket"], key=lambda p: p.price)
    jacket = jackets[len(jackets) // 2]
    return Taste(shop, ("apparel.jacket", "apparel.jeans"), 0, (jacket.product_id,)), jacket


def _unrelated(shop: Shop, taste: Taste, count: int) -> tuple[str, ...]:
    """What a best-seller list of other categories shows her: perfume and bags, cheapest."""
    unrelated = [*shop.catalogue["beauty.perfume"], *shop.catalogue["bags.handbag"]]
    assert not {p.category for p in unrelated} & set(taste.favourites)
    return tuple(p.product_id for p in sorted(unrelated, key=lambda p: p.price)[:count])


def test_partner_items_beat_unrelated_best_sellers_for_the_same_shopper(shop: Shop) -> None:
    truth = HiddenTruth.draw(OFFERS, seed=3)
    taste, jacket = _jacket_shopper(shop)
    partners = tuple(p.product_id for p in shop.partners(jacket))[:3]
    unrelated = _unrelated(shop, taste, 3)
    fit_partners, fit_unrelated = items_fit(partners, taste), items_fit(unrelated, taste)
    assert fit_unrelated == pytest.approx(-MISFIT)
    assert fit_partners >= PARTNER_LIFT - MISFIT
    with_partners = truth.of_offer(_offer("o-1", "goes-with", "product", partners), taste)
    with_unrelated = truth.of_offer(_offer("o-1", "goes-with", "product", unrelated), taste)
    without = truth.of_offer(_offer("o-1", "goes-with", "product"), taste)
    assert with_partners > 1.8 * without > 3 * with_unrelated, (with_partners, with_unrelated)


def test_a_favourite_category_near_the_band_lifts_and_far_from_it_does_not(shop: Shop) -> None:
    taste, jacket = _jacket_shopper(shop)
    no_anchor = replace(taste, anchors=())
    jeans = shop.catalogue["apparel.jeans"]
    near = max(jeans, key=lambda p: shop.closeness(p, 0))
    far = min(jeans, key=lambda p: shop.closeness(p, 0))
    assert items_fit((near.product_id,), no_anchor) > 0.3
    assert items_fit((far.product_id,), no_anchor) < -0.5
    assert items_fit((jacket.product_id,), taste) == items_fit((jacket.product_id,), no_anchor)


def test_only_product_offers_with_the_shops_items_depend_on_the_shopper(shop: Shop) -> None:
    truth = HiddenTruth.draw(OFFERS, seed=3)
    taste, jacket = _jacket_shopper(shop)
    partners = tuple(p.product_id for p in shop.partners(jacket))
    offers = [
        _offer("o-2", "help", "help", partners),
        _offer("o-3", "goes-with", "product"),
        _offer("o-4", "goes-with", "product", ("scarf-silk-red",)),
    ]
    for offer in offers:
        assert truth.of_offer(offer, taste) == truth.of_offer(offer)
        assert truth.respond(offer, taste) == truth.respond(offer)
    assert truth.of_offer(_offer("o-5", "goes-with", "product", partners), None) == truth.of_offer(
        offers[1]
    )


def test_answers_follow_the_rate_with_the_items(shop: Shop) -> None:
    truth = HiddenTruth.draw(OFFERS, seed=3)
    taste, jacket = _jacket_shopper(shop)
    partners = tuple(p.product_id for p in shop.partners(jacket))[:2]
    offers = [_offer(f"of-{n}", "goes-with", "product", partners) for n in range(4000)]
    answered = [truth.respond(offer, taste) for offer in offers]
    accepted = sum(any(f.outcome == "accepted" for f in a) for a in answered)
    rate = truth.of_offer(offers[0], taste)
    assert rate > 1.5 * truth.of_offer(offers[0])
    assert abs(accepted / sum(bool(a) for a in answered) - rate) < 0.03, rate
