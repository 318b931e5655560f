"""Session state: gap-based sessions, cart contents, searches, sentiment decay, feedback."""

from __future__ import annotations

import dataclasses
import pickle

import orjson
import pytest
from insession.models.policy import GreedyPolicy
from insession.models.scorer import BaselineScorer
from insession.operators.duplicates import RECENT_EVENT_IDS
from insession.operators.personalise import Personaliser
from insession.operators.session import (
    CART_LINES,
    CATEGORIES,
    OWNED_PRODUCTS,
    RECENT_PRODUCTS,
    SESSION_OFFERS,
    VIEWED_PRODUCTS,
    CustomerState,
    SessionConfig,
)
from insession.operators.summary import customer_summary
from insession.operators.withdrawal import LIVE_OFFERS
from insession.schemas.catalogue import load_catalogue
from insession.schemas.events import CHANNELS

from tests.operators.scenario import CATALOGUE, Shopper


def test_events_within_the_gap_share_a_session_and_a_longer_pause_opens_a_new_one() -> None:
    she = Shopper()
    she.view("a")
    she.view("b", after_s=29 * 60)
    assert she.state.sessions == 1
    she.view("c", after_s=30 * 60 + 1)
    assert she.state.sessions == 2
    assert she.state.session is not None and list(she.state.session.recent_products) == ["c"]


def test_cart_lines_and_value_follow_adds_removes_and_purchases() -> None:
    she = Shopper()
    she.add("a", price=10.0)
    she.add("a", price=12.0)
    she.add("b", price=5.0)
    session = she.state.session
    assert session is not None
    assert session.cart["a"].quantity == 2 and session.cart_value == 2 * 12.0 + 5.0
    she.remove("a")
    assert session.cart["a"].quantity == 1
    she.remove("a")
    assert "a" not in session.cart
    she.buy("b", price=5.0, category="home.lamp")
    assert session.cart == {} and session.purchased
    assert she.state.orders == 1 and she.state.lifetime_value == 5.0
    assert "b" in she.state.owned and she.state.purchased_categories == {"home.lamp": 1}


def test_price_band_is_the_mean_price_viewed() -> None:
    she = Shopper()
    she.view("a", price=100.0)
    she.view("b", price=50.0)
    assert she.state.session is not None and she.state.session.mean_price == 75.0


def test_sentiment_blends_posts_and_fades_with_its_half_life() -> None:
    she = Shopper()
    she.post(score=-1.0)
    config = SessionConfig()
    at_post = she.state.sentiment_now(she.now, config)
    assert at_post == -0.5
    week_later = she.state.sentiment_now(she.now + config.sentiment_half_life_ms, config)
    assert abs(week_later - at_post / 2) < 1e-9


def test_consent_and_social_posts_do_not_open_sessions() -> None:
    she = Shopper()
    she.consent()
    she.post(score=0.5)
    assert she.state.sessions == 0 and she.state.consent is True


def test_feedback_marks_the_offer_and_shown_never_overrides_a_click() -> None:
    she = Shopper()
    she.consent()
    offer = she.hesitate("boots")
    she.feedback(offer.offer_id, "clicked", after_s=1)
    she.feedback(offer.offer_id, "shown", after_s=1)
    assert she.state.session is not None
    assert she.state.session.offers[-1].outcome == "clicked"


def _sizes(she: Shopper) -> tuple[int, int]:
    """The state as a snapshot stores it, and the summary as Redis stores it, in bytes."""
    summary = customer_summary(she.state, she.now, SessionConfig())
    return len(pickle.dumps(she.state)), len(orjson.dumps(summary))


def _held(state: CustomerState) -> dict[str, tuple[int, int]]:
    """Every per-person collection an event may touch: (size, limit)."""
    session = state.session
    assert session is not None
    return {
        "cart": (len(session.cart), CART_LINES),
        "product_views": (len(session.product_views), VIEWED_PRODUCTS),
        "category_views": (len(session.category_views), CATEGORIES),
        "recent_products": (len(session.recent_products), RECENT_PRODUCTS),
        "offers": (len(session.offers), SESSION_OFFERS),
        "owned": (len(state.owned), OWNED_PRODUCTS),
        "purchased_categories": (len(state.purchased_categories), CATEGORIES),
        "live_offers": (len(state.live_offers), LIVE_OFFERS),
        "seen": (len(state.seen), RECENT_EVENT_IDS),
        "channels": (len(session.channels), len(CHANNELS)),
    }


