"""The Redis mirror writes summaries and latest offers in one pipelined batch, and erases."""

from __future__ import annotations

import dataclasses

import orjson
import pytest
import redis

from insession.redis_mirror import MirrorLayout, MirrorUpdate, RedisMirror
from schemas.codec import decode
from schemas.events import Offer
from tests.samples import sample_contracts

pytestmark = pytest.mark.redis


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
    # 3 commands per offer, one SET for the person's last summary.
    assert sent == 5 * 3 + 1
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
