"""On the real broker and Redis, through `insession run`: redelivered events count once, one
person cannot grow their state, and a consent revoke (also a late one) withdraws the live
personalised offers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis
from confluent_kafka import Message
from insession.operators.session import CART_LINES
from insession.schemas.codec import decode
from insession.schemas.events import (
    CartAdd,
    Consent,
    Event,
    Offer,
    OfferWithdrawal,
    ProductView,
    Search,
)

from insession.connectors.redis_mirror import MirrorLayout
from insession.settings import Settings
from tests.integration.fault_scenarios import RunningFlow, produce, scrape, total, wait_for
from tests.kafka_io import consume

pytestmark = [pytest.mark.kafka, pytest.mark.redis]


def _needs_consent(offer: Offer) -> bool:
    """Personalised: made because the shopper consented (contextual product offers, help and
    content need no consent, and are not withdrawn)."""
    return "consent:granted" in offer.reason_codes


@pytest.fixture
def flow(flow_settings: Settings, tmp_path: Path) -> Iterator[RunningFlow]:
    """`insession run` on this test's topics and prefix, with the baseline policy (the tests
    assert its choices) and no control group."""
    running = RunningFlow(
        flow_settings,
        tmp_path / "run.log",
        env={"INSESSION_POLICY": "baseline", "INSESSION_CONTROL_SHARE": "0"},
    )
    running.start()
    yield running
    running.stop()


def _summary(client: redis.Redis, prefix: str, person: str) -> dict | None:
    raw = client.get(MirrorLayout(prefix=prefix).summary_key(person))
    return orjson.loads(raw) if raw is not None else None


def _listed(client: redis.Redis, prefix: str, person: str) -> list[str]:
    key = MirrorLayout(prefix=prefix).offers_key(person)
    return [decode(raw).offer_id for raw in client.lrange(key, 0, -1)]


class OffersTopic:
    """Reads the whole offers topic again on each call (a new consumer group each time)."""

    def __init__(self, settings: Settings, run_id: str) -> None:
        self.settings = settings
        self.run_id = run_id
        self.reads = 0

    def messages(self) -> list[tuple[Message, Offer | OfferWithdrawal]]:
        self.reads += 1
        found = consume(
            self.settings, ["offers"], f"offers-{self.run_id}-{self.reads}", at_least=0, timeout=5
        )
        return [(m, decode(m.value())) for m in found]

    def until(self, condition, timeout_s: float = 60) -> list[Offer | OfferWithdrawal]:
        """The topic's messages once `condition(messages)` holds (fails if it never does)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            messages = [decoded for _, decoded in self.messages()]
            if condition(messages):
                return messages
        raise AssertionError("the offers topic never showed what was waited for")


def _for(messages: list, customer: str, kind: type) -> list:
    return [m for m in messages if isinstance(m, kind) and m.customer_id == customer]


def test_a_triplicated_event_counts_once(
    flow: RunningFlow, redis_client: redis.Redis, redis_prefix: str
) -> None:
    start = int(time.time() * 1000) - 60_000
    who = {"channel": "web", "customer_id": "dup-1"}
    add = CartAdd(event_id="add-1", event_time=start, product_id="boots", unit_price=80.0, **who)
    events: list[Event | bytes] = [
        add,
        add,
        add,  # a producer retrying twice
        CartAdd(
            event_id="add-2", event_time=start + 1000, product_id="belt", unit_price=20.0, **who
        ),
        ProductView(event_id="view-1", event_time=start + 2000, product_id="boots", **who),
    ]
    produce(flow.settings, events, rate=50)

    def counted() -> bool:
        summary = _summary(redis_client, redis_prefix, "dup-1")
        return summary is not None and summary["session"]["events"] >= 3

    assert wait_for(counted, 60) is not None, "the flow never mirrored dup-1"
    time.sleep(1.0)  # anything counted twice would show by now
    session = _summary(redis_client, redis_prefix, "dup-1")["session"]
    assert session["events"] == 3
    assert session["cart"] == {"boots": 1, "belt": 1} and session["cart_value"] == 100.0
    assert total(scrape(flow.metrics_url), "insession_duplicate_events_total", stream="cart") == 2


def test_ten_thousand_distinct_cart_adds_leave_a_small_summary(
    flow: RunningFlow, redis_client: redis.Redis, redis_prefix: str
) -> None:
    start = int(time.time() * 1000) - 30 * 60_000
    adds: list[Event | bytes] = [
        CartAdd(
            event_id=f"add-{n}",
            event_time=start + n * 100,
            channel="web",
            customer_id="hoarder",
            product_id=f"sku-{n:05}",
            unit_price=float(1 + n % 7),
            category=f"cat-{n:05}",
        )
        for n in range(10_000)
    ]
    produce(flow.settings, adds, rate=10_000)

    def all_read() -> bool:
        summary = _summary(redis_client, redis_prefix, "hoarder")
        return summary is not None and summary["session"]["events"] == 10_000

    assert wait_for(all_read, 120) is not None, "the flow never read the 10,000 adds"
    raw = redis_client.get(MirrorLayout(prefix=redis_prefix).summary_key("hoarder"))
    session = orjson.loads(raw)["session"]
    kept = range(10_000 - CART_LINES, 10_000)
    assert list(session["cart"]) == [f"sku-{n:05}" for n in kept]
    assert session["cart_value"] == pytest.approx(sum(float(1 + n % 7) for n in kept))
    assert len(raw) < 4_000, f"the summary is {len(raw)} bytes"
    print(f"summary after 10,000 distinct adds: {len(raw)} bytes")