def test_ten_thousand_distinct_cart_adds_keep_state_and_summary_small() -> None:
    she = Shopper()
    she.consent()
    prices = [5.0 + n % 17 for n in range(10_000)]
    for n, price in enumerate(prices):
        she.add(f"sku-{n:05}", price=price, category=f"cat-{n:05}", after_s=1)
        if n == 999:
            at_1000 = _sizes(she)
    at_10000 = _sizes(she)
    session = she.state.session
    assert session is not None and session.events == 10_000, "one session throughout"
    assert list(session.cart) == [f"sku-{n:05}" for n in range(10_000 - CART_LINES, 10_000)]
    assert session.cart_value == pytest.approx(sum(prices[-CART_LINES:]))
    state_bytes, summary_bytes = at_10000
    assert summary_bytes < 4_000 and state_bytes < 24_000, at_10000
    # Nothing grows with the events any more: what the 10,000th event works on is no bigger
    # than what the 1,000th did (only the event ids and times gain a digit).
    assert state_bytes <= 1.02 * at_1000[0] and summary_bytes <= 1.02 * at_1000[1], (
        at_1000,
        at_10000,
    )
    assert all(size <= limit for size, limit in _held(she.state).values()), _held(she.state)


def test_a_flood_of_views_searches_and_purchases_is_bounded_too() -> None:
    she = Shopper()
    she.consent()
    for n in range(3_000):
        she.view(f"sku-{n}", category=f"cat-{n % 500}", after_s=1)
        she.search(f"query {n}", results=n % 2, after_s=1)
        she.page("category", category=f"cat-{n}", channel=CHANNELS[n % len(CHANNELS)], after_s=1)
        if n % 10 == 0:
            she.buy(f"sku-{n}", category=f"bought-{n}", after_s=1)
    held = _held(she.state)
    assert all(size <= limit for size, limit in held.values()), held
    assert held["product_views"][0] == VIEWED_PRODUCTS and held["owned"][0] == OWNED_PRODUCTS
    assert _sizes(she)[1] < 4_000


def test_the_cart_keeps_the_lines_added_most_recently() -> None:
    she = Shopper()
    for n in range(CART_LINES):
        she.add(f"sku-{n}", price=10.0)
    she.add("sku-0", price=10.0)  # added again: now the most recent line, with 2 units
    she.add("new", price=1.0)  # one line too many: the least recent (sku-1) goes
    session = she.state.session
    assert session is not None
    assert "sku-1" not in session.cart and session.cart["sku-0"].quantity == 2
    assert len(session.cart) == CART_LINES
    assert session.cart_value == 10.0 * (CART_LINES - 2) + 2 * 10.0 + 1.0
    she.remove("sku-1")  # a line no longer kept: nothing to take out
    assert session.cart_value == 10.0 * CART_LINES + 1.0


def test_the_top_categories_survive_a_flood_of_new_ones() -> None:
    she = Shopper()
    for _ in range(5):
        she.view("coat", category="apparel.coat")
    for n in range(1_000):
        she.view(f"p{n}", category=f"one-off-{n}")
    session = she.state.session
    assert session is not None and len(session.category_views) == CATEGORIES
    assert session.category_views["apparel.coat"] == 5
    assert "one-off-999" in session.category_views, "the newest of the least counted stays"


def test_a_late_consent_does_not_overturn_a_newer_one() -> None:
    she = Shopper()
    she.consent(True)
    earlier = she.now - 60_000
    she.consent(False, at=earlier)
    assert she.state.consent is True and she.state.consent_at == she.now


def test_a_contact_policy_beyond_what_a_session_remembers_is_refused() -> None:
    catalogue = load_catalogue(CATALOGUE)
    policy = dataclasses.replace(catalogue.policy, max_offers_per_session=SESSION_OFFERS)
    with pytest.raises(ValueError, match="max_offers_per_session"):
        Personaliser(dataclasses.replace(catalogue, policy=policy), GreedyPolicy(BaselineScorer()))
