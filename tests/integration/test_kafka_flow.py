"""End to end on the real broker and Redis: events in, offers and dead letters out, state in
Redis, consent and erasure honoured, no duplicate offer ids."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import orjson
import pytest
import redis
from confluent_kafka import Producer
from insession.schemas.codec import decode, encode
from insession.schemas.events import (
    STREAM_OF,
    Consent,
    DeadLetter,
    ErasureRequest,
    IdentityLink,
    Offer,
    ProductView,
    Search,
)

from insession.connectors.redis_mirror import MirrorLayout
from insession.settings import Settings
from insession.simulator import SimulationConfig, produce, simulate
from tests.kafka_io import consume
from tests.samples import failed_searches

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

T0 = 1_764_000_000_000
BAD = [b"{not json", b'{"type": "search", "schema_version": "1.0"}', b"", b"[1, 2]"]


def _traffic() -> list:
    def ev(cls, n: int, **kw):
        return cls(event_id=f"k{n}", event_time=T0 + n * 30_000, channel="web", **kw)

    return [
        ev(ProductView, 1, anonymous_id="dev-a", product_id="boots", price=90.0),
        ev(IdentityLink, 2, anonymous_id="dev-a", customer_id="c-1"),
        ev(Consent, 3, customer_id="c-1", granted=True),
        *(
            ev(ProductView, n, anonymous_id="dev-a", product_id="boots", price=90.0)
            for n in range(4, 8)
        ),
        ev(ProductView, 8, customer_id="c-3", product_id="boots", price=90.0),
        *(
            ev(ProductView, n, customer_id="c-3", product_id="boots", price=90.0)
            for n in range(9, 12)
        ),
        ev(Search, 12, customer_id="c-2", query="delivery", result_count=0),
        ev(Search, 13, customer_id="c-2", query="shipping", result_count=0),
        ev(ErasureRequest, 14, customer_id="c-2", request_id="r-1"),
    ]


def _consume_all(settings: Settings, stream: str, group: str, expected_at_least: int) -> list:
    return consume(settings, [stream], group, at_least=expected_at_least)


def _produce(producer: Producer, settings: Settings, events: list, pause_s: float) -> None:
    for event in events:
        producer.produce(
            settings.topic(STREAM_OF[event.type]),
            encode(event),
            key=(event.partition_key() or "").encode(),
        )
        producer.flush(10)
        time.sleep(pause_s)


def _await_offer_for(settings: Settings, customer: str, group: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = consume(settings, ["offers"], group, at_least=1, timeout=5)
        if any(decode(m.value()).customer_id == customer for m in found):
            return
    raise AssertionError(f"no offer for {customer}: the flow did not get this far")


@pytest.fixture
def running_flow(kafka_settings: Settings, redis_prefix: str, tmp_path) -> Iterator[None]:
    """`insession run` in its own process, on this run's topics, until the test ends."""
    env = {
        **os.environ,
        "INSESSION_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "INSESSION_REDIS_PREFIX": redis_prefix,
        "INSESSION_EPOCH_MS": "20",
        "INSESSION_POLICY": "baseline",
    }  # the journey asserts the baseline's choices
    env.update(
        {
            f"INSESSION_TOPIC_{stream.upper()}": topic
            for stream, topic in kafka_settings.topics.items()
        }
    )
    log = (tmp_path / "run.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "insession.cli", "run", "--from-beginning"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield
    process.send_signal(signal.SIGINT)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


def test_the_flow_on_kafka_offers_mirrors_dead_letters_and_erases(
    kafka_settings: Settings,
    redis_client: redis.Redis,
    redis_prefix: str,
    run_id: str,
    running_flow: None,
) -> None:
    producer = Producer({**kafka_settings.kafka_client()})
    _produce(producer, kafka_settings, failed_searches("warm", T0), 0)
    assert _consume_all(kafka_settings, "offers", f"warm-{run_id}", 1), "the flow is not live"

    _produce(producer, kafka_settings, _traffic(), pause_s=0.05)
    for raw in BAD:
        producer.produce(kafka_settings.topic("clickstream"), raw)
    assert producer.flush(30) == 0

    offers_msgs = _consume_all(kafka_settings, "offers", f"offers-{run_id}", 4)
    offers = [decode(m.value()) for m in offers_msgs]
    assert all(isinstance(o, Offer) for o in offers)
    assert len({o.offer_id for o in offers}) == len(offers), "no duplicate offer ids"
    assert all(
        m.key().decode() == o.partition_key() for m, o in zip(offers_msgs, offers, strict=True)
    )
    personal = {(o.customer_id, o.action_id) for o in offers}
    assert ("c-1", "variant-cheaper") in personal, "consented, stitched hesitation"
    assert not any(
        o.customer_id == "c-3" and "consent:not_needed" not in o.reason_codes for o in offers
    ), "no personalised offer without consent"
    assert any(o.customer_id == "c-2" and o.kind == "help" for o in offers)

    letters = [
        decode(m.value())
        for m in _consume_all(kafka_settings, "dead_letter", f"dlq-{run_id}", len(BAD))
    ]
    assert len(letters) == len(BAD) and all(isinstance(d, DeadLetter) for d in letters)
    assert {d.reason for d in letters} == {
        "invalid_json",
        "missing_field",
        "empty",
        "not_an_object",
    }
    assert all(d.source_topic == kafka_settings.topic("clickstream") for d in letters)

    layout = MirrorLayout(prefix=redis_prefix)
    summary = orjson.loads(redis_client.get(layout.summary_key("c-1")))
    assert summary["consent"] is True and summary["session"]["recent_products"][-1] == "boots"
    assert redis_client.llen(layout.offers_key("c-1")) >= 1
    assert redis_client.exists(layout.summary_key("anon:dev-a")) == 0, "device forgotten"
    assert redis_client.exists(layout.summary_key("c-2"), layout.offers_key("c-2")) == 0, (
        "erasure honoured in Redis"
    )


def test_simulated_traffic_through_kafka(
    kafka_settings: Settings,
    redis_client: redis.Redis,
    redis_prefix: str,
    run_id: str,
    running_flow: None,
) -> None:
    config = SimulationConfig(seed=3, customers=60, malformed_rate=0.02, erasure_rate=0.05)
    items = list(simulate(config))
    events = [item for item in items if not isinstance(item, bytes)]
    malformed = len(items) - len(events)
    consented = {
        e.customer_id
        for e in events
        if isinstance(e, Consent) and e.granted and e.purpose == "personalisation"
    }
    erased = {e.customer_id for e in events if isinstance(e, ErasureRequest)}
    assert malformed > 0 and consented and erased

    producer = Producer({**kafka_settings.kafka_client()})
    _produce(producer, kafka_settings, failed_searches("warm", T0), 0)
    assert _consume_all(kafka_settings, "offers", f"warm-{run_id}", 1), "the flow is not live"
    sent = produce(items, kafka_settings, rate=3000)
    assert sent.failed == 0
    # Produced last: once its offer is out, the flow has read (nearly) all that came before.
    _produce(producer, kafka_settings, failed_searches("sentinel", T0), 0)
    _await_offer_for(kafka_settings, "sentinel", f"sentinel-{run_id}")

    offers = [
        decode(m.value()) for m in _consume_all(kafka_settings, "offers", f"sim-{run_id}", 10)
    ]
    offers = [o for o in offers if o.customer_id not in ("warm", "sentinel")]
    assert len(offers) > 20
    assert len({o.offer_id for o in offers}) == len(offers), "no duplicate offer ids"
    personal = [o for o in offers if "consent:granted" in o.reason_codes]
    # A consent read before its device's identity link (another topic) is the device's: it
    # may personalise that device's anonymous session, until the link hands it on.
    consenting_devices = {
        e.anonymous_id
        for e in events
        if isinstance(e, Consent) and e.granted and e.purpose == "personalisation"
    }
    assert personal and all(
        o.customer_id in consented
        or (o.customer_id is None and o.anonymous_id in consenting_devices)
        for o in personal
    )

    letters = _consume_all(kafka_settings, "dead_letter", f"simdlq-{run_id}", malformed)
    assert len(letters) == malformed
    assert all(decode(m.value()).reason for m in letters)

    layout = MirrorLayout(prefix=redis_prefix)
    for customer in erased:
        assert redis_client.exists(layout.summary_key(customer)) == 0, customer
    served = {o.customer_id for o in offers if o.customer_id} - erased
    assert any(redis_client.exists(layout.summary_key(c)) for c in served)
