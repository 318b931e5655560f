"""One shopping session: landing, browsing, searching, carts, checkout, leaving."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from insession.schemas.events import (
    CartAdd,
    CartRemove,
    CheckoutStart,
    Consent,
    Dwell,
    Event,
    IdentityLink,
    OrderLine,
    PageView,
    ProductView,
    Purchase,
    Search,
)
from insession.simulator.catalogue import Product, Shop
from insession.simulator.config import MINUTE_MS
from insession.simulator.draws import new_device_id, new_event_id
from insession.simulator.shoppers import Customer

LOYAL_PURCHASE_FACTOR = 3.5
CART_PARTNER_RATE = 0.65
"""Further cart lines that go with something already in the cart (completing the look)."""
BROWSE_FOLLOW_RATE = 0.35
"""Browsing clicks that follow from the product just seen: to a partner or a similar one."""
FOLLOW_PARTNER_SHARE = 0.4
"""Of those, the share that go to a partner (the rest to a similar product)."""
MAX_PAUSE_MS = 10 * MINUTE_MS
"""No pause inside a session is longer, so a session is never cut in two by the engine."""
CURRENCY = "EUR"
FAILED_QUERIES = (
    "vegan leathr jaket",
    "linen jumpsuit petite",
    "gore-tex hiking boots",
    "mens tuxedo 58",
    "kids raincoat",
    "cashmere poncho xxl",
    "wedding guest hat",
    "swimsuit",
    "trench coat tall 48",
    "sneakers size 47",
    "bridal veil",
    "snowboard jacket",
)
"""Searches that find nothing: typos, sizes out of range, things the shop does not sell."""
HELP_PAGES = ("delivery_info", "shipping", "returns", "help", "faq", "contact")
LOGIN_METHOD = {"store": "loyalty_card", "whatsapp": "other"}


class Session:
    """Builds one session's events in order, moving a clock forward seconds at a time."""

    def __init__(
        self, shop: Shop, customer: Customer, rng: random.Random, channel: str, start: int
    ) -> None:
        self.shop = shop
        self.config = shop.config
        self.customer = customer
        self.rng = rng
        self.channel = channel
        self.clock = start
        self.device = self._device(channel)
        self.session_id = f"ses-{self.rng.getrandbits(64):016x}"
        self.customer_id: str | None = None
        self.events: list[Event] = []
        self.deferred: list[Event] = []
        self.cart: dict[str, tuple[Product, int]] = {}
        self.seen: list[Product] = []
        self.bad_experience = False
        self.purchased = False
        self.revokes = False

    def _device(self, channel: str) -> str:
        """The device id of this channel; web cookies are sometimes cleared (a new device)."""
        devices = self.customer.devices
        if channel not in devices or (channel == "web" and self.rng.random() < 0.1):
            devices[channel] = new_device_id(self.rng)
        return devices[channel]

    # -- primitives

    def product(self) -> Product:
        return self.shop.product_for(self.customer.favourites, self.customer.price_band, self.rng)

    def next_product(self) -> Product:
        """The next product browsed: often one the last product leads to, else a fresh one."""
        if not self.seen or self.rng.random() >= BROWSE_FOLLOW_RATE:
            return self.product()
        last = self.seen[-1]
        if self.rng.random() < FOLLOW_PARTNER_SHARE and self.shop.partners(last):
            return self.rng.choice(self.shop.partners(last))
        return self.rng.choice(self.shop.similar(last))

    def partner_for_cart(self) -> Product | None:
        """Something that goes with what is in the cart and is not in it yet."""
        held = self.cart
        partners = [
            partner
            for product, _ in held.values()
            for partner in self.shop.partners(product)
            if partner.product_id not in held
        ]
        return self.rng.choice(partners) if partners else None

    def pause(self, median_s: float, sigma: float = 0.7) -> None:
        """Think time between clicks: lognormal seconds, capped well below the session gap."""
        ms = int(median_s * 1000 * self.rng.lognormvariate(0.0, sigma))
        self.clock += max(300, min(ms, MAX_PAUSE_MS))

    def emit(self, cls: Callable[..., Event], **fields: Any) -> Event:
        event = cls(
            event_id=new_event_id(self.rng),
            event_time=self.clock,
            channel=self.channel,
            customer_id=self.customer_id,
            anonymous_id=self.device,
            session_id=self.session_id,
            **fields,
        )
        self.events.append(event)
        return event

    def page(self, page_type: str, url: str | None = None, category: str | None = None) -> None:
        self.pause(6)
        self.emit(PageView, page_type=page_type, url=self._url(url), category=category)

    def _url(self, path: str | None) -> str | None:
        return path if self.channel == "web" else None

    def dwell(self, median_s: float, **fields: Any) -> None:
        """Report how long the page stayed in view, when the shopper moves on."""
        start = self.clock
        self.pause(median_s, sigma=0.9)
        self.emit(Dwell, dwell_ms=self.clock - start, **fields)

    def view(self, product: Product, *, linger_s: float = 20) -> None:
        self.pause(5)
        self.emit(
            ProductView,
            product_id=product.product_id,
            price=product.price,
            currency=CURRENCY,
            category=product.category,
            brand=product.brand,
        )
        self.seen.append(product)
        if self.rng.random() < 0.7:
            self.dwell(linger_s, product_id=product.product_id)

    def identify(self, method: str) -> None:
        """The shopper becomes known; consent is asked the first time they ever are."""
        if self.customer_id is not None:
            return
        self.pause(15)
        self.customer_id = self.customer.customer_id
        self.emit(IdentityLink, method=method)
        if self.channel == "app" and self.customer.app_logged_in:
            self.customer.app_session_kept = True
        self.ask_consent()

    def ask_consent(self) -> None:
        customer = self.customer
        if customer.identified:
            return
        customer.identified = True
        self.pause(4)
        if self.rng.random() < self.config.consent_rate:
            self.emit(Consent, granted=True, purpose="personalisation")
            if self.rng.random() < 0.4:
                self.emit(Consent, granted=True, purpose="marketing")
            self.revokes = self.rng.random() < self.config.revocation_rate
        elif self.rng.random() < 0.5:
            self.emit(Consent, granted=False, purpose="personalisation")

    # -- behaviours

    def land(self) -> None:
        """Social and chat sessions open on a shared product; web and app on a page."""
        if self.channel in ("instagram", "tiktok", "whatsapp"):
            self.view(self.product())
        elif self.channel == "store":
            self.page("store_kiosk")
        else:
            self.page("home", "/")

    def browse(self) -> None:
        for _ in range(self.rng.randint(1, 7)):
            if self.rng.random() < 0.3:
                category = self.rng.choice(self.customer.favourites)
                self.page("category", f"/c/{category.replace('.', '/')}", category)
            self.view(self.next_product())

    def search(self) -> None:
        """Searches, retried after failures: a run of failures is a struggling shopper."""
        failed = False
        for _ in range(self.rng.randint(1, 4)):
            fail_p = 0.55 if failed else self.config.failed_search_rate
            failed = self.rng.random() < fail_p
            self.pause(8)
            if failed:
                self.emit(Search, query=self.rng.choice(FAILED_QUERIES), result_count=0)
                continue
            product = self.product()
            query = self.rng.choice((product.name, product.name.split(" ", 1)[1], product.brand))
            self.emit(Search, query=query, result_count=self.rng.randint(3, 140))
            self.view(product)
        if failed and self.rng.random() < 0.5:
            self.help_hunt()

    def help_hunt(self) -> None:
        """Hunting for delivery costs or help: two to four help pages in a row."""
        self.bad_experience = True
        for page_type in self.rng.sample(HELP_PAGES, self.rng.randint(2, 4)):
            self.page(page_type, f"/help/{page_type.replace('_', '-')}")
            if self.rng.random() < 0.5:
                self.dwell(25, page_type=page_type)

    def hesitate(self) -> Product:
        """Back to the same product three to five times, comparing others in between."""
        product = self.product()
        for _ in range(self.rng.randint(3, 5)):
            self.view(product, linger_s=35)
            if self.rng.random() < 0.5:
                self.view(self.next_product())
        return product

    def add(self, product: Product) -> None:
        self.pause(6)
        quantity = 2 if self.rng.random() < 0.08 else 1
        held = self.cart.get(product.product_id)
        self.cart[product.product_id] = (product, quantity + (held[1] if held else 0))
        self.emit(
            CartAdd,
            product_id=product.product_id,
            quantity=quantity,
            unit_price=product.price,
            currency=CURRENCY,
            category=product.category,
        )

    def remove(self) -> None:
        product_id = self.rng.choice(sorted(self.cart))
        _, quantity = self.cart.pop(product_id)
        self.pause(10)
        self.emit(CartRemove, product_id=product_id, quantity=quantity)

    def fill_cart(self, favourite: Product | None) -> None:
        if favourite is None:
            favourite = self.seen[-1] if self.seen else self.product()
        self.add(favourite)
        for _ in range(self.rng.choice((0, 0, 1, 1, 2))):
            partner = self.partner_for_cart() if self.rng.random() < CART_PARTNER_RATE else None
            product = partner or self.product()
            self.view(product)
            self.add(product)

    def cart_value(self) -> float:
        return round(sum(p.price * q for p, q in self.cart.values()), 2)

    def checkout(self) -> None:
        self.pause(12)
        self.emit(CheckoutStart, cart_value=self.cart_value(), currency=CURRENCY)

    def buy(self) -> None:
        """Checkout and pay; guests identify themselves with their e-mail at checkout."""
        if len(self.cart) > 1 and self.rng.random() < 0.15:
            self.remove()
        self.checkout()
        if self.customer_id is None:
            self.identify(LOGIN_METHOD.get(self.channel, "checkout"))
        self.pause(45)
        customer = self.customer
        customer.orders += 1
        lines = tuple(
            OrderLine(product_id=p.product_id, quantity=q, unit_price=p.price, category=p.category)
            for p, q in self.cart.values()
        )
        self.purchased = True
        self.emit(
            Purchase,
            order_id=f"ord-{customer.index:06d}-{customer.orders:03d}",
            lines=lines,
            total=self.cart_value(),
            currency=CURRENCY,
        )
        customer.bought.extend(p for p, _ in self.cart.values())
        self.cart.clear()
        self.page("order_confirmation", "/checkout/confirmation")

    def abandon(self) -> None:
        """Leave with a full cart: after removing things, at checkout, or at delivery costs."""
        self.bad_experience = self.rng.random() < 0.3
        ending = self.rng.random()
        if ending < 0.3:
            self.remove()
            if self.cart and self.rng.random() < 0.5:
                self.remove()
        elif ending < 0.6:
            self.checkout()
        elif ending < 0.85:
            self.page("delivery_info", "/help/delivery")
            self.dwell(30, page_type="delivery_info")
        self.pause(20)  # last look, then the tab is closed

    def login_now(self) -> None:
        self.identify(LOGIN_METHOD.get(self.channel, "login"))


def play_session(session: Session) -> None:
    """One session: landing, browsing, then what this visit is about, then leaving."""
    rng = session.rng
    config = session.config
    customer = session.customer
    if session.channel == "app" and customer.app_session_kept:
        session.customer_id = customer.customer_id  # remembered login
    buys_p = config.purchase_rate * (LOYAL_PURCHASE_FACTOR if customer.loyal else 1.0)
    outcome = rng.random()
    buying = outcome < min(buys_p, 1.0 - config.cart_abandonment_rate)
    abandoning = not buying and outcome < buys_p + config.cart_abandonment_rate
    logs_in = rng.random() < config.login_rate or (
        session.channel == "app" and customer.app_logged_in
    )
    session.land()
    if logs_in and rng.random() < 0.5:
        session.login_now()
    session.browse()
    if session.channel != "store" and rng.random() < config.search_rate:
        session.search()
    if rng.random() < config.help_hunt_rate:
        session.help_hunt()
    favourite = session.hesitate() if rng.random() < config.hesitation_rate else None
    if logs_in:
        session.login_now()
    if buying or abandoning:
        session.fill_cart(favourite)
        if buying:
            session.buy()
        else:
            session.abandon()
    elif rng.random() < 0.3:
        session.browse()
