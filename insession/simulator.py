"""A seeded generator of realistic multi-channel storefront traffic, for demos and load tests."""

from __future__ import annotations

import argparse
import gzip
import heapq
import io
import itertools
import math
import os
import random
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from insession.settings import Settings
from schemas.codec import encode
from schemas.events import (
    CHANNELS,
    STREAMS,
    CartAdd,
    CartRemove,
    CheckoutStart,
    Consent,
    Dwell,
    ErasureRequest,
    Event,
    IdentityLink,
    OrderLine,
    PageView,
    ProductView,
    Purchase,
    Search,
    SocialPost,
)

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
SESSION_GAP_MS = 30 * MINUTE_MS
"""The engine cuts sessions after 30 quiet minutes; the simulator keeps sessions further apart."""
LOYAL_PURCHASE_FACTOR = 3.5
MAX_PAUSE_MS = 10 * MINUTE_MS
"""No pause inside a session is longer, so a session is never cut in two by the engine."""
CURRENCY = "EUR"
DEFAULT_START_MS = int(datetime(2025, 3, 3, tzinfo=UTC).timestamp() * 1000)
DEFAULT_CHANNEL_MIX: Mapping[str, float] = {
    "web": 0.46,
    "app": 0.34,
    "instagram": 0.06,
    "tiktok": 0.04,
    "whatsapp": 0.04,
    "store": 0.06,
}
STREAM_OF = {kind: stream for stream, kinds in STREAMS.items() for kind in kinds}
MALFORMED_STREAM = "clickstream"

# --- the fashion catalogue ------------------------------------------------------------------

CATEGORIES: Mapping[str, tuple[float, tuple[str, ...]]] = {
    "apparel.jacket": (120.0, ("jacket", "leather jacket", "denim jacket", "bomber jacket")),
    "apparel.coat": (180.0, ("coat", "wool coat", "trench coat", "puffer coat")),
    "apparel.dress": (80.0, ("dress", "midi dress", "wrap dress", "linen dress")),
    "apparel.trousers": (70.0, ("trousers", "chinos", "wide-leg trousers", "cargo trousers")),
    "apparel.jeans": (90.0, ("jeans", "straight jeans", "skinny jeans", "mom jeans")),
    "apparel.scarf": (35.0, ("scarf", "silk scarf", "cashmere scarf", "wool scarf")),
    "shoes.sneakers": (110.0, ("sneakers", "white sneakers", "running shoes", "trainers")),
    "shoes.boots": (150.0, ("boots", "ankle boots", "chelsea boots", "knee-high boots")),
    "bags.handbag": (160.0, ("handbag", "tote bag", "crossbody bag", "shoulder bag")),
    "beauty.perfume": (70.0, ("perfume", "eau de parfum", "fragrance", "body mist")),
}
"""Category -> (typical price, what shoppers call it)."""
PRODUCTS_PER_CATEGORY = 40
BRANDS = ("Maison Nord", "Atelier Sud", "Linea", "Forma", "Oslo & Co", "Rue Verte")
COLOURS = ("black", "navy", "camel", "red", "white", "olive", "grey", "beige")
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
SOCIAL_PLATFORMS = ("instagram", "tiktok", "x")
SOCIAL_PLATFORM_WEIGHTS = (0.5, 0.3, 0.2)
PLATFORM_CHANNEL = {"instagram": "instagram", "tiktok": "tiktok", "x": "other"}
LOGIN_METHOD = {"store": "loyalty_card", "whatsapp": "other"}
HOUR_WEIGHTS = (
    1, 1, 1, 1, 1, 1, 2, 4, 6, 6, 7, 9, 10, 8, 7, 7, 8, 10, 12, 14, 14, 11, 6, 3,
)  # fmt: skip
"""Sessions per hour of the day (UTC, for shoppers in CET): lunch and evening peaks."""

