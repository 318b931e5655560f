"""What to simulate: SimulationConfig, its validation and defaults, and the time units."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from insession.schemas.events import CHANNELS

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
DEFAULT_START_MS = int(datetime(2025, 3, 3, tzinfo=UTC).timestamp() * 1000)
DEFAULT_CHANNEL_MIX: Mapping[str, float] = {
    "web": 0.46,
    "app": 0.34,
    "instagram": 0.06,
    "tiktok": 0.04,
    "whatsapp": 0.04,
    "store": 0.06,
}


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """What to simulate; every rate is a probability in [0, 1].

    Per-session rates say how often a session does something; per-customer rates how many
    customers do something at all. The same config always gives the same events.
    """

    seed: int = 0
    customers: int = 1000
    sessions_per_customer: float = 4.0
    """Mean sessions per customer; loyal customers have about three times as many."""
    max_events: int | None = None
    """Stop after this many messages (None: when every customer's timeline is done)."""
    start_ms: int = DEFAULT_START_MS
    days: float = 7.0
    channel_mix: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_CHANNEL_MIX))
    loyal_share: float = 0.12
    """Customers who visit and buy much more often (3+ orders: the loyalty scenario)."""
    consent_rate: float = 0.70
    """Customers granting personalisation consent when first identified."""
    revocation_rate: float = 0.03
    """Customers who granted consent and revoke it later."""
    login_rate: float = 0.35
    """Anonymous sessions in which the shopper logs in."""
    app_login_rate: float = 0.6
    """App users who stay logged in (their app sessions carry the customer id from the start)."""
    search_rate: float = 0.35
    failed_search_rate: float = 0.2
    """Searches with no results (a failed search makes the next one likelier to fail)."""
    help_hunt_rate: float = 0.08
    """Sessions in which the shopper hunts through delivery/help pages."""
    hesitation_rate: float = 0.12
    purchase_rate: float = 0.08
    """Sessions ending in a purchase (loyal customers' sessions: 3.5 times as often)."""
    cart_abandonment_rate: float = 0.15
    """Sessions ending with items left in the cart (or dropped at checkout)."""
    negative_post_rate: float = 0.02
    """Sessions followed by a negative social post (four times likelier after a bad one)."""
    positive_post_rate: float = 0.03
    """Sessions followed by a positive social post (three times likelier after a purchase)."""
    scored_post_rate: float = 0.2
    """Posts arriving with a score from their source; the engine scores the others' text."""
    social_linked_rate: float = 0.5
    """Customers whose social handle is known, so their posts carry their customer id."""
    public_posts_per_customer: float = 0.1
    """Posts by people who are not customers (author handle only), per customer simulated."""
    erasure_rate: float = 0.005
    """Customers asking to be forgotten, near the end of the simulated period."""
    malformed_rate: float = 0.0
    """Click-stream messages sent malformed (dead-letter demos): bytes instead of events."""

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            if name.endswith(("_rate", "_share")):
                value = getattr(self, name)
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.purchase_rate + self.cart_abandonment_rate > 1.0:
            raise ValueError("purchase_rate + cart_abandonment_rate must be at most 1")
        if self.customers < 0 or (self.max_events is not None and self.max_events < 0):
            raise ValueError("customers and max_events must not be negative")
        if self.sessions_per_customer <= 0 or self.days <= 0:
            raise ValueError("sessions_per_customer and days must be positive")
        unknown = sorted(set(self.channel_mix) - set(CHANNELS))
        if unknown or not any(w > 0 for w in self.channel_mix.values()):
            raise ValueError(f"channel_mix needs positive weights of known channels: {unknown}")

    @property
    def end_ms(self) -> int:
        """End of the simulated period (sessions start before it; a few events spill over)."""
        return self.start_ms + int(self.days * DAY_MS)


def parse_start(text: str) -> int:
    """A start time as epoch ms: an ISO date or date-time (UTC unless it says otherwise)."""
    if text.isdigit():
        return int(text)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
