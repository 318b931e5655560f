"""The product store: the feed wins over what events imply, stock comes from the feed alone,
late messages never undo newer ones, and it holds a bounded number of products."""

from __future__ import annotations

import dataclasses
import gc
import itertools
import threading
import tracemalloc
from typing import Any

import pytest
from insession.operators.products import MAX_PRODUCTS, ProductStore
from insession.schemas.codec import decode, encode
from insession.schemas.events import (
    MAX_ATTRIBUTES,
    CartAdd,
    Event,
    OrderLine,
    ProductUpdate,
    ProductView,
    Purchase,
    Search,
)

T0 = 1_764_000_000_000
_ids = itertools.count()


def update(product: str, at: int = 0, **stated: Any) -> ProductUpdate:
    return ProductUpdate(
        event_id=f"u{next(_ids)}", event_time=T0 + at, product_id=product, **stated
    )


def view(product: str, at: int = 0, **shown: Any) -> ProductView:
    return ProductView(
        event_id=f"v{next(_ids)}",
        event_time=T0 + at,
        channel="web",
        customer_id="c-1",
        product_id=product,
        **shown,
    )


def cart_add(product: str, at: int = 0, **shown: Any) -> CartAdd:
    return CartAdd(
        event_id=f"a{next(_ids)}",
        event_time=T0 + at,
        channel="web",
        anonymous_id="dev-1",
        product_id=product,
        **shown,
    )


def purchase(at: int, *lines: OrderLine, currency: str | None = None) -> Purchase:
    return Purchase(
        event_id=f"o{next(_ids)}",
        event_time=T0 + at,
        channel="store",
        customer_id="c-1",
        order_id=f"order-{at}",
        lines=lines,
        currency=currency,
    )


# --- stock and withdrawal come from the feed alone -------------------------------------------


def test_the_feed_marks_a_product_out_of_stock_and_events_never_put_it_back() -> None:
    store = ProductStore()
    store.learn_event(view("boots", price=90.0, category="shoes.boots"))
    assert store.is_recommendable("boots"), "a product only events named counts as on sale"
    store.learn_update(update("boots", 1_000, in_stock=False))
    assert not store.is_recommendable("boots")
    # Later views, adds and orders (a stale page, a restored cart) change nothing of stock.
    store.learn_event(view("boots", 2_000, price=90.0))
    store.learn_event(cart_add("boots", 3_000, unit_price=90.0))
    store.learn_event(purchase(4_000, OrderLine(product_id="boots", unit_price=90.0)))
    assert not store.is_recommendable("boots")
    assert store.get("boots").in_stock is False
    store.learn_update(update("boots", 5_000, in_stock=True))
    assert store.is_recommendable("boots")


def test_a_withdrawn_product_is_never_recommendable_until_the_feed_sells_it_again() -> None:
    store = ProductStore()
    store.learn_update(update("scarf", in_stock=True, price=30.0))
    store.learn_update(update("scarf", 1_000, withdrawn=True))
    assert not store.is_recommendable("scarf")
    assert store.get("scarf").in_stock is True, "withdrawal leaves the stock as it was"
    store.learn_event(cart_add("scarf", 2_000, unit_price=30.0))
    assert not store.is_recommendable("scarf")
    store.learn_update(update("scarf", 3_000, price=28.0))  # says nothing of withdrawal
    assert not store.is_recommendable("scarf")
    store.learn_update(update("scarf", 4_000, withdrawn=False))
    assert store.is_recommendable("scarf")


def test_an_unknown_product_is_not_recommendable() -> None:
    store = ProductStore()
    assert not store.is_recommendable("nothing")
    assert store.get("nothing") is None
    assert not store.in_price_band("nothing", None, None)


# --- the feed wins ---------------------------------------------------------------------------


def test_the_feed_wins_over_what_events_imply_and_events_fill_the_rest() -> None:
    store = ProductStore()
    store.learn_event(view("jacket", price=120.0, currency="EUR", category="apparel", brand="X"))
    store.learn_update(update("jacket", 1_000, price=129.0, category="apparel.jacket"))
    # A newer view at another price (a sale badge, a stale cache) does not move the feed's.
    store.learn_event(
        view("jacket", 2_000, price=99.0, currency="EUR", category="sale", brand="Nord")
    )
    jacket = store.get("jacket")
    assert (jacket.price, jacket.category) == (129.0, "apparel.jacket")
    assert (jacket.brand, jacket.currency) == ("Nord", "EUR"), "not stated by the feed: events"
    assert set(jacket.stated) == {"price", "category"}
    assert jacket.implied == {"brand": T0 + 2_000, "currency": T0 + 2_000}


