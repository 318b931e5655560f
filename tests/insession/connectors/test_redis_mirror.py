"""The Redis mirror writes summaries and latest offers in one pipelined batch, and erases."""

from __future__ import annotations

import dataclasses
import socket

import orjson
import pytest
import redis
from insession.schemas.codec import decode, encode
from insession.schemas.events import Offer

from insession.connectors.redis_client import flow_client
from insession.connectors.redis_mirror import MirrorLayout, MirrorUpdate, RedisMirror
from tests.conftest import RedisUnderTest
from tests.samples import sample_contracts

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_client(any_redis: RedisUnderTest) -> redis.Redis:
    """Every test here runs against the Redis server and against the Redis Cluster."""
    return any_redis.client


def _offer(n: int) -> Offer:
    template = next(c for c in sample_contracts() if isinstance(c, Offer))
    return dataclasses.replace(template, offer_id=f"of-{n}", event_id=f"of-{n}")


def test_a_batch_keeps_the_last_summary_and_the_newest_offers(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    layout = MirrorLayout(prefix=redis_prefix, max_offers=3, offers_ttl_s=60)
    mirror = RedisMirror(redis_client, layout)
    updates = [MirrorUpdate("c-1", summary={"orders": n}, offer=_offer(n)) for n in range(5)]
    sent = mirror.write(updates)
    # An LREM per kept offer, one LPUSH of the newest 3, LTRIM, EXPIRE, one SET of the summary.
    assert sent == 3 + 4
    assert orjson.loads(redis_client.get(layout.summary_key("c-1"))) == {"orders": 4}
    stored = [decode(raw) for raw in redis_client.lrange(layout.offers_key("c-1"), 0, -1)]
    assert [o.offer_id for o in stored] == ["of-4", "of-3", "of-2"]
    assert 0 < redis_client.ttl(layout.offers_key("c-1")) <= 60
    assert redis_client.ttl(layout.summary_key("c-1")) > 0


def test_erasure_deletes_everything_of_that_person_only(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    layout = MirrorLayout(prefix=redis_prefix)
    mirror = RedisMirror(redis_client, layout)
    mirror.write(
        [
            MirrorUpdate("c-1", summary={"a": 1}, offer=_offer(1)),
            MirrorUpdate("c-2", summary={"b": 2}),
        ]
    )
    mirror.write([MirrorUpdate("c-1", summary={"a": 2}), MirrorUpdate("c-1", erase=True)])
    assert redis_client.exists(layout.summary_key("c-1"), layout.offers_key("c-1")) == 0
    assert orjson.loads(redis_client.get(layout.summary_key("c-2"))) == {"b": 2}


def test_a_summary_after_an_erasure_in_the_same_batch_is_kept(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    layout = MirrorLayout(prefix=redis_prefix)
    RedisMirror(redis_client, layout).write(
        [MirrorUpdate("c-1", erase=True), MirrorUpdate("c-1", summary={"fresh": True})]
    )
    assert orjson.loads(redis_client.get(layout.summary_key("c-1"))) == {"fresh": True}


def test_updates_wait_while_redis_is_down_and_converge_when_it_answers(
    redis_client: redis.Redis, redis_prefix: str, any_redis: RedisUnderTest
) -> None:
    """A cluster that no node of answers is down the same way (its client, made lazily,
    raises a connection error where a server's does)."""
    layout = MirrorLayout(prefix=redis_prefix, max_offers=2)
    with socket.socket() as probe:  # a port nobody listens on: connections are refused
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    now = [0.0]
    scheme = "redis+cluster" if any_redis.kind == "cluster" else "redis"
    down = flow_client(f"{scheme}://127.0.0.1:{dead_port}")
    mirror = RedisMirror(down, layout, retry_after_s=1.0, clock=lambda: now[0])
    mirror.write(
        [
            MirrorUpdate("c-1", summary={"n": 1}, offer=_offer(1)),
            MirrorUpdate("c-2", summary={"n": 1}),
        ]
    )
    mirror.write(
        [
            MirrorUpdate("c-1", summary={"n": 2}, offer=_offer(2)),
            MirrorUpdate("c-1", offer=_offer(3)),
            MirrorUpdate("c-2", erase=True),
        ]
    )
    assert mirror.counters.errors == 1, "the second batch waited for the retry time"
    assert mirror.pending == 2 and mirror.counters.last_error

    mirror.client = redis_client  # Redis is back
    assert mirror.write([]) == 0, "still inside the retry time"
    now[0] = 1.5
    assert mirror.write([MirrorUpdate("c-3", summary={"n": 1})]) > 0
    assert mirror.pending == 0
    assert orjson.loads(redis_client.get(layout.summary_key("c-1"))) == {"n": 2}
    offers = [decode(raw).offer_id for raw in redis_client.lrange(layout.offers_key("c-1"), 0, -1)]
    assert offers == ["of-3", "of-2"]
    assert redis_client.exists(layout.summary_key("c-2")) == 0, "the erasure was kept"
    assert redis_client.exists(layout.summary_key("c-3")) == 1


def test_a_key_redis_refuses_is_dropped_and_the_rest_still_written(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    layout = MirrorLayout(prefix=redis_prefix)
    redis_client.set(layout.offers_key("c-1"), "not a list")  # LPUSH on it: WRONGTYPE
    mirror = RedisMirror(redis_client, layout)
    assert mirror.write([MirrorUpdate("c-1", summary={"n": 1}, offer=_offer(1))]) > 0
    assert mirror.write([MirrorUpdate("c-1", offer=_offer(2))]) > 0
    assert mirror.pending == 0 and mirror.counters.refused >= 2
    assert orjson.loads(redis_client.get(layout.summary_key("c-1"))) == {"n": 1}


def test_an_offer_sent_twice_is_listed_once(redis_client: redis.Redis, redis_prefix: str) -> None:
    layout = MirrorLayout(prefix=redis_prefix)
    mirror = RedisMirror(redis_client, layout)
    mirror.write([MirrorUpdate("c-1", offer=_offer(1)), MirrorUpdate("c-1", offer=_offer(2))])
    mirror.write([MirrorUpdate("c-1", offer=_offer(1))])  # re-emitted after a crash
    listed = [decode(raw).offer_id for raw in redis_client.lrange(layout.offers_key("c-1"), 0, -1)]
    assert listed == ["of-1", "of-2"]


def _listed(redis_client: redis.Redis, layout: MirrorLayout, person: str = "c-1") -> list[str]:
    return [decode(raw).offer_id for raw in redis_client.lrange(layout.offers_key(person), 0, -1)]


def test_withdrawn_offers_leave_the_list_and_the_others_stay(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    layout = MirrorLayout(prefix=redis_prefix)
    mirror = RedisMirror(redis_client, layout)
    mirror.write([MirrorUpdate("c-1", offer=_offer(n)) for n in range(1, 4)])
    # Listed as first sent, with other bytes than this flow's (a resume): found by its id.
    other_bytes = dataclasses.replace(_offer(4), model_version="older")
    redis_client.lpush(layout.offers_key("c-1"), encode(other_bytes))
    mirror.write([MirrorUpdate("c-1", withdrawn=("of-1", "of-4", "of-9"))])
    assert _listed(redis_client, layout) == ["of-3", "of-2"]
    assert mirror.counters.refused == 0


def test_an_offer_withdrawn_in_the_same_batch_is_not_listed(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    layout = MirrorLayout(prefix=redis_prefix)
    mirror = RedisMirror(redis_client, layout)
    mirror.write(
        [
            MirrorUpdate("c-1", offer=_offer(1)),
            MirrorUpdate("c-1", offer=_offer(2)),
            MirrorUpdate("c-1", summary={"n": 1}, withdrawn=("of-1",)),
        ]
    )
    assert _listed(redis_client, layout) == ["of-2"]
    assert orjson.loads(redis_client.get(layout.summary_key("c-1"))) == {"n": 1}


def test_withdrawals_wait_for_redis_like_the_rest(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    layout = MirrorLayout(prefix=redis_prefix)
    RedisMirror(redis_client, layout).write([MirrorUpdate("c-1", offer=_offer(1))])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    now = [0.0]
    mirror = RedisMirror(
        flow_client(f"redis://127.0.0.1:{dead_port}/0"), layout, clock=lambda: now[0]
    )
    mirror.write([MirrorUpdate("c-1", offer=_offer(2)), MirrorUpdate("c-1", withdrawn=("of-1",))])
    # Listed again after its withdrawal (re-made after a resume): the later update wins.
    mirror.write([MirrorUpdate("c-1", withdrawn=("of-2",)), MirrorUpdate("c-1", offer=_offer(1))])
    assert mirror.pending == 1 and _listed(redis_client, layout) == ["of-1"]
    mirror.client = redis_client
    now[0] = 2.0
    assert mirror.write([]) > 0
    assert _listed(redis_client, layout) == ["of-1"]
