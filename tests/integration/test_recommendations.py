"""Recommendations learned from the stream, on the real broker and Redis, through `insession
run`: other shoppers' outfits teach the engine what goes with a red jacket; a buyer gets the
scarf at her price level, the shelf in `recs:<person>` follows her, the feed's out-of-stock
scarf is never recommended again, a shopper without consent gets only contextual lists, and an
erasure takes her shelf and her sessions away."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from insession.schemas.events import (
    CartAdd,
    Consent,
    ErasureRequest,
    Event,
    OrderLine,
    ProductUpdate,
    ProductView,
    Purchase,
)

from insession.connectors.redis_mirror import MirrorLayout
from insession.settings import Settings
from tests.integration.fault_scenarios import RunningFlow, produce, scrape, total, wait_for
from tests.operators.scenario import (
    JACKET_BASIC,
    JACKET_RED,
    SCARF_POLY,
    Product,
    outfits,
)

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

OUTFITS = outfits(6, 4, 6)
"""Red jackets are bought with the cheap scarf more often than with the silk one."""


class Clock:
    """Event times 2 s apart, ending before the wall clock (events ahead are dead letters)."""

    def __init__(self, start_ms: int) -> None:
        self.now = start_ms

    def tick(self) -> int:
        self.now += 2_000
        return self.now


def _ev(cls: type[Event], clock: Clock, who: str, n: int, **fields: Any) -> Event:
    return cls(
        event_id=f"{who}-{n}", event_time=clock.tick(), channel="web", customer_id=who, **fields
    )


def shopping(who: str, clock: Clock, basket: list[Product], *, consent: bool | None) -> list:
    """`who` views, adds and buys the basket (and says yes or no to personalisation first)."""
    counter = iter(range(1_000))
    events: list[Event] = []
    if consent is not None:
        events.append(_ev(Consent, clock, who, next(counter), granted=consent))
    for product, price, category in basket:
        events.append(
            _ev(ProductView, clock, who, next(counter), product_id=product, price=price,
                category=category)
        )  # fmt: skip
    for product, price, category in basket:
        events.append(
            _ev(CartAdd, clock, who, next(counter), product_id=product, unit_price=price,
                category=category)
        )  # fmt: skip
    lines = tuple(OrderLine(product_id=p, unit_price=c, category=k) for p, c, k in basket)
    events.append(_ev(Purchase, clock, who, next(counter), order_id=f"o-{who}", lines=lines))
    return events


def outfits(clock: Clock) -> Iterator[Event]:
    n = 0
    for count, basket in OUTFITS:
        for _ in range(count):
            n += 1
            yield from shopping(f"other-{n}", clock, basket, consent=None)


def views(who: str, clock: Clock, products: list[Product], start: int = 100) -> list[Event]:
    return [
        _ev(ProductView, clock, who, start + i, product_id=p, price=c, category=k)
        for i, (p, c, k) in enumerate(products)
    ]


def _json(client: redis.Redis, key: str) -> Any:
    raw = client.get(key)
    return None if raw is None else orjson.loads(raw)


def _offers(client: redis.Redis, layout: MirrorLayout, person: str) -> list[dict]:
    return [orjson.loads(raw) for raw in client.lrange(layout.offers_key(person), 0, -1)]


def _events_counted(client: redis.Redis, layout: MirrorLayout, person: str) -> int:
    summary = _json(client, layout.summary_key(person))
    return 0 if summary is None else summary["session"]["events"]


def test_recommendations_learned_live_follow_stock_consent_and_erasure(
    flow_settings: Settings, redis_client: redis.Redis, redis_prefix: str, tmp_path: Path
) -> None:
    layout = MirrorLayout(prefix=redis_prefix)
    now_ms = int(time.time() * 1000)
    clock = Clock(now_ms - 900_000)
    env = {"INSESSION_POLICY": "baseline", "INSESSION_CONTROL_SHARE": "0"}
    flow = RunningFlow(flow_settings, tmp_path / "run.log", env=env)
    flow.start()
    try:
        # 1. Others' outfits, learned first (all of them counted before anyone else shops).
        taught = list(outfits(clock))
        produce(flow_settings, taught, rate=2_000)
        last = f"other-{sum(count for count, _ in OUTFITS)}"
        assert wait_for(lambda: _events_counted(redis_client, layout, last) == 5, 60), _tail(flow)

        # 2. Ann consents, views and buys the red jacket: the silk scarf, at her level.
        ann = shopping("ann", clock, [JACKET_RED], consent=True)
        produce(flow_settings, ann, rate=100)
        assert wait_for(lambda: _offers(redis_client, layout, "ann"), 30), _tail(flow)
        [offer] = [
            o for o in _offers(redis_client, layout, "ann") if o["event_time"] == ann[-1].event_time
        ]
        assert offer["action_id"] == "goes-with-purchase", offer
        assert offer["items"] == ["scarf-silk-red"], "bought with it, at her price level"
        assert {"strategy:bought_together", "seed:jacket-red-38"} <= set(offer["reason_codes"])

        # 3. recs:ann holds her current shelf: as of her last event, without what she owns.
        shelf = _json(redis_client, layout.recs_key("ann"))
        assert shelf is not None and shelf["updated_at"] == ann[-1].event_time
        items = [r["item"] for r in shelf["items"]]
        assert items and "jacket-red-38" not in items
        assert all({"item", "score", "strategy", "seed"} <= set(r) for r in shelf["items"])

        # 4. The feed: the silk scarf is sold out. Never recommended after, offer or shelf.
        sold_out = ProductUpdate(
            event_id="feed-1", event_time=clock.tick(), product_id="scarf-silk-red", in_stock=False
        )
        produce(flow_settings, [sold_out], rate=100)

        def feed_read() -> bool:
            return (
                total(scrape(flow.metrics_url), "insession_events_in_total", stream="products") == 1
            )

        assert wait_for(feed_read, 30), _tail(flow)
        bea = shopping("bea", clock, [JACKET_RED], consent=True)
        bea += views("bea", clock, [SCARF_POLY, JACKET_BASIC, JACKET_RED])
        produce(flow_settings, bea, rate=100)
        assert wait_for(lambda: _events_counted(redis_client, layout, "bea") == 6, 30), _tail(flow)
        assert all("scarf-silk-red" not in o["items"] for o in _offers(redis_client, layout, "bea"))
        bea_shelf = _json(redis_client, layout.recs_key("bea"))
        assert bea_shelf["updated_at"] == bea[-1].event_time
        assert "scarf-silk-red" not in [r["item"] for r in bea_shelf["items"]]

        # 5. Carl never consented: only contextual lists (the product in view, or trending).
        carl_products = [JACKET_RED] * 4  # what he viewed is never shown back to him
        carl = views("carl", clock, carl_products)
        produce(flow_settings, carl, rate=100)
        assert wait_for(lambda: _events_counted(redis_client, layout, "carl") == 4, 30), _tail(flow)
        carl_shelf = _json(redis_client, layout.recs_key("carl"))
        assert carl_shelf["items"], "contextual lists still show products"
        in_view = carl_products[-1][0]
        assert all(r["seed"] in (in_view, None) for r in carl_shelf["items"]), carl_shelf
        assert all(r["strategy"] != "recently_viewed" for r in carl_shelf["items"])
        assert all(
            "consent:not_needed" in o["reason_codes"] for o in _offers(redis_client, layout, "carl")
        )

        # 6. Ann's erasure: her shelf goes, and her sessions leave the shared item knowledge.
        erased = ErasureRequest(
            event_id="ann-erase", event_time=clock.tick(), channel="web", customer_id="ann",
            request_id="gdpr-1",
        )  # fmt: skip
        produce(flow_settings, [erased], rate=100)
        assert wait_for(lambda: not redis_client.exists(layout.recs_key("ann")), 30), _tail(flow)
        assert not redis_client.exists(layout.summary_key("ann"))
        log = redis_client.xrange(f"{redis_prefix}items:log", "-", "+")
        kinds = [orjson.loads(fields[b"o"])[4] for _, fields in log]
        assert kinds[-1] == "f", "the forget of her session went to every process"
        assert flow.alive(), _tail(flow)
    finally:
        flow.stop()


def _tail(flow: RunningFlow) -> str:
    return flow.log.read_text(errors="replace")[-3000:]
