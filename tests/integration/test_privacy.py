"""Identity and privacy on the real broker and Redis, with `insession run` as its own process:
forged links are refused, an erasure leaves no trace (Redis, links, ledger, snapshots), and
with a key secret no Redis key name holds a raw id."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis
from insession.schemas.codec import decode
from insession.schemas.events import (
    Consent,
    DeadLetter,
    ErasureRequest,
    Event,
    IdentityLink,
    Offer,
    ProductView,
    Search,
)
from insession.schemas.signatures import sign_identity_link

from insession.connectors.redis_mirror import MirrorLayout
from insession.keys import ledger_key, person_key, summary_key
from insession.settings import Settings
from tests.conftest import RedisUnderTest
from tests.integration.fault_scenarios import RunningFlow, produce, wait_for
from tests.kafka_io import consume
from tests.redis_scan import naming

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

IDENTITY_SECRET = "backend-identity-secret"
KEY_SECRET = "storefront-key-secret"


@pytest.fixture
def flow(flow_settings: Settings, tmp_path: Path) -> Iterator[RunningFlow]:
    running = RunningFlow(flow_settings, tmp_path / "run.log")
    yield running
    running.stop()


@pytest.fixture
def flow_any_redis(
    flow_settings: Settings, any_redis: RedisUnderTest, redis_prefix: str, tmp_path: Path
) -> Iterator[RunningFlow]:
    """A flow mirroring to the Redis server, and (the second run) to the Redis Cluster."""
    running = RunningFlow(
        dataclasses.replace(flow_settings, redis_url=any_redis.url), tmp_path / "run.log"
    )
    yield running
    running.stop()
    for key in any_redis.client.scan_iter(match=redis_prefix + "*", count=1000):
        any_redis.client.delete(key)


class Journey:
    """Events 30 s apart in event time, from ten minutes ago."""

    def __init__(self) -> None:
        self.at = int(time.time() * 1000) - 10 * 60_000
        self.n = 0

    def __call__(self, cls: type[Event], **fields: object) -> Event:
        self.n += 1
        self.at += 30_000
        return cls(event_id=f"j{self.n}", event_time=self.at, channel="web", **fields)


def _views(journey: Journey, n: int, product: str, **who: str) -> list[Event]:
    return [journey(ProductView, product_id=product, price=90.0, **who) for _ in range(n)]


def _summary(client: redis.Redis, prefix: str, person: str) -> dict | None:
    raw = client.get(MirrorLayout(prefix=prefix).summary_key(person))
    return orjson.loads(raw) if raw is not None else None


def _offers(settings: Settings, group: str) -> list[tuple[bytes | None, Offer]]:
    messages = consume(settings, ["offers"], group, at_least=1, timeout=10)
    return [(m.key(), decode(m.value())) for m in messages]


def _dead_letters(settings: Settings, group: str, at_least: int) -> list[DeadLetter]:
    messages = consume(settings, ["dead_letter"], group, at_least=at_least, timeout=15)
    return [decode(m.value()) for m in messages]  # type: ignore[misc]


def _files_naming(directory: Path, needle: str) -> list[str]:
    """Files of the recovery directory (SQLite partitions, their WAL) holding `needle`'s bytes
    anywhere: rows, pickled state, free pages."""
    wanted = needle.encode()
    return sorted(p.name for p in directory.rglob("*") if p.is_file() and wanted in p.read_bytes())


def test_a_forged_link_never_reaches_the_victim(
    flow_settings: Settings,
    redis_client: redis.Redis,
    redis_prefix: str,
    run_id: str,
    flow: RunningFlow,
) -> None:
    flow.env.update(INSESSION_IDENTITY_SECRET=IDENTITY_SECRET, INSESSION_POLICY="baseline")
    flow.start()
    victim, victim_device, attacker = f"victim-{run_id}", f"vdev-{run_id}", f"xdev-{run_id}"
    j = Journey()
    link = j(IdentityLink, anonymous_id=victim_device, customer_id=victim)
    forged = j(IdentityLink, anonymous_id=attacker, customer_id=victim)
    assert isinstance(link, IdentityLink) and isinstance(forged, IdentityLink)
    events = [
        sign_identity_link(link, IDENTITY_SECRET),  # the backend, at the victim's login
        j(Consent, customer_id=victim, granted=True),
        *_views(j, 2, "victims-boots", anonymous_id=victim_device),
        # The attacker: a link with no signature, one signed with a guessed secret...
        j(IdentityLink, anonymous_id=attacker, customer_id=victim),
        sign_identity_link(forged, "guessed"),
        # ... and client events claiming the victim's id from the attacker's device.
        *_views(j, 4, "attackers-sku", anonymous_id=attacker, customer_id=victim),
        j(Search, anonymous_id=attacker, customer_id=victim, query="x", result_count=0),
        j(Search, anonymous_id=attacker, customer_id=victim, query="y", result_count=0),
    ]
    produce(flow_settings, events, rate=500)

    anonymous = f"anon:{attacker}"
    settled = wait_for(
        lambda: (
            (_summary(redis_client, redis_prefix, anonymous) or {}).get("session", {}).get("events")
            == 6
        ),
        timeout_s=60,
    )
    assert settled is not None, "the attacker's events were handled (as their device's)"
    victim_summary = _summary(redis_client, redis_prefix, victim)
    assert victim_summary is not None
    assert victim_summary["session"]["events"] == 3, "the link and two views: the victim's"
    assert "attackers-sku" not in victim_summary["session"]["recent_products"]
    attacker_summary = _summary(redis_client, redis_prefix, anonymous)
    assert attacker_summary is not None and attacker_summary["customer_id"] is None
    assert attacker_summary["consent"] is not True, "the victim's consent is not the attacker's"

    offers = _offers(flow_settings, f"offers-{run_id}")
    assert any(o.anonymous_id == attacker for _, o in offers), "the attacker got the help offer"
    for key, offer in offers:
        if offer.anonymous_id == attacker:
            assert offer.customer_id is None and key == attacker.encode()
        # What the attacker's device viewed is learned as anyone's views (trending, viewed
        # together), but no offer to the victim is seeded by it: it is not her history.
        assert not (offer.customer_id == victim and "seed:attackers-sku" in offer.reason_codes)

    letters = _dead_letters(flow_settings, f"dlq-{run_id}", at_least=2)
    assert sorted(d.reason for d in letters) == ["unverified_identity_link"] * 2
    assert all(d.source_topic == flow_settings.topic("identity") for d in letters)


def test_after_erasure_nothing_names_the_customer_and_the_old_device_is_a_stranger(
    flow_settings: Settings,
    any_redis: RedisUnderTest,
    redis_prefix: str,
    run_id: str,
    flow_any_redis: RunningFlow,
    tmp_path: Path,
) -> None:
    redis_client, flow = any_redis.client, flow_any_redis
    recovery = tmp_path / "recovery"
    flow.start("--recovery-dir", str(recovery), "--epoch-ms", "50")
    customer, device = f"erased-{run_id}", f"edev-{run_id}"
    j = Journey()
    produce(
        flow_settings,
        [
            *_views(j, 1, "boots", anonymous_id=device),
            j(IdentityLink, anonymous_id=device, customer_id=customer),
            j(Consent, customer_id=customer, granted=True),
            *_views(j, 4, "boots", anonymous_id=device),
            j(Search, anonymous_id=device, query="delivery", result_count=0),
            j(Search, anonymous_id=device, query="shipping", result_count=0),
        ],
        rate=500,
    )
    layout = MirrorLayout(prefix=redis_prefix)

    def offered() -> bool:
        return redis_client.llen(layout.offers_key(customer)) > 0

    assert wait_for(offered, timeout_s=60) is not None, "offers were made to the customer"
    assert redis_client.zcard(ledger_key(customer, "", redis_prefix)) > 0, "in the ledger"
    assert wait_for(lambda: _files_naming(recovery, customer), timeout_s=30) is not None, (
        "the snapshots name the customer before the erasure (else the scan below proves little)"
    )

    produce(flow_settings, [j(ErasureRequest, customer_id=customer, request_id="r-1")], rate=50)
    gone = wait_for(lambda: redis_client.exists(layout.summary_key(customer)) == 0, 60)
    assert gone is not None, "the erasure was handled"
    assert wait_for(lambda: not _files_naming(recovery, customer), timeout_s=60) is not None, (
        f"recovery files still name the customer: {_files_naming(recovery, customer)}"
    )
    assert naming(redis_client, redis_prefix, customer) == []

    produce(flow_settings, _views(j, 1, "socks", anonymous_id=device), rate=50)
    stranger = wait_for(
        lambda: _summary(redis_client, redis_prefix, f"anon:{device}") is not None, 60
    )
    assert stranger is not None, "the old device's next event is a stranger's"
    summary = _summary(redis_client, redis_prefix, f"anon:{device}")
    assert summary is not None and summary["customer_id"] is None
    assert summary["session"]["recent_products"] == ["socks"]
    time.sleep(1.0)  # a few more epochs and snapshots
    assert redis_client.exists(layout.summary_key(customer), layout.offers_key(customer)) == 0
    assert naming(redis_client, redis_prefix, customer) == []
    assert _files_naming(recovery, customer) == []


def test_with_a_key_secret_no_redis_key_name_holds_a_raw_id(
    flow_settings: Settings,
    redis_client: redis.Redis,
    redis_prefix: str,
    run_id: str,
    flow: RunningFlow,
) -> None:
    flow.env.update(INSESSION_KEY_SECRET=KEY_SECRET, INSESSION_POLICY="baseline")
    flow.start()
    customer, device, stranger = f"known-{run_id}", f"kdev-{run_id}", f"sdev-{run_id}"
    j = Journey()
    produce(
        flow_settings,
        [
            j(IdentityLink, anonymous_id=device, customer_id=customer),
            j(Consent, customer_id=customer, granted=True),
            *_views(j, 4, "boots", anonymous_id=device),
            j(Search, anonymous_id=stranger, query="delivery", result_count=0),
            j(Search, anonymous_id=stranger, query="shipping", result_count=0),
        ],
        rate=500,
    )
    people = {customer: customer, f"anon:{stranger}": stranger}

    def mirrored() -> bool:
        return (
            all(
                redis_client.exists(summary_key(person, KEY_SECRET, redis_prefix))
                for person in people
            )
            and redis_client.exists(ledger_key(customer, KEY_SECRET, redis_prefix)) == 1
        )

    assert wait_for(mirrored, timeout_s=60) is not None, "summaries found by the storefront key"
    raw = redis_client.get(summary_key(customer, KEY_SECRET, redis_prefix))
    assert raw is not None and orjson.loads(raw)["customer_id"] == customer
    names = [k.decode() for k in redis_client.scan_iter(match=redis_prefix + "*")]
    for raw_id in (customer, device, stranger):
        assert not [n for n in names if raw_id in n], raw_id

    offers = _offers(flow_settings, f"offers-{run_id}")
    assert {o.customer_id or o.anonymous_id for _, o in offers} >= {customer, stranger}
    for key, offer in offers:
        person = offer.customer_id or f"anon:{offer.anonymous_id}"
        assert key == person_key(person, KEY_SECRET).encode()
        assert people.get(person, "").encode() not in (key or b"")
