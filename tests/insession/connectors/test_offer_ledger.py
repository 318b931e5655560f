"""The offer ledger on the real Redis: first content per offer id, a per-person index that an
erasure deletes the person's entries by, and hashed key names with a key secret."""

from __future__ import annotations

import dataclasses

import pytest
import redis
from insession.schemas.codec import encode
from insession.schemas.events import Offer

from insession.connectors.offer_ledger import OfferLedger
from insession.connectors.redis_mirror import MirrorLayout, MirrorUpdate, RedisMirror
from insession.keys import person_key
from tests.conftest import RedisUnderTest
from tests.redis_scan import naming
from tests.samples import sample_contracts

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_client(any_redis: RedisUnderTest) -> redis.Redis:
    """Every test here runs against the Redis server and against the Redis Cluster."""
    return any_redis.client


def _offer(n: int, **who: str | None) -> Offer:
    template = next(c for c in sample_contracts() if isinstance(c, Offer))
    who = who or {"customer_id": "c-1"}
    return dataclasses.replace(template, offer_id=f"of-{n}", event_id=f"of-{n}", **who)


def _names(client: redis.Redis, prefix: str) -> list[str]:
    return sorted(k.decode() for k in client.scan_iter(match=prefix + "*"))


def test_a_known_offer_id_is_sent_with_its_first_content(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    ledger = OfferLedger(redis_client, redis_prefix, ttl_s=60)
    first = _offer(1)
    assert ledger.settle([first]) == [encode(first)]
    again = dataclasses.replace(first, probability=0.5)
    assert ledger.settle([again]) == [encode(first)]
    assert (ledger.counters.new, ledger.counters.resent) == (1, 1)


def test_each_person_has_an_index_of_their_offer_ids(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    clock = [1_000_000.0]
    ledger = OfferLedger(redis_client, redis_prefix, ttl_s=60, clock=lambda: clock[0])
    ledger.settle([_offer(1), _offer(2), _offer(3, customer_id=None, anonymous_id="dev-9")])
    index = redis_client.zrange(ledger.index_key("c-1"), 0, -1, withscores=True)
    assert index == [(b"of-1", 1_000_060.0), (b"of-2", 1_000_060.0)]
    assert redis_client.zrange(ledger.index_key("anon:dev-9"), 0, -1) == [b"of-3"]
    assert 0 < redis_client.ttl(ledger.index_key("c-1")) <= 60
    clock[0] += 61  # of-1 and of-2 have expired: a write prunes them from the index
    ledger.settle([_offer(4)])
    assert redis_client.zrange(ledger.index_key("c-1"), 0, -1) == [b"of-4"]


def test_an_erasure_deletes_the_customers_ledger_entries(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    ledger = OfferLedger(redis_client, redis_prefix, ttl_s=60)
    ledger.settle([_offer(1), _offer(2), _offer(3, customer_id="c-2")])
    mirror = RedisMirror(redis_client, MirrorLayout(prefix=redis_prefix))
    mirror.write([MirrorUpdate("c-1", erase=True)])
    gone = (ledger.key(_offer(1)), ledger.key(_offer(2)), ledger.index_key("c-1"))
    assert redis_client.exists(*gone) == 0
    assert (
        redis_client.exists(ledger.key(_offer(3, customer_id="c-2")), ledger.index_key("c-2")) == 2
    ), "others kept"
    assert naming(redis_client, redis_prefix, "c-1") == []


def test_a_device_forgotten_at_its_link_keeps_its_ledger_entries(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    # They name no customer, and guard what a resume resends for the device's offers.
    ledger = OfferLedger(redis_client, redis_prefix, ttl_s=60)
    ledger.settle([_offer(1, customer_id=None, anonymous_id="dev-9")])
    RedisMirror(redis_client, MirrorLayout(prefix=redis_prefix)).write(
        [MirrorUpdate("anon:dev-9", erase=True)]
    )
    assert (
        redis_client.exists(
            ledger.key(_offer(1, customer_id=None, anonymous_id="dev-9")),
            ledger.index_key("anon:dev-9"),
        )
        == 2
    )


def test_with_a_key_secret_no_key_name_holds_a_raw_id(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    secret = "k3y"
    ledger = OfferLedger(redis_client, redis_prefix, ttl_s=60, key_secret=secret)
    ledger.settle([_offer(1), _offer(2, customer_id=None, anonymous_id="dev-9")])
    layout = MirrorLayout(prefix=redis_prefix, key_secret=secret)
    RedisMirror(redis_client, layout).write([MirrorUpdate("c-1", summary={"x": 1})])
    names = _names(redis_client, redis_prefix)
    customer, device = person_key("c-1", secret), person_key("anon:dev-9", secret)
    assert names == sorted(
        [
            f"{redis_prefix}offer:{{{customer}}}:of-1",
            f"{redis_prefix}offer:{{{device}}}:of-2",
            f"{redis_prefix}ledger:{{{customer}}}",
            f"{redis_prefix}ledger:{{{device}}}",
            f"{redis_prefix}summary:{customer}",
        ]
    )
    assert not any("c-1" in n or "dev-9" in n for n in names)
    RedisMirror(redis_client, layout).write([MirrorUpdate("c-1", erase=True)])
    assert _names(redis_client, redis_prefix) == sorted(
        [f"{redis_prefix}offer:{{{device}}}:of-2", f"{redis_prefix}ledger:{{{device}}}"]
    )


def test_an_erasure_of_a_customer_whose_id_has_braces_deletes_their_entries(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    """On a cluster the entries must share the index's slot whatever the id holds."""
    ledger = OfferLedger(redis_client, redis_prefix, ttl_s=60)
    customer = "}c{1}x"
    ledger.settle([_offer(1, customer_id=customer), _offer(2, customer_id=customer)])
    assert redis_client.zcard(ledger.index_key(customer)) == 2
    RedisMirror(redis_client, MirrorLayout(prefix=redis_prefix)).write(
        [MirrorUpdate(customer, erase=True)]
    )
    assert _names(redis_client, redis_prefix) == []
