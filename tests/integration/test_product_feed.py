"""The catalogue feed on the real broker, through `insession run`: product updates on the
products topic are read without dead letters, bad ones are dead-lettered with their reason and
field, and the shoppers' traffic around them is counted as without them."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
import redis
from confluent_kafka import Producer
from insession.schemas.codec import decode, encode
from insession.schemas.events import DeadLetter, ProductUpdate

from insession.settings import Settings
from tests.integration.fault_scenarios import (
    RunningFlow,
    Traffic,
    produce,
    scrape,
    session_counts,
    total,
    wait_for,
)
from tests.kafka_io import consume

pytestmark = [pytest.mark.kafka, pytest.mark.redis]


def feed(now_ms: int, count: int) -> list[ProductUpdate]:
    """Updates of the products the traffic views (p0..p8), a few seconds apart, dated before
    `now_ms`."""
    return [
        ProductUpdate(
            event_id=f"feed-{n}",
            event_time=now_ms - (count - n) * 1_000,
            channel="web",
            product_id=f"p{n % 9}",
            title=f"Product {n % 9}",
            price=25.0 + n % 4,
            currency="EUR",
            category="shoes.boots",
            in_stock=n % 5 != 0,
            attributes={"colour": "brown", "size": str(36 + n % 8)},
        )
        for n in range(count)
    ]


def bad_updates(now_ms: int) -> dict[str, tuple[bytes, str | None]]:
    """By reason: the raw message and the field its dead letter must name."""
    good = orjson.loads(encode(feed(now_ms, 1)[0]))
    return {
        "wrong_type": (
            orjson.dumps({**good, "event_id": "bad-1", "attributes": {"colour": 5}}),
            "attributes.colour",
        ),
        "missing_field": (
            orjson.dumps({k: v for k, v in good.items() if k != "product_id"}),
            "product_id",
        ),
        "event_time_ahead": (
            orjson.dumps({**good, "event_id": "bad-3", "event_time": now_ms + 3_600_000}),
            "event_time",
        ),
    }


def test_the_product_feed_is_read_bad_updates_dead_lettered_and_shoppers_unaffected(
    flow_settings: Settings,
    redis_client: redis.Redis,
    redis_prefix: str,
    run_id: str,
    tmp_path: Path,
) -> None:
    now_ms = int(time.time() * 1000)
    traffic = Traffic(customers=6, each=10, tag="shopper")
    updates = feed(now_ms, 40)
    bad = bad_updates(now_ms)
    flow = RunningFlow(flow_settings, tmp_path / "run.log", env={"INSESSION_POLICY": "baseline"})
    flow.start()
    try:
        events = traffic.events(now_ms)
        # The feed interleaved with the shoppers' events, as both arrive in a live shop.
        mixed: list = [item for pair in zip(events, updates, strict=False) for item in pair]
        mixed += events[len(updates) :]
        produce(flow_settings, mixed, rate=400)
        producer = Producer({**flow_settings.kafka_client()})
        for raw, _ in bad.values():
            producer.produce(flow_settings.topic("products"), raw, key=b"p1")
        assert producer.flush(30) == 0

        people = list(traffic.expected())
        assert (
            wait_for(
                lambda: session_counts(redis_client, redis_prefix, people) == traffic.expected(), 60
            )
            is not None
        ), f"every shopper's event counted once:\n{_tail(flow)}"

        messages = consume(flow_settings, ["dead_letter"], f"dlq-{run_id}", at_least=len(bad))
        letters = [decode(m.value()) for m in messages]
        assert all(isinstance(letter, DeadLetter) for letter in letters)
        assert {letter.reason: letter.field for letter in letters} == {
            reason: field for reason, (_, field) in bad.items()
        }, "only the bad updates, each once, naming its field"
        assert len(letters) == len(bad)
        assert all(letter.source_topic == flow_settings.topic("products") for letter in letters)

        def read_feed() -> bool:
            samples = scrape(flow.metrics_url)
            return total(samples, "insession_events_in_total", stream="products") == len(updates)

        assert wait_for(read_feed, 30) is not None, "every good update read and counted"
        samples = scrape(flow.metrics_url)
        assert total(samples, "insession_dead_letters_total") == len(bad)
        assert total(samples, "insession_events_in_total", stream="clickstream") == len(events)
        assert flow.alive(), _tail(flow)
    finally:
        flow.stop()


def _tail(flow: RunningFlow) -> str:
    return flow.log.read_text(errors="replace")[-3000:]
