"""Idle people leave the running flow's memory for Redis and come back from it, on the real
broker and Redis (and the Redis Cluster), with `insession run` as its own process."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis
from insession.schemas.events import (
    Consent,
    ErasureRequest,
    Event,
    OrderLine,
    ProductView,
    Purchase,
)

from insession.connectors.redis_mirror import MirrorLayout
from insession.keys import dormant_key
from insession.settings import Settings
from tests.conftest import RedisUnderTest
from tests.integration.fault_scenarios import RunningFlow, produce, wait_for
from tests.redis_scan import naming

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

IDLE_S = 4
GAP_S = 2


@pytest.fixture
def flow(
    flow_settings: Settings, any_redis: RedisUnderTest, redis_prefix: str, tmp_path: Path
) -> Iterator[RunningFlow]:
    """A flow whose people leave memory after seconds idle (sessions end after two), with a
    policy that learns nothing: no decision waits for its outcome."""
    running = RunningFlow(
        dataclasses.replace(flow_settings, redis_url=any_redis.url),
        tmp_path / "run.log",
        env={
            "INSESSION_IDLE_EVICTION_S": str(IDLE_S),
            "INSESSION_SESSION_GAP_S": str(GAP_S),
            "INSESSION_POLICY": "baseline",
        },
    )
    yield running
    running.stop()
    for key in any_redis.client.scan_iter(match=redis_prefix + "*", count=1000):
        any_redis.client.delete(key)


def _summary(client: redis.Redis, prefix: str, person: str) -> dict | None:
    raw = client.get(MirrorLayout(prefix=prefix).summary_key(person))
    return orjson.loads(raw) if raw is not None else None


def test_an_idle_customer_leaves_memory_and_comes_back_with_their_history(
    flow_settings: Settings,
    any_redis: RedisUnderTest,
    redis_prefix: str,
    run_id: str,
    flow: RunningFlow,
) -> None:
    client, customer = any_redis.client, f"dormant-{run_id}"
    sent = iter(range(1000))

    def now(cls: type[Event], **fields: object) -> Event:
        return cls(
            event_id=f"e-{next(sent)}",
            event_time=int(time.time() * 1000),
            channel="web",
            customer_id=customer,
            **fields,
        )

    flow.start("--epoch-ms", "50")
    produce(
        flow_settings,
        [
            now(ProductView, product_id="boots", price=90.0),
            now(Purchase, order_id="o-1", lines=(OrderLine(product_id="boots"),), total=90.0),
        ],
        rate=50,
    )
    # The watermark runs on with the wall clock once the topics are quiet: seconds after her
    # purchase she is idle, and leaves memory for her dormant record.
    key = dormant_key(customer, "", redis_prefix)
    assert wait_for(lambda: client.exists(key) == 1, timeout_s=60) is not None, "evicted"
    record = orjson.loads(client.get(key))
    assert (record["orders"], record["sessions"], record["customer_id"]) == (1, 1, customer)
    assert client.ttl(key) > 0

    produce(
        flow_settings, [now(ProductView, product_id="scarf"), now(Consent, granted=True)], rate=50
    )

    def back() -> dict | None:
        summary = _summary(client, redis_prefix, customer)
        return summary if summary is not None and summary["sessions"] == 2 else None

    assert wait_for(back, timeout_s=60) is not None, _summary(client, redis_prefix, customer)
    summary = back()
    assert summary is not None and summary["orders"] == 1, "her order came back with her"
    assert summary["consent"] is True

    # Idle again, she leaves memory again; her erasure then forgets her dormant record too.
    # (Only the erasure is sent: an event on another topic could arrive after it.)
    # (Her first record stays while she is back: a resume from an older snapshot needs it.)
    def evicted_again() -> bool:
        record = client.get(key)
        return record is not None and orjson.loads(record)["sessions"] == 2

    assert wait_for(evicted_again, timeout_s=60) is not None, "evicted again"
    produce(flow_settings, [now(ErasureRequest, request_id="r-1")], rate=50)
    gone = wait_for(lambda: not naming(client, redis_prefix, customer), timeout_s=60)
    assert gone is not None, naming(client, redis_prefix, customer)