NEGATIVE_POSTS = (
    "Ordered the {item} two weeks ago, still not here. Terrible service, no reply from the "
    "chat. So annoyed.",
    "Really disappointed with my {item}. The zip broke after two days. Never again.",
    "Worst customer service ever. Waited 45 minutes on hold about a refund for my {item}.",
    "The {item} looks nothing like the photos. Cheap fabric, awful fit. Returning it, so "
    "disappointed.",
    "Charged twice for my order and still no refund. This is unacceptable.",
    "Parcel marked as delivered but nothing arrived. So angry and fed up with this shop.",
    "Your website is so frustrating, the search can't find anything and the delivery costs "
    "are hidden until checkout. Terrible.",
    "Sizes are all over the place, the {item} is way too small. Sad, I hated sending it back.",
    "Delivery late again, third time. Useless courier, no apology. Really disappointed and "
    "annoyed.",
    "The {item} fell apart after one wash. Poor quality for that price, what a waste.",
)
"""Complaints as shoppers write them; VADER scores every one below -0.3 (tested)."""
POSITIVE_POSTS = (
    "Absolutely love my new {item}! Great quality and it arrived a day early",
    "Best {item} I've ever bought. Fits perfectly, thank you!",
    "Super happy with the service, they sorted my exchange in minutes. Amazing team!",
    "Obsessed with this {item}, so comfortable and stylish. Highly recommend!",
    "Fast delivery, beautiful packaging, and the {item} is gorgeous. Will definitely order again.",
    "Wore my new {item} to a wedding and got so many compliments. Love it!",
    "Great prices and lovely staff in the store today. Happy customer :)",
    "The {item} is perfect, exactly like the pictures. Great value, thanks!",
)
"""Praise; VADER scores every one above 0.3 (tested)."""
HASHTAGS = ("", "", " #ootd", " #fashion", " #style", " #newin")
HANDLE_WORDS = ("lena", "max", "sofia", "jonas", "mila", "noah", "emma", "luca", "ines", "tom")
HANDLE_SUFFIXES = (".style", "_wears", ".daily", "_fits", "", ".official", "_looks")


@dataclass(frozen=True, slots=True)
class Product:
    """A product of the catalogue: stable id, category and price."""

    product_id: str
    category: str
    price: float
    brand: str
    name: str


# --- configuration --------------------------------------------------------------------------


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


# --- people ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Customer:
    """One simulated person: who they are (drawn once) and what they have done so far."""

    index: int
    customer_id: str
    favourites: tuple[str, ...]
    price_band: int
    """log(price level / typical price) in tenths: -3 shops 26% below the typical price."""
    loyal: bool
    session_starts: list[int]
    primary_channel: str
    devices: dict[str, str]
    app_logged_in: bool
    handle: str
    social_linked: bool
    erasure: bool
    identified: bool = False
    """Known to the shop at least once: consent is asked then."""
    app_session_kept: bool = False
    """Logged in on the app and stays so: later app sessions carry the customer id at once."""
    orders: int = 0
    bought: list[Product] = field(default_factory=list)


def build_catalogue(seed: int) -> dict[str, tuple[Product, ...]]:
    """Products per category with stable ids and prices: the same seed, the same shop."""
    rng = random.Random(f"{seed}:catalogue")
    catalogue = {}
    for category, (typical, names) in CATEGORIES.items():
        products = []
        for n in range(1, PRODUCTS_PER_CATEGORY + 1):
            price = _shelf_price(typical * rng.lognormvariate(0.0, 0.45))
            name = f"{rng.choice(COLOURS)} {rng.choice(names)}"
            product_id = f"sku-{category}-{n}"
            products.append(Product(product_id, category, price, rng.choice(BRANDS), name))
        catalogue[category] = tuple(products)
    return catalogue


def _shelf_price(price: float) -> float:
    """Shops price at .95 and .00 endings, never below a few euros."""
    return max(4.95, math.floor(price) + 0.95) if price < 100 else float(5 * round(price / 5))


