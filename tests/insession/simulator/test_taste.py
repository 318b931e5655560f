"""Shopper tastes for the hidden truth: hidden favourites and the products in play."""

from __future__ import annotations

from dataclasses import replace

from insession.schemas.events import CartAdd, Event, Offer, ProductView, Purchase

from insession.simulator import SimulationConfig, simulate
from insession.simulator.catalogue import Shop
from insession.simulator.config import DAY_MS
from insession.simulator.shoppers import customer_index, make_customer
from insession.simulator.taste import ShopperTastes

CONFIG = SimulationConfig(seed=5, customers=80)


def _offer_after(event: Event, later_ms: int = 1_000) -> Offer:
    at = event.event_time + later_ms
    return Offer(
        event_id="o",
        event_time=at,
        channel=event.channel,
        customer_id=event.customer_id,
        anonymous_id=None if event.customer_id else event.anonymous_id,
        session_id=event.session_id,
        offer_id="o",
        action_id="a",
        kind="product",
        score=0.0,
        probability=1.0,
        reason_codes=("r",),
        model_version="m",
        decided_at=at,
        expires_at=at + 600_000,
    )


def test_the_taste_is_the_customers_own_with_cart_views_and_last_order() -> None:
    shop = Shop(CONFIG)
    tastes = ShopperTastes(shop)
    checked = {"cart": 0, "view": 0, "bought": 0}
    for event in simulate(CONFIG):
        assert isinstance(event, Event)
        tastes.observe(event)
        if event.customer_id is None:
            continue
        if isinstance(event, CartAdd | ProductView | Purchase):
            taste = tastes.of(_offer_after(event))
            assert taste is not None
            customer = make_customer(shop, customer_index(event.customer_id) or 0, False)
            assert (taste.favourites, taste.price_band) == (
                customer.favourites,
                customer.price_band,
            )
        if isinstance(event, CartAdd):
            assert event.product_id in taste.anchors
            checked["cart"] += 1
        elif isinstance(event, ProductView):
            assert event.product_id in taste.anchors
            checked["view"] += 1
        elif isinstance(event, Purchase):
            bought = [line.product_id for line in event.lines]
            assert set(bought) <= set(taste.anchors)
            next_day = replace(_offer_after(event, DAY_MS + 1), session_id="ses-next")
            later = tastes.of(next_day)
            assert later is not None and not set(bought) & set(later.anchors)
            checked["bought"] += 1
    assert min(checked.values()) >= 10, checked


def _view(product_id: str, session: str, customer: str | None = None) -> ProductView:
    return ProductView(
        event_id=f"e-{product_id}-{session}",
        event_time=CONFIG.start_ms,
        channel="web",
        customer_id=customer,
        anonymous_id="dev-1",
        session_id=session,
        product_id=product_id,
    )


def test_a_device_is_known_once_it_logged_in_and_keeps_only_its_latest_session() -> None:
    tastes = ShopperTastes(Shop(CONFIG))
    tastes.observe(_view("sku-apparel.coat-1", "ses-1"))
    assert tastes.of(_offer_after(_view("sku-apparel.coat-1", "ses-1"))) is None
    tastes.observe(_view("sku-apparel.coat-2", "ses-1", customer="cust-000003"))
    tastes.observe(_view("sku-apparel.coat-3", "ses-2"))  # the next session, anonymous again
    taste = tastes.of(_offer_after(_view("sku-apparel.coat-3", "ses-2")))
    assert taste is not None and taste.anchors == ("sku-apparel.coat-3",)
    assert taste.favourites == make_customer(tastes.shop, 3, False).favourites
    earlier = tastes.of(_offer_after(_view("x", "ses-1", customer="cust-000003")))
    assert earlier is not None and earlier.anchors == (), "ses-1 is forgotten"
    assert tastes.of(_offer_after(_view("x", "ses-1", customer="cust-999999"))) is None
    assert customer_index("cust-000042") == 42 and customer_index("c-1") is None
