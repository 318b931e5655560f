"""The simulated shop's looks: what goes with what, stable for a seed, in a price tier."""

from __future__ import annotations

import statistics

from insession.simulator import SimulationConfig
from insession.simulator.catalogue import LOOKS, Shop, build_catalogue, build_looks

COMPLEMENTARY = {frozenset(pair) for pair in LOOKS}


def _ids(looks: dict) -> dict[str, list[str]]:
    return {key: [p.product_id for p in partners] for key, partners in looks.items()}


def test_looks_are_stable_for_a_seed_and_symmetric() -> None:
    looks = build_looks(build_catalogue(3), 3)
    assert _ids(looks) == _ids(build_looks(build_catalogue(3), 3))
    assert _ids(looks) != _ids(build_looks(build_catalogue(4), 4))
    for product_id, partners in looks.items():
        assert 1 <= len(partners) <= 8, product_id
        for partner in partners:
            assert product_id in {p.product_id for p in looks[partner.product_id]}


def test_looks_link_complementary_categories_in_a_price_tier() -> None:
    shop = Shop(SimulationConfig(seed=3))
    rank = {
        p.product_id: n / (len(ps) - 1)
        for ps in shop.catalogue.values()
        for n, p in enumerate(sorted(ps, key=lambda p: p.price))
    }
    pairs = [
        (product, partner)
        for product in shop.products.values()
        for partner in shop.partners(product)
    ]
    assert all(frozenset((a.category, b.category)) in COMPLEMENTARY for a, b in pairs)
    tiers = [(rank[a.product_id], rank[b.product_id]) for a, b in pairs]
    assert statistics.correlation(*zip(*tiers, strict=True)) > 0.9
    dearest = max(shop.catalogue["apparel.jacket"], key=lambda p: p.price)
    scarves = [p for p in shop.partners(dearest) if p.category == "apparel.scarf"]
    assert scarves and all(rank[p.product_id] >= 0.85 for p in scarves)


def test_similar_products_share_the_category_and_the_price_level() -> None:
    shop = Shop(SimulationConfig(seed=3))
    for product in shop.products.values():
        similar = shop.similar(product)
        assert 3 <= len(similar) <= 6 and product not in similar
        assert {p.category for p in similar} == {product.category}
    cheapest = min(shop.catalogue["shoes.boots"], key=lambda p: p.price)
    dearest = max(shop.catalogue["shoes.boots"], key=lambda p: p.price)
    assert max(p.price for p in shop.similar(cheapest)) < min(
        p.price for p in shop.similar(dearest)
    )
