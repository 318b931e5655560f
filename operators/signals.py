"""Recognising the situations from the field in a customer's state: decision points.

Each signal names a scenario of the catalogue (`operators.catalogue.SCENARIOS`); the first
one returned is the most important. Negative sentiment silences sales signals: a shopper
who is upset gets service, not a promotion.
"""

from __future__ import annotations

from dataclasses import dataclass

from insession.operators.session import CustomerState, SessionConfig
from insession.schemas.events import (
    CartAdd,
    CartRemove,
    CheckoutStart,
    Event,
    PageView,
    ProductView,
    Purchase,
    Search,
    SocialPost,
)

SALES_SIGNALS = frozenset({"browse", "hesitation", "cart_abandonment", "complementary", "loyalty"})


@dataclass(frozen=True, slots=True)
class SignalConfig:
    """Thresholds for each situation."""

    hesitation_views: int = 3
    struggle_failed_searches: int = 2
    struggle_help_pages: int = 2
    negative_sentiment: float = -0.3
    loyal_orders: int = 3
    browse_after_events: int = 3


def detect_signals(
    state: CustomerState,
    event: Event,
    config: SignalConfig,
    session_config: SessionConfig,
) -> tuple[str, ...]:
    """The scenarios this event makes relevant now, most important first; () = no decision."""
    session = state.session
    signals: list[str] = []
    if state.sentiment_now(event.event_time, session_config) <= config.negative_sentiment:
        signals.append("negative_sentiment")
    if isinstance(event, SocialPost) or session is None:
        return tuple(signals)

    if (
        isinstance(event, Search) and session.failed_search_run >= config.struggle_failed_searches
    ) or (isinstance(event, PageView) and session.help_page_views >= config.struggle_help_pages):
        signals.append("struggle")

    if isinstance(event, Purchase):
        signals.append("complementary")
        signals.append("post_purchase")
    elif (isinstance(event, CartRemove | CheckoutStart) and session.cart) or (
        isinstance(event, PageView) and session.cart and session.help_page_views
    ):
        signals.append("cart_abandonment")
    elif isinstance(event, ProductView):
        views = session.product_views.get(event.product_id, 0)
        if views >= config.hesitation_views and event.product_id not in session.cart:
            signals.append("hesitation")
        if state.purchased_categories:
            signals.append("complementary")
    if isinstance(event, ProductView | CartAdd):
        if state.orders >= config.loyal_orders:
            signals.append("loyalty")
        if session.events >= config.browse_after_events:
            signals.append("browse")

    if signals and signals[0] == "negative_sentiment":
        signals = [s for s in signals if s not in SALES_SIGNALS]
    return tuple(signals)