def _event_id(rng: random.Random) -> str:
    """A UUID-4 event id drawn from the customer's stream (uuid4() would not be repeatable)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _device_id(rng: random.Random) -> str:
    return f"dev-{rng.getrandbits(48):012x}"


def _pick(rng: random.Random, weights: Mapping[str, float]) -> str:
    return rng.choices(tuple(weights), tuple(weights.values()))[0]


class Shop:
    """The catalogue and the simulation's settings, shared by every customer."""

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self.catalogue = build_catalogue(config.seed)
        self.mix = {channel: w for channel, w in config.channel_mix.items() if w > 0}
        self._appeal: dict[tuple[str, int], tuple[tuple[Product, ...], list[float]]] = {}

    def product_for(self, customer: Customer, rng: random.Random) -> Product:
        """A product in a favourite category (mostly), near the customer's price band."""
        if rng.random() < 0.85:
            category = rng.choice(customer.favourites)
        else:
            category = rng.choice(tuple(CATEGORIES))
        products, cumulative = self._appealing(category, customer.price_band)
        return rng.choices(products, cum_weights=cumulative)[0]

    def _appealing(self, category: str, band: int) -> tuple[tuple[Product, ...], list[float]]:
        """Cumulative weights of a category's products for a price band (computed once).

        Weights fall off with the log distance from the band's price, so shoppers mostly see
        products they can afford and now and then something dearer or cheaper.
        """
        key = (category, band)
        cached = self._appeal.get(key)
        if cached is None:
            products = self.catalogue[category]
            target = CATEGORIES[category][0] * math.exp(band / 10)
            weights = [math.exp(-(math.log(p.price / target) ** 2) / 0.18) + 1e-3 for p in products]
            cached = self._appeal[key] = (products, list(itertools.accumulate(weights)))
        return cached


def _make_customer(shop: Shop, index: int, erasure: bool) -> Customer:
    """A customer's tastes, price band, habits and devices, from their own random stream.

    Each customer has independent streams, so their story does not change when the number
    of other customers does.
    """
    config = shop.config
    rng = random.Random(f"{config.seed}:customer:{index}")
    loyal = rng.random() < config.loyal_share
    mean_sessions = config.sessions_per_customer * (3.0 if loyal else 0.75)
    sessions = max(1, round(rng.expovariate(1.0 / mean_sessions)))
    primary = _pick(rng, shop.mix)
    if loyal and "app" in shop.mix and rng.random() < 0.5:
        primary = "app"  # loyal shoppers tend to install the app
    return Customer(
        index=index,
        customer_id=f"cust-{index:06d}",
        favourites=tuple(rng.sample(tuple(CATEGORIES), rng.choice((2, 3)))),
        price_band=round(rng.gauss(0.0, 3.5)),
        loyal=loyal,
        session_starts=_session_starts(rng, sessions, config),
        primary_channel=primary,
        devices={},
        app_logged_in=rng.random() < config.app_login_rate,
        handle=f"{rng.choice(HANDLE_WORDS)}{rng.choice(HANDLE_SUFFIXES)}{rng.randrange(100)}",
        social_linked=rng.random() < config.social_linked_rate,
        erasure=erasure,
    )


# --- one session ----------------------------------------------------------------------------


