"""Per-customer state: the current session (gap-based) and what outlives it.

`apply_event` is the one state transition: it folds an event into a `CustomerState` in place
(the keyed step owns its state, so copying per event would only cost time) and returns
whether the event opened a new session.

Every collection kept per person is bounded (the limits below), so what one person sends,
shopper or bot, cannot make the engine hold more, nor make each of their events cost more:
ten thousand distinct products added to one cart keep the state and its Redis summary at a
few kilobytes. Product ids and categories are interned as they enter a state: every shopper who
viewed a product holds the one string, not a copy decoded from each event.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from sys import intern
from typing import TYPE_CHECKING, TypeVar

from insession.operators.duplicates import RecentIds
from insession.schemas.events import (
    CartAdd,
    CartRemove,
    CheckoutStart,
    Consent,
    Dwell,
    Event,
    OfferFeedback,
    PageView,
    ProductView,
    Purchase,
    Search,
    SocialPost,
)

if TYPE_CHECKING:
    from insession.operators.feedback_join import FeedbackJoin
    from insession.operators.withdrawal import LiveOffer

RECENT_PRODUCTS = 20
"""Products viewed last, in order, per session (the summary shows the last 5)."""
OWNED_PRODUCTS = 200
"""Products bought, per person: offers of items already owned are not made; older purchases
are the least likely to matter, so the oldest is forgotten first."""
CART_LINES = 50
"""Distinct lines a cart keeps: the most recently added ones. Real carts hold a handful of
lines, and many shops cap them at 50 to 100; a line not added to while 50 others were is what
the shopper has forgotten, and offers should answer what they are choosing now. The cart value
is that of the lines kept."""
VIEWED_PRODUCTS = 100
"""Distinct products whose views are counted per session (hesitation is viewing one product
again and again); the product viewed least recently is forgotten first."""
CATEGORIES = 20
"""Distinct categories counted per session (views) and per person (purchases); the least
counted is forgotten first (the oldest of equals), so the top categories stay."""
SESSION_OFFERS = 32
"""Offers remembered per session for the contact policy (limits, cool-downs) and the summary;
the policy allows a few per session (`max_offers_per_session`, 3 in the shipped catalogue), and
`Personaliser` refuses a catalogue that allows as many as this."""
HELP_PAGES = frozenset({"delivery_info", "shipping", "returns", "help", "faq", "contact"})


T = TypeVar("T")


def push_bounded(items: list[T], item: T, limit: int) -> None:
    """Append `item`, forgetting the oldest beyond `limit`. Lists, not bounded deques: an
    empty deque takes 600 bytes, and each person holds three of them."""
    items.append(item)
    if len(items) > limit:
        del items[0]


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """How sessions are cut and how fast sentiment fades."""

    gap_ms: int = 30 * 60 * 1000
    sentiment_half_life_ms: int = 7 * 24 * 3600 * 1000


@dataclass(slots=True)
class CartLine:
    """One product in the cart."""

    quantity: int
    unit_price: float | None
    category: str | None


@dataclass(slots=True)
class ShownOffer:
    """An offer made in this session, and what became of it."""

    offer_id: str
    action_id: str
    kind: str
    decided_at: int
    outcome: str | None = None


@dataclass(slots=True)
class SessionState:
    """What the shopper did in the current session."""

    number: int
    started_at: int
    last_event_at: int
    events: int = 0
    channels: tuple[str, ...] = ()
    """The channels of the session so far (a tuple: most sessions have one, and an empty set
    alone takes 216 bytes)."""
    recent_products: list[str] = field(default_factory=list)
    """The latest product views, oldest first (`RECENT_PRODUCTS` at most)."""
    product_views: dict[str, int] = field(default_factory=dict)
    category_views: dict[str, int] = field(default_factory=dict)
    price_sum: float = 0.0
    price_count: int = 0
    searches: int = 0
    failed_searches: int = 0
    failed_search_run: int = 0
    help_page_views: int = 0
    dwell_ms: int = 0
    cart: dict[str, CartLine] = field(default_factory=dict)
    """Lines by product, least recently added first (`CART_LINES` at most)."""
    cart_removals: int = 0
    checkout_started: bool = False
    purchased: bool = False
    offers: list[ShownOffer] = field(default_factory=list)
    """Offers made in the session, oldest first (`SESSION_OFFERS` at most)."""

    @property
    def cart_value(self) -> float:
        return sum(line.quantity * (line.unit_price or 0.0) for line in self.cart.values())

    @property
    def mean_price(self) -> float | None:
        """The price band the shopper browses in: mean price of products viewed."""
        return self.price_sum / self.price_count if self.price_count else None


@dataclass(slots=True)
class CustomerState:
    """Everything the engine keeps about one person (customer or not-yet-known device)."""

    person: str
    customer_id: str | None = None
    anonymous_id: str | None = None
    consent: bool | None = None
    sentiment: float = 0.0
    sentiment_at: int = 0
    orders: int = 0
    lifetime_value: float = 0.0
    owned: list[str] = field(default_factory=list)
    """Products bought, oldest first (`OWNED_PRODUCTS` at most)."""
    purchased_categories: dict[str, int] = field(default_factory=dict)
    last_purchase_at: int | None = None
    session: SessionState | None = None
    sessions: int = 0
    pending: FeedbackJoin | None = None
    """Decisions waiting for their outcome (`operators.feedback_join`), when learning is on."""
    live_offers: list[LiveOffer] = field(default_factory=list)
    """Offers made that needed consent and may still be showing: a revoke withdraws them
    (`operators.withdrawal`, which bounds them and keeps only what withdrawing needs)."""
    seen: RecentIds = field(default_factory=RecentIds)
    """The person's recent event ids, to drop redelivered events (`operators.duplicates`)."""
    consent_at: int = 0
    """Event time of the consent event `consent` comes from: an older one arriving late does
    not overturn it."""
    item_key: str = ""
    """A random key the item knowledge knows the person's sessions by
    (`operators.recommendations.session_token`); gone with the state at erasure."""
    shelf: tuple[str, ...] = ()
    """The items of the person's last "for you" shelf, best first."""
    shelf_top: tuple[str | None, ...] = ()
    """The seeds of its first items, with consent (`Personaliser.refresh_shelf`): what a
    "for you" offer shows of the shelf until it is computed again. (A state snapshotted
    before held `Recommendation`s here; `Personaliser.top_of_shelf` reads both.)"""
    shelf_due: bool = False
    """A product event came since the shelf was computed."""
    shelf_seed: str | None = None
    """The product the last product event named (a view, a cart change): the seed of the
    contextual shelf."""

    def sentiment_now(self, now: int, config: SessionConfig) -> float:
        """The decayed sentiment score at `now`, in [-1, 1]."""
        if self.sentiment_at == 0:
            return 0.0
        elapsed = max(0, now - self.sentiment_at)
        return self.sentiment * math.exp(-math.log(2) * elapsed / config.sentiment_half_life_ms)


