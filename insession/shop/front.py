"""The demo shop's logic: its products, each visitor's cart, and what a click sends.

A visitor is a device (the page keeps its id) and, once signed in, a customer. Every action
becomes the contract a real storefront would send, through `Storefront`; the offers the
engine makes come back on one feed for every visitor and are shown to the one they are for.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from insession.client import OfferFeed, Storefront
from insession.schemas.catalogue import Catalogue
from insession.schemas.events import (
    CartAdd,
    CartRemove,
    CheckoutStart,
    Consent,
    IdentityLink,
    Offer,
    OrderLine,
    PageView,
    ProductView,
    Purchase,
    Search,
)
from insession.simulator import SimulationConfig
from insession.simulator.catalogue import Product, Shop

log = logging.getLogger(__name__)

EXTRA_PRICE = 12.95
"""The price of a product that only the offer catalogue names (the care kits of the default
catalogue): the shop sells what its offers show."""
SEARCH_LIMIT = 24
DEVICE_ID = re.compile(r"device-[0-9a-f-]{8,36}")
"""What the page makes a device id of (`device-` and part of a UUID)."""


@dataclass
class Visitor:
    """One browser: its device, the customer once signed in, the cart."""

    device: str
    customer: str | None = None
    cart: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    """Held while the cart changes: one browser may send clicks at once."""

    def ids(self) -> dict[str, str | None]:
        return {"anonymous_id": self.device, "customer_id": self.customer}


class ShopFront:
    """Products, visitors and their offers; each method is one click of the page."""

    def __init__(self, storefront: Storefront, catalogue: Catalogue, seed: int = 0) -> None:
        self.storefront = storefront
        self.titles = {o.action_id: o.title for o in catalogue.offers}
        shop = Shop(SimulationConfig(seed=seed))
        self.products: dict[str, Product] = {**shop.products}
        for item in (i for o in catalogue.offers for i in o.items if i not in self.products):
            self.products[item] = Product(
                item, "extras", EXTRA_PRICE, "Maison insession", item.replace("-", " ")
            )
        self._visitors: dict[str, Visitor] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._feed: OfferFeed | None = None
        self._reader: threading.Thread | None = None

    # --- the offers feed ------------------------------------------------------------------

    def follow_offers(self) -> None:
        """Start reading every visitor's offers (once, before the first click)."""
        self._feed = self.storefront.offers()
        self._stop.clear()
        self._reader = threading.Thread(target=self._read_offers, name="shop-offers", daemon=True)
        self._reader.start()

    def stop(self) -> None:
        """Stop reading offers (the feed is closed by its thread)."""
        self._stop.set()
        if self._reader is not None:
            self._reader.join(10)

    def _read_offers(self) -> None:
        feed = self._feed
        assert feed is not None
        try:
            while not self._stop.is_set():
                try:
                    feed.poll(0.5)
                except Exception:  # a broker hiccup must not end the page's offers for good
                    log.exception("reading offers failed; trying again")
                    self._stop.wait(1.0)
        finally:
            feed.close()

    def _live(self) -> list[Offer]:
        return self._feed.current() if self._feed is not None else []

    def offers(self, device: str) -> list[dict[str, Any]]:
        """The visitor's live offers, as the page shows them."""
        visitor = self._known(device)
        if visitor is None:
            return []
        return [self._offer_view(o) for o in self._live() if _for(o, visitor)]

    # --- the visitor's clicks ---------------------------------------------------------------

    def visitor(self, device: str) -> Visitor:
        """The visitor of a device id the page made (`DEVICE_ID`), met now or before."""
        if DEVICE_ID.fullmatch(device) is None:
            raise ValueError(f"not a device id of this shop: {device[:64]!r}")
        with self._lock:
            return self._visitors.setdefault(device, Visitor(device))

    def _known(self, device: str) -> Visitor | None:
        """The visitor if the device clicked before: polls do not make visitors."""
        with self._lock:
            return self._visitors.get(device)

    def sign_in(self, device: str) -> str:
        """The device's visitor becomes a customer (linked to the device)."""
        visitor = self.visitor(device)
        if visitor.customer is None:
            visitor.customer = f"shopper-{device.removeprefix('device-')}"
            self.storefront.send(
                IdentityLink, anonymous_id=device, customer_id=visitor.customer, method="login"
            )
        return visitor.customer

    def consent(self, device: str, granted: bool) -> None:
        visitor = self.visitor(device)
        if visitor.customer is None:
            raise ValueError("sign in first: consent is a customer's")
        self.storefront.send(Consent, customer_id=visitor.customer, granted=granted)

    def home(self, device: str) -> list[dict[str, Any]]:
        self.storefront.send(PageView, page_type="home", url="/", **self.visitor(device).ids())
        return [self._product_view(p) for p in list(self.products.values())[::41][:SEARCH_LIMIT]]

    def view(self, device: str, product_id: str) -> dict[str, Any]:
        product = self._product(product_id)
        self.storefront.send(
            ProductView,
            product_id=product.product_id,
            price=product.price,
            currency="EUR",
            category=product.category,
            brand=product.brand,
            **self.visitor(device).ids(),
        )
        return self._product_view(product)

    def search(self, device: str, query: str) -> list[dict[str, Any]]:
        words = query.lower().split()
        found = [
            p
            for p in self.products.values()
            if words and all(w in f"{p.name} {p.category} {p.brand}".lower() for w in words)
        ][:SEARCH_LIMIT]
        self.storefront.send(
            Search, query=query[:1024], result_count=len(found), **self.visitor(device).ids()
        )
        return [self._product_view(p) for p in found]

    def add_to_cart(self, device: str, product_id: str) -> dict[str, int]:
        product = self._product(product_id)
        visitor = self.visitor(device)
        with visitor.lock:
            visitor.cart[product_id] = visitor.cart.get(product_id, 0) + 1
            cart = dict(visitor.cart)
        self.storefront.send(
            CartAdd,
            product_id=product_id,
            unit_price=product.price,
            currency="EUR",
            category=product.category,
            **visitor.ids(),
        )
        return cart

    def remove_from_cart(self, device: str, product_id: str) -> dict[str, int]:
        visitor = self.visitor(device)
        with visitor.lock:
            removed = visitor.cart.pop(product_id, None) is not None
            cart = dict(visitor.cart)
        if removed:
            self.storefront.send(CartRemove, product_id=product_id, **visitor.ids())
        return cart

    def checkout(self, device: str) -> float:
        """The visitor goes to the checkout with their cart; its value."""
        visitor = self.visitor(device)
        with visitor.lock:
            value = self._value(visitor.cart)
        self.storefront.send(CheckoutStart, cart_value=value, currency="EUR", **visitor.ids())
        return value

    def buy(self, device: str) -> str:
        """The visitor pays for the cart (what is in it now); the order id."""
        visitor = self.visitor(device)
        with visitor.lock:
            cart, visitor.cart = visitor.cart, {}
        total = self._value(cart)
        lines = tuple(
            OrderLine(
                product_id=pid,
                quantity=quantity,
                unit_price=self.products[pid].price,
                category=self.products[pid].category,
            )
            for pid, quantity in cart.items()
        )
        order_id = f"order-{uuid.uuid4().hex[:10]}"
        self.storefront.send(
            Purchase, order_id=order_id, lines=lines, total=total, currency="EUR", **visitor.ids()
        )
        return order_id

    def _value(self, cart: dict[str, int]) -> float:
        if not cart:
            raise ValueError("the cart is empty")
        return round(sum(self.products[p].price * n for p, n in cart.items()), 2)

    def answer(self, device: str, offer_id: str, outcome: str) -> None:
        """The visitor clicked, accepted or dismissed one of their offers."""
        visitor = self.visitor(device)
        offer = next((o for o in self._live() if o.offer_id == offer_id), None)
        if offer is not None and _for(offer, visitor) and offer.customer_id is not None:
            self.storefront.feedback(offer, outcome)

    def shelf(self, device: str) -> list[dict[str, Any]]:
        """The visitor's "for you" shelf from Redis."""
        visitor = self._known(device)
        if visitor is None:
            return []
        shelf = self.storefront.shelf(customer_id=visitor.customer, anonymous_id=visitor.device)
        if shelf is None:
            return []
        return [
            {**self._product_view(self.products[i.item]), "strategy": i.strategy}
            for i in shelf.items
            if i.item in self.products
        ][:8]

    # --- what the page shows ---------------------------------------------------------------

    def _product(self, product_id: str) -> Product:
        try:
            return self.products[product_id]
        except KeyError:
            raise ValueError(f"no product {product_id!r}") from None

    @staticmethod
    def _product_view(product: Product) -> dict[str, Any]:
        return {
            "id": product.product_id,
            "name": product.name,
            "brand": product.brand,
            "category": product.category,
            "price": product.price,
        }

    def _offer_view(self, offer: Offer) -> dict[str, Any]:
        return {
            "offer_id": offer.offer_id,
            "kind": offer.kind,
            "action_id": offer.action_id,
            "title": self.titles.get(offer.action_id, offer.action_id),
            "items": [
                self._product_view(self.products[i]) for i in offer.items if i in self.products
            ],
            "reason_codes": list(offer.reason_codes),
            "expires_at": offer.expires_at,
        }


def _for(offer: Offer, visitor: Visitor) -> bool:
    """Whether an offer is this visitor's: their customer's, or their device's."""
    if offer.customer_id is not None:
        return offer.customer_id == visitor.customer
    return offer.anonymous_id == visitor.device
