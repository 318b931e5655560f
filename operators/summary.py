"""The compact view of a customer that storefronts read from Redis (no raw events, no PII)."""

from __future__ import annotations

from typing import Any

from insession.operators.session import CustomerState, SessionConfig


def customer_summary(state: CustomerState, now: int, config: SessionConfig) -> dict[str, Any]:
    """What a storefront needs to personalise a page: session, cart, sentiment, offers."""
    session = state.session
    summary: dict[str, Any] = {
        "customer_id": state.customer_id,
        "consent": state.consent,
        "orders": state.orders,
        "sentiment": round(state.sentiment_now(now, config), 4),
        "sessions": state.sessions,
        "updated_at": now,
    }
    if session is not None:
        summary["session"] = {
            "number": session.number,
            "started_at": session.started_at,
            "last_event_at": session.last_event_at,
            "events": session.events,
            "channels": sorted(session.channels),
            "recent_products": list(session.recent_products)[-5:],
            "top_categories": sorted(
                session.category_views, key=lambda c: (-session.category_views[c], c)
            )[:3],
            "mean_price": session.mean_price,
            "cart": {pid: line.quantity for pid, line in session.cart.items()},
            "cart_value": round(session.cart_value, 2),
            "failed_searches": session.failed_searches,
            "checkout_started": session.checkout_started,
            "purchased": session.purchased,
            "offers": [
                {"offer_id": o.offer_id, "action_id": o.action_id, "outcome": o.outcome}
                for o in session.offers
            ],
        }
    return summary