def _ensure_session(state: CustomerState, event: Event, config: SessionConfig) -> bool:
    session = state.session
    if session is not None and event.event_time - session.last_event_at <= config.gap_ms:
        return False
    state.sessions += 1
    state.session = SessionState(
        number=state.sessions, started_at=event.event_time, last_event_at=event.event_time
    )
    return True


def count_bounded(counts: dict[str, int], key: str, limit: int) -> None:
    """Count one more `key`; a new key beyond `limit` replaces the least counted one (the
    oldest of equals: dicts keep insertion order and `min` returns the first)."""
    if key in counts:
        counts[key] += 1
        return
    if len(counts) >= limit:
        del counts[min(counts, key=counts.__getitem__)]
    counts[key] = 1


def _view_category(session: SessionState, category: str | None) -> None:
    if category:
        count_bounded(session.category_views, intern(category), CATEGORIES)


def _view_product(session: SessionState, product_id: str) -> None:
    """Count a view, keeping the `VIEWED_PRODUCTS` viewed most recently."""
    views = session.product_views
    views[product_id] = views.pop(product_id, 0) + 1  # re-inserted: now the most recent
    if len(views) > VIEWED_PRODUCTS:
        del views[next(iter(views))]


def _add_to_cart(session: SessionState, event: CartAdd) -> None:
    """Add units; the line becomes the most recent, and the least recent goes beyond
    `CART_LINES`."""
    cart = session.cart
    line = cart.pop(event.product_id, None)
    if line is None:
        category = intern(event.category) if event.category is not None else None
        line = CartLine(event.quantity, event.unit_price, category)
    else:
        line.quantity += event.quantity
        line.unit_price = event.unit_price if event.unit_price is not None else line.unit_price
    cart[intern(event.product_id)] = line
    if len(cart) > CART_LINES:
        del cart[next(iter(cart))]