def test_an_update_states_only_what_it_carries_and_replaces_the_attributes() -> None:
    store = ProductStore()
    store.learn_update(
        update(
            "dress",
            title="Linen dress",
            price=80.0,
            currency="EUR",
            category="apparel.dress",
            brand="Nord",
            in_stock=True,
            url="/p/linen-dress",
            image="https://img.example.com/dress.jpg",
            attributes={"colour": "blue", "size": "38"},
        )
    )
    store.learn_update(update("dress", 1_000, price=64.0, attributes={"colour": "green"}))
    dress = store.get("dress")
    assert (dress.title, dress.price, dress.in_stock, dress.url) == (
        "Linen dress",
        64.0,
        True,
        "/p/linen-dress",
    )
    assert dress.attributes == {"colour": "green"}, "a new map replaces the old one"
    assert dress.image == "https://img.example.com/dress.jpg" and not dress.withdrawn


def test_what_get_returns_is_a_copy() -> None:
    store = ProductStore()
    store.learn_update(update("hat", price=10.0, attributes={"colour": "red"}))
    copy = store.get("hat")
    copy.price = 1.0
    copy.attributes["colour"] = "blue"
    copy.stated["title"] = T0
    hat = store.get("hat")
    assert (hat.price, hat.attributes, set(hat.stated)) == (
        10.0,
        {"colour": "red"},
        {"price", "attributes"},
    )


# --- event time, not arrival order -----------------------------------------------------------


def test_a_late_feed_update_fills_in_only_what_no_newer_one_stated() -> None:
    store = ProductStore()
    store.learn_update(update("lamp", 2_000, price=50.0, in_stock=False))
    store.learn_update(update("lamp", 1_000, price=40.0, in_stock=True, brand="Lux"))  # late
    lamp = store.get("lamp")
    assert (lamp.price, lamp.in_stock, lamp.brand) == (50.0, False, "Lux")
    assert lamp.stated == {"price": T0 + 2_000, "in_stock": T0 + 2_000, "brand": T0 + 1_000}


def test_a_late_event_fills_in_only_what_no_newer_one_showed() -> None:
    store = ProductStore()
    store.learn_event(view("mug", 2_000, price=12.0))
    store.learn_event(view("mug", 1_000, price=9.0, category="kitchen", brand="Clay"))  # late
    mug = store.get("mug")
    assert (mug.price, mug.category, mug.brand) == (12.0, "kitchen", "Clay")
    assert mug.implied == {"price": T0 + 2_000, "category": T0 + 1_000, "brand": T0 + 1_000}


def test_the_same_messages_in_any_order_leave_the_same_store() -> None:
    messages: list[ProductUpdate | Event] = [
        update("p", 1_000, price=20.0, in_stock=True),
        update("p", 3_000, in_stock=False, attributes={"colour": "red"}),
        update("p", 2_000, price=25.0, brand="Feed"),
        view("p", 500, price=18.0, currency="EUR", category="c", brand="Shown"),
        cart_add("p", 4_000, unit_price=19.0, currency="USD", category="d"),
        purchase(3_500, OrderLine(product_id="p", unit_price=17.0, category="e"), currency="GBP"),
    ]
    seen = set()
    for order in itertools.permutations(messages):
        store = ProductStore()
        for message in order:
            if isinstance(message, ProductUpdate):
                store.learn_update(message)
            else:
                store.learn_event(message)
        product = store.get("p")
        assert product is not None
        seen.add(
            repr(
                dataclasses.replace(
                    product,
                    stated=dict(sorted(product.stated.items())),
                    implied=dict(sorted(product.implied.items())),
                )
            )
        )
    assert len(seen) == 1, seen
    only = store.get("p")
    assert (only.price, only.in_stock, only.brand, only.category, only.currency) == (
        25.0,
        False,
        "Feed",
        "d",
        "USD",
    )


def test_events_that_show_products_teach_and_others_are_ignored() -> None:
    store = ProductStore()
    store.learn_event(
        purchase(
            0,
            OrderLine(product_id="a", unit_price=5.0, category="toys"),
            OrderLine(product_id="b"),
            currency="EUR",
        )
    )
    store.learn_event(cart_add("c", 1, unit_price=7.5, currency="EUR", category="toys"))
    store.learn_event(
        Search(
            event_id="s", event_time=T0, channel="web", customer_id="c-1", query="x", result_count=0
        )
    )
    assert len(store) == 3 and {"a", "b", "c"} <= set(store._products)
    a = store.get("a")
    assert (a.price, a.currency, a.category) == (5.0, "EUR", "toys")
    assert store.get("b").price is None and store.is_recommendable("b")


# --- lookups for the recommendation step ------------------------------------------------------


