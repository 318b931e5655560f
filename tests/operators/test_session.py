"""Session state: gap-based sessions, cart contents, searches, sentiment decay, feedback."""

from __future__ import annotations

from operators.session import SessionConfig
from tests.operators.scenario import Shopper


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
