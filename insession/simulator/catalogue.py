"""The simulated fashion shop: categories, products, shelf prices, and who sees what."""

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


def _shelf_price(price: float) -> float:
    """Shops price at .95 and .00 endings, never below a few euros."""
    return max(4.95, math.floor(price) + 0.95) if price < 100 else float(5 * round(price / 5))


class Shop:
    """The catalogue and the simulation's settings, shared by every customer."""

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self.catalogue = build_catalogue(config.seed)
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
