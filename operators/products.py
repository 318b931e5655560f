"""What the engine knows of each product, from the catalogue feed and from shoppers' events.

`ProductStore` learns a product's title, price, category, brand, page, image, stock and free
attributes from `product_update` messages (the feed), and the price, currency, category and
brand that shoppers' events show (`product_view`, `cart_add`, the lines of a `purchase`).
The feed wins: a field it has stated is never overwritten by what an event implies, and only
the feed says whether a product is in stock or withdrawn, so an event (a stale page, a cart
restored) never puts a product back on sale. A product that only events have named counts as
on sale: shoppers are viewing and buying it.

Each field keeps the value of the newest message (by event time) that gave it, the feed's
before any event's, so a late or redelivered message never undoes a newer one, and the store
ends the same whatever order the workers apply the messages in (of two at the same
millisecond, the later to arrive wins).

It holds at most `capacity` products (`MAX_PRODUCTS`) and forgets the one seen least recently
(by the feed or an event; lookups do not count). No I/O. The worker threads of a process share
one store (`Personaliser.products`), so every method takes its lock.

>>> from insession.schemas.events import ProductUpdate, ProductView
>>> store = ProductStore(capacity=1000)
>>> store.learn_event(ProductView(event_id="e1", event_time=1_764_000_000_000, channel="web",
...     customer_id="c-1", product_id="boots", price=90.0, category="shoes.boots"))
>>> store.is_recommendable("boots"), store.get("boots").price
(True, 90.0)
>>> store.learn_update(ProductUpdate(event_id="u1", event_time=1_764_000_060_000,
...     product_id="boots", price=99.0, in_stock=False))
>>> store.is_recommendable("boots"), store.get("boots").price
(False, 99.0)
"""

from __future__ import annotations

import dataclasses
import math
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from insession.schemas.events import CartAdd, Event, ProductUpdate, ProductView, Purchase

MAX_PRODUCTS = 50_000
"""Products a store holds. Measured (`tests/operators/test_products.py`): a product from the
feed with a title, page, image and a few attributes takes about 1.5 KB, one that only events
named at most 1.4 KB, and one with every field of the contract at its longest about 11 KB.
So a full store holds about 75 MB of a real catalogue; shoppers' clients naming endless
made-up products can make it hold no more than about 70 MB, and only the feed (a backend) can
make it hold more, up to about 550 MB. A shop with a larger catalogue passes a larger
`capacity`."""

FEED_FIELDS = (
    "title",
    "price",
    "currency",
    "category",
    "brand",
    "in_stock",
    "url",
    "image",
    "attributes",
    "withdrawn",
)
"""What a `product_update` may state of a product."""

EVENT_FIELDS = ("price", "currency", "category", "brand")
"""What shoppers' events may show of a product (never its stock)."""

MAX_CATEGORIES = 10_000
"""Categories whose typical price is kept; products of further categories are not averaged."""


class Facts(NamedTuple):
    """What recommending needs of one product, read in one go (`ProductStore.facts`)."""

    on_sale: bool
    price: float | None
    currency: str | None
    category: str | None
    level: float | None
    """log(price / its category's typical price): 0 at the typical price, +0.69 at twice it;
    None when the price or the category is not known."""


@dataclass(slots=True)
class Product:
    """What is known of one product, and when each field was learned."""

    product_id: str
    title: str | None = None
    price: float | None = None
    currency: str | None = None
    category: str | None = None
    brand: str | None = None
    url: str | None = None
    image: str | None = None
    in_stock: bool | None = None
    """None: not known (only events have named it), which counts as on sale."""
    withdrawn: bool = False
    attributes: dict[str, str] = field(default_factory=dict)
    counted: tuple[str, float] | None = None
    """The (category, log price) this product adds to its category's typical price."""
    facts: Facts | None = None
    """What `ProductStore.facts` answers of it (without the level), until it changes."""
    stated: dict[str, int] = field(default_factory=dict)
    """The fields the feed has given, each with the event time of the update it came from."""
    implied: dict[str, int] = field(default_factory=dict)
    """The fields only events have given, each with the event time of its event."""

    @property
    def recommendable(self) -> bool:
        """Neither withdrawn nor known to be out of stock."""
        return not self.withdrawn and self.in_stock is not False


