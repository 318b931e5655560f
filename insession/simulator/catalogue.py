"""The simulated fashion shop: categories, products, shelf prices, looks, and who sees what."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from insession.simulator.config import SimulationConfig

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
LOOKS = (
    ("apparel.jacket", "apparel.scarf"),
    ("apparel.coat", "apparel.scarf"),
    ("apparel.jacket", "apparel.jeans"),
    ("apparel.coat", "shoes.boots"),
    ("shoes.boots", "bags.handbag"),
    ("apparel.dress", "shoes.boots"),
    ("apparel.dress", "beauty.perfume"),
    ("apparel.dress", "bags.handbag"),
    ("apparel.trousers", "shoes.sneakers"),
    ("apparel.jeans", "shoes.sneakers"),
)
"""Categories whose products go together: a look pairs products of the two in a price tier."""
SIMILAR_SPAN = 3
"""Products this many price ranks either side in the same category count as similar."""


@dataclass(frozen=True, slots=True)
class Product:
    """A product of the catalogue: stable id, category and price."""

    product_id: str
    category: str
    price: float
    brand: str
    name: str


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


def build_looks(
    catalogue: Mapping[str, Sequence[Product]], seed: int
) -> dict[str, tuple[Product, ...]]:
    """Each product's partners, what goes with it: the same seed, the same looks.

    For each pair of complementary categories, both sides are ranked by price (jittered a
    little) and the n-th of one goes with the n-th of the other, and often with the next one
    too: a premium jacket goes with premium scarves, a cheap one with cheap ones. The
    relation is symmetric.
    """
    rng = random.Random(f"{seed}:looks")
    partners: dict[str, list[Product]] = {p.product_id: [] for ps in catalogue.values() for p in ps}
    for first, second in LOOKS:
        left, right = _by_tier(catalogue[first], rng), _by_tier(catalogue[second], rng)
        for rank, product in enumerate(left):
            matched = [right[rank]]
            if rank + 1 < len(right) and rng.random() < 0.5:
                matched.append(right[rank + 1])
            for partner in matched:
                partners[product.product_id].append(partner)
                partners[partner.product_id].append(product)
    return {product_id: tuple(found) for product_id, found in partners.items()}


def _by_tier(products: Sequence[Product], rng: random.Random) -> list[Product]:
    """Products cheapest first, by log price with a little noise (tiers, not exact prices)."""
    keyed = [(math.log(p.price) + rng.gauss(0.0, 0.1), p.product_id, p) for p in products]
    return [p for _, _, p in sorted(keyed)]


def _shelf_price(price: float) -> float:
    """Shops price at .95 and .00 endings, never below a few euros."""
    return max(4.95, math.floor(price) + 0.95) if price < 100 else float(5 * round(price / 5))


class Shop:
    """The catalogue, its looks and the simulation's settings, shared by every customer."""

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self.catalogue = build_catalogue(config.seed)
        self.products = {p.product_id: p for ps in self.catalogue.values() for p in ps}
        self.looks = build_looks(self.catalogue, config.seed)
        self._similar = {
            p.product_id: _neighbours(ranked, rank)
            for ranked in (sorted(ps, key=lambda p: p.price) for ps in self.catalogue.values())
            for rank, p in enumerate(ranked)
        }
        self.mix = {channel: w for channel, w in config.channel_mix.items() if w > 0}
        self._appeal: dict[tuple[str, int], tuple[tuple[Product, ...], list[float]]] = {}

    def product_for(
        self, favourites: Sequence[str], price_band: int, rng: random.Random
    ) -> Product:
        """A product in a favourite category (mostly), near the customer's price band."""
        in_favourites = rng.random() < 0.85
        category = rng.choice(favourites if in_favourites else tuple(CATEGORIES))
        products, cumulative = self._appealing(category, price_band)
        return rng.choices(products, cum_weights=cumulative)[0]

    def partners(self, product: Product) -> tuple[Product, ...]:
        """What goes with the product (products of complementary categories, same tier)."""
        return self.looks[product.product_id]

    def similar(self, product: Product) -> tuple[Product, ...]:
        """Products of the same category at about the same price."""
        return self._similar[product.product_id]

    def target_price(self, category: str, band: int) -> float:
        """The price a shopper of this band expects to pay in this category."""
        return CATEGORIES[category][0] * math.exp(band / 10)

    def closeness(self, product: Product, band: int) -> float:
        """How near the product's price is to the band's, 1 at the band's price, falling off
        with the squared log distance (a price twice the band's: 0.07)."""
        distance = math.log(product.price / self.target_price(product.category, band))
        return math.exp(-(distance**2) / 0.18)

    def _appealing(self, category: str, band: int) -> tuple[tuple[Product, ...], list[float]]:
        """Cumulative weights of a category's products for a price band (computed once).

        Weights fall off with the log distance from the band's price, so shoppers mostly see
        products they can afford and now and then something dearer or cheaper.
        """
        key = (category, band)
        cached = self._appeal.get(key)
        if cached is None:
            products = self.catalogue[category]
            weights = [self.closeness(p, band) + 1e-3 for p in products]
            cached = self._appeal[key] = (products, list(itertools.accumulate(weights)))
        return cached


def _neighbours(ranked: Sequence[Product], rank: int) -> tuple[Product, ...]:
    low, high = max(0, rank - SIMILAR_SPAN), rank + SIMILAR_SPAN + 1
    return tuple(p for p in ranked[low:high] if p is not ranked[rank])
