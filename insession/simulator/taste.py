"""What a simulated shopper likes right now: hidden tastes and the products in play.

The closed loop's responder needs to know the shopper behind an offer, which the engine
never sees: their favourite categories and price band (drawn again from the customer's own
random stream) and the products of their moment (cart, views, last order), followed from the
simulated events as they pass.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from insession.schemas.events import CartAdd, CartRemove, Event, Offer, ProductView, Purchase
from insession.simulator.catalogue import Shop
from insession.simulator.config import DAY_MS
from insession.simulator.shoppers import Customer, customer_index, make_customer

RECENT_VIEWS = 3
"""Products viewed last in the session that count as what the shopper is looking at."""
JUST_BOUGHT_MS = DAY_MS
"""For this long after an order its products count as just bought."""


@dataclass(frozen=True, slots=True)
class Taste:
    """A shopper as the hidden truth sees them, in the shop they shop in.

    `anchors` are the products in play: in the cart, just bought, being viewed.
    """

    shop: Shop
    favourites: tuple[str, ...]
    price_band: int
    anchors: tuple[str, ...] = ()


@dataclass(slots=True)
class _SessionProducts:
    customer_id: str | None = None
    cart: dict[str, None] = field(default_factory=dict)
    viewed: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT_VIEWS))


class ShopperTastes:
    """Follows the simulated events and tells the taste of the shopper behind an offer.

    Session products are kept for each device's latest session only, so memory grows with
    devices, not with sessions.
    """

    def __init__(self, shop: Shop) -> None:
        self.shop = shop
        self._customers: dict[str, Customer] = {}
        self._sessions: dict[str, _SessionProducts] = {}
        self._device_session: dict[str, str] = {}
        self._device_customer: dict[str, str] = {}
        self._last_order: dict[str, tuple[int, tuple[str, ...]]] = {}

    def observe(self, event: Event) -> None:
        """Take in one simulated event (events without a session only count as orders)."""
        if isinstance(event, Purchase) and event.customer_id is not None:
            products = tuple(line.product_id for line in event.lines)
            self._last_order[event.customer_id] = (event.event_time, products)
        session = self._session(event)
        if session is None:
            return
        if isinstance(event, ProductView):
            session.viewed.append(event.product_id)
        elif isinstance(event, CartAdd):
            session.cart[event.product_id] = None
        elif isinstance(event, CartRemove):
            session.cart.pop(event.product_id, None)
        elif isinstance(event, Purchase):
            session.cart.clear()

    def _session(self, event: Event) -> _SessionProducts | None:
        session_id, device = event.session_id, event.anonymous_id
        if session_id is None:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            session = self._sessions[session_id] = _SessionProducts()
            if device is not None:
                previous = self._device_session.get(device)
                if previous is not None:
                    del self._sessions[previous]
                self._device_session[device] = session_id
        if event.customer_id is not None:
            session.customer_id = event.customer_id
            if device is not None:
                self._device_customer[device] = event.customer_id
        return session

    def of(self, offer: Offer) -> Taste | None:
        """The taste of the shopper the offer went to (None: the truth cannot tell who)."""
        session = self._sessions.get(offer.session_id) if offer.session_id else None
        customer_id = offer.customer_id or (session.customer_id if session else None)
        if customer_id is None and offer.anonymous_id is not None:
            customer_id = self._device_customer.get(offer.anonymous_id)
        customer = self._customer(customer_id) if customer_id else None
        if customer is None:
            return None
        anchors = list(session.cart) if session else []
        bought_at, bought = self._last_order.get(customer.customer_id, (0, ()))
        if offer.decided_at - bought_at <= JUST_BOUGHT_MS:
            anchors.extend(bought)
        if session:
            anchors.extend(session.viewed)
        return Taste(
            self.shop, customer.favourites, customer.price_band, tuple(dict.fromkeys(anchors))
        )

    def _customer(self, customer_id: str) -> Customer | None:
        """The simulated customer behind an id, drawn again from their own stream."""
        customer = self._customers.get(customer_id)
        if customer is None:
            index = customer_index(customer_id)
            if index is None or index >= self.shop.config.customers:
                return None
            customer = self._customers[customer_id] = make_customer(self.shop, index, False)
        return customer