def _hesitation(customer: str, start: int, product: str = "boots-12") -> list[Event]:
    return [
        ProductView(
            event_id=f"{customer}-{product}-{n}",
            event_time=start + n * 10_000,
            channel="web",
            customer_id=customer,
            session_id="s1",
            product_id=product,
            price=120.0,
            category="apparel.jacket",
        )
        for n in range(3)
    ]


def _struggle(customer: str, start: int) -> list[Event]:
    return [
        Search(
            event_id=f"{customer}-search-{start}-{n}",
            event_time=start + n * 10_000,
            channel="web",
            customer_id=customer,
            session_id="s1",
            query="delivery",
            result_count=0,
        )
        for n in range(2)
    ]


def _consent(customer: str, at: int, granted: bool) -> Consent:
    return Consent(
        event_id=f"{customer}-consent-{at}",
        event_time=at,
        channel="web",
        customer_id=customer,
        granted=granted,
    )


def test_a_revoke_withdraws_the_live_personalised_offers_also_when_late(
    flow: RunningFlow, redis_client: redis.Redis, redis_prefix: str, run_id: str
) -> None:
    topic = OffersTopic(flow.settings, run_id)
    t0 = int(time.time() * 1000) - 2 * 3600_000
    # "ontime" revokes after its offers; "late" revokes at t0 + 5 s, read after its offers.
    for customer in ("ontime", "late"):
        produce(flow.settings, [_consent(customer, t0, True)], rate=100)
    time.sleep(0.5)  # the grants are read before the views (another topic)
    for customer in ("ontime", "late"):
        traffic = [*_hesitation(customer, t0 + 10_000), *_struggle(customer, t0 + 60_000)]
        produce(flow.settings, traffic, rate=100)

    def both_offered(messages: list) -> bool:
        return all(len(_for(messages, c, Offer)) >= 2 for c in ("ontime", "late"))

    before = topic.until(both_offered)
    made = {c: _for(before, c, Offer) for c in ("ontime", "late")}
    for offers in made.values():
        assert {o.kind for o in offers} >= {"product", "help"}, offers
    personal = {c: [o.offer_id for o in offers if _needs_consent(o)] for c, offers in made.items()}
    assert all(personal.values())
    assert (
        wait_for(
            lambda: all(
                set(personal[c]) <= set(_listed(redis_client, redis_prefix, c)) for c in personal
            ),
            30,
        )
        is not None
    ), "offers listed in Redis"

    produce(
        flow.settings,
        [_consent("ontime", t0 + 100_000, False), _consent("late", t0 + 5_000, False)],
        rate=100,
    )

    def both_withdrawn(messages: list) -> bool:
        return all(_for(messages, c, OfferWithdrawal) for c in ("ontime", "late"))

    topic.until(both_withdrawn)
    keyed = topic.messages()
    for customer in ("ontime", "late"):
        withdrawals = [
            (m, w) for m, w in keyed if isinstance(w, OfferWithdrawal) and w.customer_id == customer
        ]
        assert sorted(w.offer_id for _, w in withdrawals) == sorted(personal[customer])
        assert all(m.key() == customer.encode() for m, _ in withdrawals), "keyed like offers"
        assert all(w.reason == "consent_revoked" for _, w in withdrawals)
        helps = [o.offer_id for o in made[customer] if not _needs_consent(o)]

        def cleared(customer: str = customer, helps: list[str] = helps) -> bool:
            listed = _listed(redis_client, redis_prefix, customer)
            return not set(personal[customer]) & set(listed) and set(helps) <= set(listed)

        assert wait_for(cleared, 30) is not None, f"{customer}: Redis list not cleared"
    late = [w for _, w in keyed if isinstance(w, OfferWithdrawal) and w.customer_id == "late"]
    assert all(w.event_time == t0 + 5_000 < w.withdrawn_at for w in late)

    # A new session of each (the contact policy starts again): no personalised offer, only
    # help for their struggle, which shows the flow has read this far.
    after = t0 + 3600_000
    for customer in ("ontime", "late"):
        traffic = [*_hesitation(customer, after, "coat-3"), *_struggle(customer, after + 60_000)]
        produce(flow.settings, traffic, rate=100)

    def helped_again(messages: list) -> bool:
        return all(
            any(o.decided_at >= after and o.kind == "help" for o in _for(messages, c, Offer))
            for c in ("ontime", "late")
        )

    final = topic.until(helped_again)
    for customer in ("ontime", "late"):
        later = [o for o in _for(final, customer, Offer) if o.decided_at >= after]
        assert not [o for o in later if _needs_consent(o)], later
