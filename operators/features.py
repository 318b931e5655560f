"""The context a scorer sees: a flat dict of session features, built from customer state."""

from __future__ import annotations

from datetime import UTC, datetime

from insession.operators.session import CustomerState, SessionConfig
from insession.schemas.events import Event
from insession.schemas.features import Features


def session_features(
    state: CustomerState, event: Event, signals: tuple[str, ...], config: SessionConfig
) -> Features:
    """Numeric and categorical features of the moment of decision (no identifiers: no PII)."""
    session = state.session
    features: Features = {
        "channel": event.channel,
        "trigger": event.type,
        "hour": float(datetime.fromtimestamp(event.event_time / 1000, UTC).hour),
        "known_customer": 1.0 if state.customer_id is not None else 0.0,
        "orders": float(state.orders),
        "lifetime_value": state.lifetime_value,
        "sentiment": state.sentiment_now(event.event_time, config),
    }
    for signal in signals:
        features[f"signal_{signal}"] = 1.0
    if session is not None:
        features.update(
            {
                "session_events": float(session.events),
                "session_minutes": (session.last_event_at - session.started_at) / 60_000,
                "distinct_products": float(len(session.product_views)),
                "failed_searches": float(session.failed_searches),
                "help_pages": float(session.help_page_views),
                "dwell_s": session.dwell_ms / 1000,
                "cart_lines": float(len(session.cart)),
                "cart_value": session.cart_value,
                "offers_this_session": float(len(session.offers)),
            }
        )
        if session.mean_price is not None:
            features["mean_price"] = session.mean_price
        if session.category_views:
            top = max(sorted(session.category_views), key=session.category_views.__getitem__)
            features["top_category"] = top
    return features