def apply_event(state: CustomerState, event: Event, config: SessionConfig) -> bool:
    """Fold one event into the customer's state; True when it opened a new session.

    Consent, feedback and social posts are facts about the person, not session activity:
    they update state without opening or extending a session.
    """
    if event.customer_id is not None:
        state.customer_id = event.customer_id
    if event.anonymous_id is not None:
        state.anonymous_id = event.anonymous_id
    if isinstance(event, Consent):
        if event.purpose == "personalisation" and event.event_time >= state.consent_at:
            state.consent = event.granted
            state.consent_at = event.event_time
        return False
    if isinstance(event, SocialPost):
        _apply_sentiment(state, event, config)
        return False
    if isinstance(event, OfferFeedback):
        _apply_feedback(state, event)
        return False

    opened = _ensure_session(state, event, config)
    session = state.session
    assert session is not None
    session.events += 1
    session.last_event_at = max(session.last_event_at, event.event_time)
    if event.channel not in session.channels:
        session.channels = (*session.channels, event.channel)

    if isinstance(event, ProductView):
        product = intern(event.product_id)
        push_bounded(session.recent_products, product, RECENT_PRODUCTS)
        _view_product(session, product)
        _view_category(session, event.category)
        if event.price is not None:
            session.price_sum += event.price
            session.price_count += 1
    elif isinstance(event, PageView):
        if event.page_type in HELP_PAGES:
            session.help_page_views += 1
        _view_category(session, event.category)
    elif isinstance(event, Search):
        session.searches += 1
        if event.result_count == 0:
            session.failed_searches += 1
            session.failed_search_run += 1
        else:
            session.failed_search_run = 0
    elif isinstance(event, Dwell):
        session.dwell_ms += event.dwell_ms
    elif isinstance(event, CartAdd):
        _add_to_cart(session, event)
    elif isinstance(event, CartRemove):
        session.cart_removals += 1
        line = session.cart.get(event.product_id)
        if line is not None:
            line.quantity -= event.quantity
            if line.quantity <= 0:
                del session.cart[event.product_id]
    elif isinstance(event, CheckoutStart):
        session.checkout_started = True
    elif isinstance(event, Purchase):
        _apply_purchase(state, session, event)
    return opened


def _apply_purchase(state: CustomerState, session: SessionState, event: Purchase) -> None:
    session.purchased = True
    state.orders += 1
    state.last_purchase_at = event.event_time
    total = event.total
    if total is None:
        total = sum(line.quantity * (line.unit_price or 0.0) for line in event.lines)
    state.lifetime_value += total
    for line in event.lines:
        if line.product_id not in state.owned:
            push_bounded(state.owned, intern(line.product_id), OWNED_PRODUCTS)
        session.cart.pop(line.product_id, None)
        if line.category:
            count_bounded(state.purchased_categories, intern(line.category), CATEGORIES)


def _apply_sentiment(state: CustomerState, event: SocialPost, config: SessionConfig) -> None:
    """Blend the post's score into the decayed running sentiment (newer posts weigh more)."""
    if event.score is None:
        return
    current = state.sentiment_now(event.event_time, config)
    state.sentiment = max(-1.0, min(1.0, 0.5 * current + 0.5 * event.score))
    state.sentiment_at = event.event_time


def _apply_feedback(state: CustomerState, event: OfferFeedback) -> None:
    session = state.session
    if session is None:
        return
    for shown in session.offers:
        if shown.offer_id == event.offer_id:
            # "shown" never overwrites a stronger outcome that arrived first.
            if event.outcome != "shown" or shown.outcome is None:
                shown.outcome = event.outcome
            return