def test_price_band_category_and_cheaper_than() -> None:
    store = ProductStore()
    store.learn_update(update("coat", price=200.0, currency="EUR", category="apparel.coat"))
    store.learn_update(update("parka", price=150.0, currency="EUR", category="apparel.coat"))
    store.learn_update(update("anorak", price=90.0, currency="USD", category="apparel.coat"))
    store.learn_event(view("mystery", category="apparel.coat"))
    assert store.in_price_band("parka", 100.0, 150.0) and not store.in_price_band("coat", 100, 150)
    assert store.in_price_band("coat", None, None) and store.in_price_band("coat", 150.0, None)
    assert not store.in_price_band("mystery", None, None), "no price: in no band"
    assert store.cheaper_than("parka", "coat") and not store.cheaper_than("coat", "parka")
    assert not store.cheaper_than("parka", "parka")
    assert not store.cheaper_than("anorak", "coat"), "prices in two currencies do not compare"
    assert not store.cheaper_than("mystery", "coat") and not store.cheaper_than("coat", "nope")
    assert store.same_category("coat", "parka") and store.same_category("mystery", "anorak")
    store.learn_event(view("sock"))
    assert not store.same_category("sock", "nope") and not store.same_category("sock", "coat")
    store.learn_event(view("shoe"))
    assert not store.same_category("sock", "shoe"), "no category known is no shared one"


# --- bounds ----------------------------------------------------------------------------------


def test_the_least_recently_seen_product_goes_first_and_lookups_do_not_count() -> None:
    store = ProductStore(capacity=3)
    for n, product in enumerate("abc"):
        store.learn_update(update(product, n, price=1.0))
    store.learn_event(view("a", 10))  # seen again: now the most recent
    assert store.is_recommendable("b") and store.get("b") is not None  # lookups: no refresh
    store.learn_update(update("d", 11, price=1.0))
    assert "b" not in store and {"a", "c", "d"} == set(store._products)
    store.learn_event(view("e", 12))
    assert "c" not in store and len(store) == 3


def test_the_store_never_holds_more_than_its_capacity() -> None:
    store = ProductStore(capacity=100)
    for n in range(1_000):
        store.learn_event(
            purchase(n, *(OrderLine(product_id=f"p{n}-{k}", unit_price=1.0) for k in range(5)))
        )
    assert len(store) == 100
    assert f"p{999}-4" in store and "p0-0" not in store
    assert MAX_PRODUCTS == ProductStore().capacity == 50_000
    with pytest.raises(ValueError, match="at least 1"):
        ProductStore(capacity=0)


def test_worker_threads_share_one_store() -> None:
    store = ProductStore(capacity=50)
    errors: list[BaseException] = []

    def teach(worker: int) -> None:
        try:
            for n in range(3_000):
                product = f"p{(n * 7 + worker) % 200}"
                if n % 2:
                    store.learn_update(update(product, n, price=float(n), in_stock=n % 3 > 0))
                else:
                    store.learn_event(view(product, n, price=1.0))
                store.is_recommendable(product)
                store.cheaper_than(product, f"p{n % 200}")
        except BaseException as failure:  # reported below
            errors.append(failure)

    threads = [threading.Thread(target=teach, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(store) == 50


def _bytes_per_product(store: ProductStore, wires: list[bytes], learn: str) -> float:
    """Memory the store holds per product, counting the decoded strings it keeps."""
    gc.collect()
    tracemalloc.start()
    try:
        for wire in wires:
            getattr(store, learn)(decode(wire))
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return held / len(wires)


def typical_update(n: int) -> ProductUpdate:
    return update(
        f"sku-{n:08d}",
        n,
        title=f"Waxed cotton field jacket, olive {n}",
        price=129.0,
        currency="EUR",
        category="apparel.jackets.outdoor",
        brand="Nordfjell",
        in_stock=True,
        url=f"/p/waxed-cotton-field-jacket-olive-{n}",
        image=f"https://cdn.example.com/img/{n}/main.jpg",
        attributes={"colour": "olive", "size": "M", "material": "cotton"},
        withdrawn=False,
    )


def longest_update(n: int) -> ProductUpdate:
    return update(
        f"{n:0256d}",
        n,
        title="t" * 512,
        price=1.0,
        currency="EUR",
        category="c" * 256,
        brand="b" * 256,
        in_stock=True,
        url="u" * 2048,
        image="i" * 2048,
        attributes={f"{k:064d}": "v" * 128 for k in range(MAX_ATTRIBUTES)},
        withdrawn=True,
    )


def longest_view(n: int) -> ProductView:
    return view(f"{n:0256d}", n, price=1.0, currency="EUR", category="c" * 256, brand="b" * 256)


def memory_per_product() -> tuple[float, float, float]:
    """Bytes per product: a typical feed product, one with every field at its longest, and
    one that only (longest) events named."""
    store = ProductStore(capacity=10**6)
    return (
        _bytes_per_product(
            store, [encode(typical_update(n)) for n in range(5_000)], "learn_update"
        ),
        _bytes_per_product(store, [encode(longest_update(n)) for n in range(500)], "learn_update"),
        _bytes_per_product(store, [encode(longest_view(n)) for n in range(5_000)], "learn_event"),
    )


def test_memory_per_product_is_what_max_products_documents() -> None:
    typical, longest, shown = memory_per_product()
    assert typical < 2_000 and longest < 12_000 and shown < 1_600, (typical, longest, shown)