def _attributes(stated: dict[str, str]) -> dict[str, str]:
    """A product's own copy of its attributes, the names interned: every product of a
    catalogue names the same few (colour, size), and one copy of each name serves them all."""
    return {sys.intern(name): value for name, value in stated.items()}


class ProductStore:
    """The products of the feed and the events, at most `capacity`, least recently seen out
    first.

    >>> from insession.schemas.events import ProductUpdate
    >>> store = ProductStore(capacity=2)
    >>> for n, (product, price) in enumerate([("a", 10.0), ("b", 30.0), ("c", 20.0)]):
    ...     store.learn_update(ProductUpdate(event_id=f"u{n}", event_time=1_764_000_000_000 + n,
    ...         product_id=product, price=price, category="hats"))
    >>> "a" in store, len(store)  # the least recently seen went
    (False, 2)
    >>> store.cheaper_than("c", "b"), store.in_price_band("c", 15.0, 25.0)
    (True, True)
    >>> store.same_category("b", "c"), store.same_category("b", "a")
    (True, False)
    """

    def __init__(self, capacity: int = MAX_PRODUCTS) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self.capacity = capacity
        self._products: OrderedDict[str, Product] = OrderedDict()
        self.changes = 0
        """Counts the times a known product went on or off sale (or was forgotten): lists
        filtered before may be kept while it has not moved."""
        self._typical: dict[str, list[float]] = {}
        """category -> [sum of log prices, products]: each product held counts once, at its
        current price, so the typical price does not depend on how often it is viewed."""
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._products)

    def __contains__(self, product_id: object) -> bool:
        return product_id in self._products

    # --- learning ---------------------------------------------------------------------------

    def learn_update(self, update: ProductUpdate) -> None:
        """Apply what the feed states; fields it leaves out stay as they were."""
        at = update.event_time
        with self._lock:
            product = self._seen(update.product_id)
            was_on_sale = product.recommendable
            stated = product.stated
            for name in FEED_FIELDS:
                value = getattr(update, name)
                if value is None or at < stated.get(name, at):
                    continue
                setattr(product, name, _attributes(value) if name == "attributes" else value)
                stated[name] = at
                product.implied.pop(name, None)
            self._average(product)
            if product.recommendable != was_on_sale:
                self.changes += 1

    def learn_event(self, event: Event) -> None:
        """Learn what a shopper's event shows of the products it names (others are ignored)."""
        # For each product the event shows: its id, then the values of `EVENT_FIELDS`.
        if isinstance(event, ProductView):
            facts = [(event.product_id, event.price, event.currency, event.category, event.brand)]
        elif isinstance(event, CartAdd):
            facts = [(event.product_id, event.unit_price, event.currency, event.category, None)]
        elif isinstance(event, Purchase):
            facts = [
                (line.product_id, line.unit_price, event.currency, line.category, None)
                for line in event.lines
            ]
        else:
            return
        with self._lock:
            for product_id, *values in facts:
                self._imply(self._seen(product_id), event.event_time, values)

    def _imply(self, product: Product, at: int, values: list[object]) -> None:
        """Set what the event shows (`EVENT_FIELDS` order) where the feed is silent and no
        newer event has shown otherwise."""
        times = product.implied
        stated = product.stated
        for name, value in zip(EVENT_FIELDS, values, strict=True):
            if value is None or name in stated or at < times.get(name, at):
                continue
            setattr(product, name, value)
            times[name] = at
        self._average(product)

    def _average(self, product: Product) -> None:
        """Count the product, at its current price, into its category's typical price (and
        let go of its cached facts: this ends every change to it)."""
        product.facts = None
        price, category = product.price, product.category
        now = (category, math.log(price)) if price and price > 0.0 and category else None
        if now == product.counted:
            return
        self._uncount(product)
        if now is None:
            return
        typical = self._typical.get(now[0])
        if typical is None:
            if len(self._typical) >= MAX_CATEGORIES:
                return
            typical = self._typical[now[0]] = [0.0, 0]
        typical[0] += now[1]
        typical[1] += 1
        product.counted = now

    def _uncount(self, product: Product) -> None:
        counted = product.counted
        if counted is None:
            return
        product.counted = None
        typical = self._typical[counted[0]]
        typical[0] -= counted[1]
        typical[1] -= 1
        if typical[1] <= 0:
            del self._typical[counted[0]]

    def _seen(self, product_id: str) -> Product:
        """The product, now the most recently seen; a new one may push out the least recent."""
        products = self._products
        product = products.get(product_id)
        if product is not None:
            products.move_to_end(product_id)
            return product
        product = products[product_id] = Product(product_id)
        if len(products) > self.capacity:
            self._uncount(products.popitem(last=False)[1])
            self.changes += 1
        return product

    # --- lookups ----------------------------------------------------------------------------

    def get(self, product_id: str) -> Product | None:
        """A copy of what is known of the product, or None."""
        with self._lock:
            product = self._products.get(product_id)
            if product is None:
                return None
            return dataclasses.replace(
                product,
                attributes=dict(product.attributes),
                stated=dict(product.stated),
                implied=dict(product.implied),
            )

    def facts(self, product_ids: Iterable[str], *, levels: bool = True) -> list[Facts | None]:
        """What recommending needs of each product, in order (None: not known), under one
        lock; `levels` False leaves `Facts.level` None (it costs a logarithm each)."""
        found: list[Facts | None] = []
        typicals = self._typical
        with self._lock:
            for product_id in product_ids:
                product = self._products.get(product_id)
                if product is None:
                    found.append(None)
                    continue
                facts = product.facts
                if facts is None:
                    facts = product.facts = Facts(
                        product.recommendable,
                        product.price,
                        product.currency,
                        product.category,
                        None,
                    )
                counted = product.counted
                if levels and counted is not None:
                    typical = typicals[counted[0]]
                    facts = facts._replace(level=counted[1] - typical[0] / typical[1])
                found.append(facts)
        return found

    def is_recommendable(self, product_id: str) -> bool:
        """Known, not withdrawn and not out of stock; an unknown product is not."""
        with self._lock:
            product = self._products.get(product_id)
            return product is not None and product.recommendable

    def in_price_band(self, product_id: str, low: float | None, high: float | None) -> bool:
        """Whether the product's price is known and within [low, high] (None: no bound)."""
        with self._lock:
            product = self._products.get(product_id)
            price = product.price if product is not None else None
        if price is None:
            return False
        return (low is None or price >= low) and (high is None or price <= high)

    def same_category(self, product_id: str, other_id: str) -> bool:
        """Whether both products are known to be in the same category."""
        with self._lock:
            one, other = self._products.get(product_id), self._products.get(other_id)
            if one is None or other is None or one.category is None:
                return False
            return one.category == other.category

    def cheaper_than(self, product_id: str, other_id: str) -> bool:
        """Whether the product costs less than the other one: both prices known, in one
        currency (or with a currency not known for one of them)."""
        with self._lock:
            one, other = self._products.get(product_id), self._products.get(other_id)
            return one is not None and other is not None and cheaper(one, other)


class Priced(Protocol):
    price: float | None
    currency: str | None


def cheaper(one: Priced, other: Priced) -> bool:
    """Whether `one` costs less than `other`: both prices known, in one currency (or with a
    currency not known for one of them). For products and their `Facts` alike."""
    if one.price is None or other.price is None:
        return False
    if one.currency and other.currency and one.currency != other.currency:
        return False
    return one.price < other.price