class _Session:
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
            devices[channel] = _device_id(self.rng)
        return devices[channel]

    # -- primitives

    def product(self) -> Product:
        return self.shop.product_for(self.customer, self.rng)

    def pause(self, median_s: float, sigma: float = 0.7) -> None:
        """Think time between clicks: lognormal seconds, capped well below the session gap."""
        ms = int(median_s * 1000 * self.rng.lognormvariate(0.0, sigma))
        self.clock += max(300, min(ms, MAX_PAUSE_MS))

    def emit(self, cls: Callable[..., Event], **fields: Any) -> Event:
        event = cls(
            event_id=_event_id(self.rng),
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
            self.view(self.product())

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
        """Back to the same product three to five times, looking at others in between."""
        product = self.product()
        for _ in range(self.rng.randint(3, 5)):
            self.view(product, linger_s=35)
            if self.rng.random() < 0.5:
                self.view(self.product())
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
            product = self.product()
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


def _play_session(session: _Session) -> None:
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


# --- social posts ---------------------------------------------------------------------------


def _post_text(rng: random.Random, negative: bool, item: str) -> str:
    templates = NEGATIVE_POSTS if negative else POSITIVE_POSTS
    return rng.choice(templates).format(item=item) + rng.choice(HASHTAGS)


def _post_score(rng: random.Random, negative: bool) -> float:
    """The source platform's own score, when it sends one: clearly on the post's side."""
    magnitude = round(rng.uniform(0.4, 0.95), 2)
    return -magnitude if negative else magnitude


def _social_post(
    rng: random.Random,
    config: SimulationConfig,
    when: int,
    negative: bool,
    product: Product | None,
    customer_id: str | None,
    handle: str,
) -> SocialPost:
    platform = rng.choices(SOCIAL_PLATFORMS, SOCIAL_PLATFORM_WEIGHTS)[0]
    if product is not None:
        item = product.name.split(" ", 1)[1]
    else:
        item = rng.choice(CATEGORIES[rng.choice(tuple(CATEGORIES))][1])
    scored = rng.random() < config.scored_post_rate
    return SocialPost(
        event_id=_event_id(rng),
        event_time=when,
        channel=PLATFORM_CHANNEL[platform],
        customer_id=customer_id,
        platform=platform,
        author_handle=None if customer_id else handle,
        text=_post_text(rng, negative, item),
        score=_post_score(rng, negative) if scored else None,
        product_ids=(product.product_id,) if product else (),
        brand=product.brand if product else None,
    )


def _revocation(session: _Session) -> Consent:
    """A change of mind, hours to days after the session, from the privacy settings or by mail."""
    rng = session.rng
    return Consent(
        event_id=_event_id(rng),
        event_time=session.clock + int(rng.uniform(2 * HOUR_MS, 2 * DAY_MS)),
        channel=rng.choice(("web", "app", "email")),
        customer_id=session.customer.customer_id,
        granted=False,
        purpose="personalisation",
    )


def _after_session(session: _Session) -> None:
    """What a session sets off later: a consent revocation, a social post."""
    if session.revokes:
        session.deferred.append(_revocation(session))
    _maybe_post(session)


def _maybe_post(session: _Session) -> None:
    """After a session, maybe a post about it: complaints follow bad visits, praise purchases."""
    rng = session.rng
    config = session.config
    customer = session.customer
    negative_p = config.negative_post_rate * (4.0 if session.bad_experience else 1.0)
    positive_p = config.positive_post_rate * (3.0 if session.purchased else 1.0)
    roll = rng.random()
    if roll >= negative_p + positive_p:
        return
    negative = roll < negative_p
    product = rng.choice(customer.bought) if customer.bought and rng.random() < 0.7 else None
    delay = int(rng.uniform(5 * MINUTE_MS, (3 if session.purchased else 1) * DAY_MS))
    who = customer.customer_id if customer.social_linked else None
    session.deferred.append(
        _social_post(rng, config, session.clock + delay, negative, product, who, customer.handle)
    )


def _public_posts(shop: Shop) -> Iterator[SocialPost]:
    """Brand mentions by people who are not (known) customers: handles only."""
    config = shop.config
    rng = random.Random(f"{config.seed}:public-posts")
    count = round(config.customers * config.public_posts_per_customer)
    times = sorted(rng.randrange(config.start_ms, config.end_ms) for _ in range(count))
    share_negative = config.negative_post_rate / (
        (config.negative_post_rate + config.positive_post_rate) or 1.0
    )
    for when in times:
        category = rng.choice(tuple(CATEGORIES))
        product = rng.choice(shop.catalogue[category]) if rng.random() < 0.4 else None
        handle = f"{rng.choice(HANDLE_WORDS)}{rng.choice(HANDLE_SUFFIXES)}{rng.randrange(1000)}"
        negative = rng.random() < share_negative
        yield _social_post(rng, config, when, negative, product, None, handle)


# --- one customer's timeline ----------------------------------------------------------------


def _session_starts(rng: random.Random, sessions: int, config: SimulationConfig) -> list[int]:
    """Planned session start times over the period, busier at lunch and in the evening."""
    days = max(1, math.ceil(config.days))
    starts = []
    for _ in range(sessions):
        day = rng.randrange(days)
        hour = rng.choices(range(24), HOUR_WEIGHTS)[0]
        offset = day * DAY_MS + hour * HOUR_MS + rng.randrange(HOUR_MS)
        starts.append(config.start_ms + min(offset, int(config.days * DAY_MS) - 1))
    return sorted(starts)


def _channel_for(customer: Customer, rng: random.Random, mix: Mapping[str, float]) -> str:
    """Mostly the customer's usual channel, sometimes another one."""
    if rng.random() < 0.7:
        return customer.primary_channel
    return _pick(rng, mix)


@dataclass(frozen=True, slots=True)
class _Wake:
    """Holds a customer's place in the merge until their first session is due.

    The merge takes one item from every timeline up front; a placeholder instead of a real
    event means no session is built before it is needed (cheap with --max-events).
    """

    event_time: int


def _customer_events(shop: Shop, index: int, erasure: bool) -> Iterator[Event | _Wake]:
    """One customer's events in time order, built a session at a time.

    Each session draws from its own random stream (seed, customer, session number), so an
    idle customer holds no generator state. Events decided during a session but happening
    later (posts, revocations) wait in a small heap until the timeline reaches them.
    """
    config = shop.config
    customer = _make_customer(shop, index, erasure)
    yield _Wake(customer.session_starts[0])
    pending: list[tuple[int, int, Event]] = []
    order = itertools.count()
    last = config.start_ms
    for number, planned in enumerate(customer.session_starts):
        rng = random.Random(f"{config.seed}:customer:{index}:session:{number}")
        start = planned if number == 0 else max(planned, last + _session_gap(rng))
        if start >= config.end_ms:
            break  # pushed out of the period by the customer's earlier sessions
        session = _Session(shop, customer, rng, _channel_for(customer, rng, shop.mix), start)
        _play_session(session)
        _after_session(session)
        events, deferred, last = session.events, session.deferred, session.clock
        del session, rng
        for event in events:
            while pending and pending[0][0] <= event.event_time:
                yield heapq.heappop(pending)[2]
            yield event
        for event in deferred:
            if event.event_time < config.end_ms:  # later than the period: not seen
                heapq.heappush(pending, (event.event_time, next(order), event))
    while pending:
        event = heapq.heappop(pending)[2]
        last = event.event_time
        yield event
    if customer.erasure:
        rng = random.Random(f"{config.seed}:customer:{index}:erasure")
        yield _erasure(customer, rng, config, last)


def _session_gap(rng: random.Random) -> int:
    """Quiet time before the next session: always longer than the engine's 30-minute cut."""
    return SESSION_GAP_MS + MINUTE_MS + int(rng.expovariate(1 / (2 * HOUR_MS)))


def _erasure(
    customer: Customer, rng: random.Random, config: SimulationConfig, last: int
) -> ErasureRequest:
    """Right to be forgotten near the end of the period, after the customer's last event."""
    when = max(last + HOUR_MS, config.end_ms - int(rng.uniform(0, 12 * HOUR_MS)))
    return ErasureRequest(
        event_id=_event_id(rng),
        event_time=when,
        channel=rng.choice(("email", "web", "call_center")),
        customer_id=customer.customer_id,
        request_id=f"era-{rng.getrandbits(64):016x}",
    )


# --- malformed messages ---------------------------------------------------------------------


def _truncated(rng: random.Random, raw: bytes, _: dict[str, Any]) -> bytes:
    return raw[: rng.randrange(1, len(raw) - 1)]


def _time_as_text(_: random.Random, __: bytes, obj: dict[str, Any]) -> bytes:
    obj["event_time"] = datetime.fromtimestamp(obj["event_time"] / 1000, UTC).isoformat()
    return orjson.dumps(obj)


def _time_in_seconds(_: random.Random, __: bytes, obj: dict[str, Any]) -> bytes:
    obj["event_time"] //= 1000
    return orjson.dumps(obj)


def _number_as_text(rng: random.Random, __: bytes, obj: dict[str, Any]) -> bytes:
    for name in ("price", "result_count", "dwell_ms"):
        if obj.get(name) is not None:
            obj[name] = str(obj[name]).replace(".", ",")
            return orjson.dumps(obj)
    obj["event_time"] = str(obj["event_time"])
    return orjson.dumps(obj)


def _unknown_type(rng: random.Random, __: bytes, obj: dict[str, Any]) -> bytes:
    obj["type"] = rng.choice(("pageview", "product_viewed", "add_to_wishlist", "PageView"))
    return orjson.dumps(obj)


def _no_ids(_: random.Random, __: bytes, obj: dict[str, Any]) -> bytes:
    obj.pop("customer_id", None)
    obj["anonymous_id"] = None
    return orjson.dumps(obj)


def _bad_channel(rng: random.Random, __: bytes, obj: dict[str, Any]) -> bytes:
    obj["channel"] = rng.choice(("mobile_web", "android", "WEB", ""))
    return orjson.dumps(obj)


def _new_major(_: random.Random, __: bytes, obj: dict[str, Any]) -> bytes:
    obj["schema_version"] = "2.0"
    return orjson.dumps(obj)


def _batched(_: random.Random, __: bytes, obj: dict[str, Any]) -> bytes:
    return orjson.dumps([obj])


def _missing_field(_: random.Random, __: bytes, obj: dict[str, Any]) -> bytes:
    obj.pop("event_id")
    return orjson.dumps(obj)


MALFORMATIONS: tuple[Callable[[random.Random, bytes, dict[str, Any]], bytes], ...] = (
    _truncated,
    _time_as_text,
    _time_in_seconds,
    _number_as_text,
    _unknown_type,
    _no_ids,
    _bad_channel,
    _new_major,
    _batched,
    _missing_field,
)
"""Mistakes real producers make: each one is rejected by `schemas.codec.decode`."""


def malform(event: Event, rng: random.Random) -> bytes:
    """The event as a buggy producer might have sent it."""
    raw = encode(event)
    return rng.choice(MALFORMATIONS)(rng, raw, orjson.loads(raw))


def _with_malformed(items: Iterator[Event], config: SimulationConfig) -> Iterator[Event | bytes]:
    """Replace a share of click-stream events by malformed bytes (the event is lost)."""
    rng = random.Random(f"{config.seed}:malformed")
    for event in items:
        if STREAM_OF[event.type] == MALFORMED_STREAM and rng.random() < config.malformed_rate:
            yield malform(event, rng)
        else:
            yield event


# --- the whole simulation -------------------------------------------------------------------


def _erasure_customers(config: SimulationConfig) -> set[int]:
    """Exactly round(rate × customers) of them: too rare to leave to a per-customer coin."""
    rng = random.Random(f"{config.seed}:erasure")
    count = min(config.customers, int(config.erasure_rate * config.customers + 0.5))
    return set(rng.sample(range(config.customers), count))


def simulate(config: SimulationConfig) -> Iterator[Event | bytes]:
    """Every customer's and public poster's events, merged in event-time order.

    Yields bytes only for deliberately malformed messages (`malformed_rate` > 0).
    """
    shop = Shop(config)
    erasing = _erasure_customers(config)
    timelines: list[Iterable[Event | _Wake]] = [_public_posts(shop)]
    timelines.extend(
        _customer_events(shop, index, index in erasing) for index in range(config.customers)
    )
    merged: Iterator[Event] = (
        item  # type: ignore[misc]
        for item in heapq.merge(*timelines, key=_event_time)
        if type(item) is not _Wake
    )
    items = _with_malformed(merged, config) if config.malformed_rate > 0 else merged
    return itertools.islice(items, config.max_events) if config.max_events is not None else items


def _event_time(event: Event | _Wake) -> int:
    return event.event_time


def encode_item(item: Event | bytes) -> bytes:
    """Wire form of a simulated message (malformed ones are bytes already)."""
    return item if isinstance(item, bytes) else encode(item)


def stream_of(item: Event | bytes) -> str:
    """The stream (topic) a message goes to; malformed ones go to the click-stream."""
    return MALFORMED_STREAM if isinstance(item, bytes) else STREAM_OF[item.type]


def key_of(item: Event | bytes) -> bytes | None:
    """Kafka key: the customer, else the device, so a person's events stay in order."""
    if isinstance(item, bytes):
        return None
    who = item.customer_id or item.anonymous_id
    return who.encode() if who else None


# --- output ---------------------------------------------------------------------------------


def write_lines(path: Path, items: Iterable[Event | bytes]) -> int:
    """Write a recording (gzipped when the name ends in .gz), malformed lines included."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    count = 0
    with partial.open("wb") as stored:
        handle: IO[bytes] = (
            io.BufferedWriter(gzip.GzipFile("", "wb", 5, stored, mtime=0))  # type: ignore[arg-type]
            if path.suffix == ".gz"
            else stored
        )
        for item in items:
            handle.write(encode_item(item))
            handle.write(b"\n")
            count += 1
        if handle is not stored:
            handle.close()
    partial.replace(path)
    return count


@dataclass(slots=True)
class ProduceStats:
    """What a Kafka run did: messages sent, per stream, failures, and how fast."""

    sent: int = 0
    failed: int = 0
    per_stream: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


def produce(
    items: Iterable[Event | bytes],
    settings: Settings,
    rate: float | None,
    *,
    progress: Callable[[ProduceStats], None] | None = None,
    progress_every_s: float = 2.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ProduceStats:
    """Produce every message to its stream's topic, paced to `rate` per second (None: flat out).

    Pacing follows a schedule (message n is due at n / rate), so short stalls are caught up
    and the achieved rate matches the target over the run.
    """
    from confluent_kafka import KafkaError, Message, Producer

    producer = Producer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "linger.ms": 5,
            "enable.idempotence": True,
            "compression.type": "lz4",
        }
    )
    stats = ProduceStats()

    def delivered(error: KafkaError | None, _: Message) -> None:
        if error is not None:
            stats.failed += 1

    started = clock()
    next_report = started + progress_every_s
    for item in items:
        if rate:
            ahead = started + stats.sent / rate - clock()
            if ahead > 0.002:
                sleep(ahead)
        stream = stream_of(item)
        _produce_one(producer, settings.topic(stream), encode_item(item), key_of(item), delivered)
        stats.sent += 1
        stats.per_stream[stream] = stats.per_stream.get(stream, 0) + 1
        producer.poll(0)
        if progress is not None and clock() >= next_report:
            stats.seconds = clock() - started
            progress(stats)
            next_report += progress_every_s
    remaining = producer.flush(60)
    stats.failed += remaining
    stats.seconds = clock() - started
    return stats


def _produce_one(
    producer: Any, topic: str, value: bytes, key: bytes | None, on_delivery: Callable[..., None]
) -> None:
    """Produce, waiting for room when the client's queue is full instead of failing."""
    while True:
        try:
            producer.produce(topic, value, key=key, on_delivery=on_delivery)
            return
        except BufferError:
            producer.poll(0.1)


# --- command line ---------------------------------------------------------------------------


def parse_start(text: str) -> int:
    """A start time as epoch ms: an ISO date or date-time (UTC unless it says otherwise)."""
    if text.isdigit():
        return int(text)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _start_arg(text: str) -> int:
    try:
        return parse_start(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date or epoch ms") from None


def config_from_args(args: argparse.Namespace) -> SimulationConfig:
    """The simulation the command line asks for."""
    return SimulationConfig(
        seed=args.seed,
        customers=args.customers,
        sessions_per_customer=args.sessions,
        max_events=args.max_events,
        start_ms=args.start,
        days=args.days,
        malformed_rate=args.malformed_rate,
    )


def _print_progress(stats: ProduceStats) -> None:
    print(
        f"simulate: {stats.sent:,} sent in {stats.seconds:.0f} s ({stats.rate:,.0f}/s)",
        file=sys.stderr,
        flush=True,
    )


def run_simulate(args: argparse.Namespace, settings: Settings) -> int:
    """`insession simulate`: write a recording, produce to Kafka, or print JSON lines."""
    try:
        config = config_from_args(args)
    except ValueError as bad:
        print(f"insession simulate: {bad}", file=sys.stderr)
        return 2
    if args.output:
        count = write_lines(Path(args.output), simulate(config))
        print(f"simulate: {count:,} messages -> {args.output}")
    if args.kafka:
        stats = produce(simulate(config), settings, args.rate or None, progress=_print_progress)
        streams = ", ".join(f"{s} {n:,}" for s, n in sorted(stats.per_stream.items()))
        print(
            f"simulate: {stats.sent:,} messages to Kafka in {stats.seconds:.1f} s "
            f"({stats.rate:,.0f}/s; {streams}); {stats.failed} failed"
        )
        if stats.failed:
            return 1
    if not args.output and not args.kafka:
        return _to_stdout(simulate(config))
    return 0


def _to_stdout(items: Iterable[Event | bytes]) -> int:
    """JSON lines on stdout; a closed pipe (`| head`) is a normal way to stop."""
    out = sys.stdout.buffer
    try:
        for item in items:
            out.write(encode_item(item) + b"\n")
        out.flush()
    except BrokenPipeError:
        # As the Python docs advise: point stdout at devnull so the exit flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def add_simulate_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register `simulate` on the `insession` sub-commands; its handler is `run_simulate`."""
    parser = subparsers.add_parser(
        "simulate",
        help="generate realistic seeded traffic (recording, Kafka or stdout)",
        description="Generate realistic multi-channel storefront traffic from a seed: the "
        "same options always give the same events. Without -o or --kafka, JSON lines go "
        "to stdout.",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--customers", type=int, default=1000, help="customers (default 1000)")
    parser.add_argument(
        "--sessions", type=float, default=4.0, help="mean sessions per customer (default 4)"
    )
    parser.add_argument("--days", type=float, default=7.0, help="period simulated (default 7)")
    parser.add_argument(
        "--start",
        type=_start_arg,
        default=DEFAULT_START_MS,
        help="start of the period: ISO date/time (UTC) or epoch ms (default 2025-03-03)",
    )
    parser.add_argument("--max-events", type=int, help="stop after this many messages")
    parser.add_argument(
        "--malformed-rate",
        type=float,
        default=0.0,
        help="share of click-stream messages sent malformed, for dead-letter demos",
    )
    parser.add_argument("-o", "--output", help="write a recording (.jsonl or .jsonl.gz)")
    parser.add_argument("--kafka", action="store_true", help="produce to the streams' Kafka topics")
    parser.add_argument(
        "--rate",
        type=float,
        default=1000.0,
        metavar="EVENTS_PER_S",
        help="--kafka: messages per second (default 1000; 0 = as fast as possible)",
    )
    parser.set_defaults(run=run_simulate)
    return parser
