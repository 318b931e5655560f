"""Dormant records on the real Redis server and the real Redis Cluster: read one at a time or a
batch at a time, and a prefetched record that is never staler than Redis."""

from __future__ import annotations

import pytest
import redis
from insession.operators.dormant import PrefetchingStore

from insession.connectors.breaker import Breaker
from insession.connectors.dormant_store import RedisDormantStore
from tests.conftest import RedisUnderTest

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_client(any_redis: RedisUnderTest) -> redis.Redis:
    """Every test here runs against the Redis server and against the Redis Cluster."""
    return any_redis.client


def test_a_batch_of_records_is_read_in_one_call_across_slots(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    store = RedisDormantStore(redis_client, redis_prefix)
    people = [f"c-{n}" for n in range(40)]  # on a cluster, they hash to every node
    for person in people[::2]:
        assert store.save(person, f"record of {person}".encode())
    records = store.load_many(people)
    assert records == [
        f"record of {p}".encode() if n % 2 == 0 else None for n, p in enumerate(people)
    ]
    assert store.load("c-0") == b"record of c-0"
    assert redis_client.ttl(store.key("c-0")) > 0


def test_a_prefetched_record_answers_the_load_and_is_never_staler_than_redis(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    redis_store = RedisDormantStore(redis_client, redis_prefix)
    store = PrefetchingStore(redis_store)
    assert store.save("back", b"days ago")
    assert store.save("erased", b"before the erasure")
    assert store.prefetch(["back", "new", "erased", "evicted", "back"]) == 4
    # Redis changes behind the prefetch: the answers come from what was read.
    redis_client.delete(redis_store.key("back"))
    assert (store.load("back"), store.load("new")) == (b"days ago", None)
    assert store.hits == 2
    # People in memory are not read again; a person leaving memory is.
    assert store.prefetch(["back", "new"]) == 0
    assert store.save("back", b"idle again")
    assert store.prefetch(["back"]) == 1
    assert store.load("back") == b"idle again"
    # An erasure or an eviction after the prefetch drops what it read.
    assert store.delete("erased")
    assert store.load("erased") is None
    assert store.save("evicted", b"just now")
    assert store.load("evicted") == b"just now"
    assert store.hits == 3


def test_what_cannot_be_prefetched_is_read_alone(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    breaker = Breaker(pause_s=60.0)
    store = PrefetchingStore(RedisDormantStore(redis_client, redis_prefix, breaker=breaker), keep=2)
    assert store.save("a", b"record a")
    # More than it keeps: the oldest prefetched go first, and their people are read alone.
    assert store.prefetch(["a", "b", "c"]) == 3
    assert list(store.fetched) == ["b", "c"]
    assert store.load("a") == b"record a"
    assert store.hits == 0
    # Redis unavailable: the prefetch reads nothing and keeps no "none" for anyone.
    breaker.failed()
    assert store.prefetch(["d"]) == 0
    assert "d" not in store.fetched
