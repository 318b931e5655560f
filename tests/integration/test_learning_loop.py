"""The learning loop on the real broker and Redis: offers carry a probability and a model
version, feedback joins its decision and moves the model, an unanswered decision closes with
the default outcome, the model survives a restart, and the control group stays put."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis
from confluent_kafka import Producer
from insession.schemas.codec import decode, encode
from insession.schemas.events import STREAM_OF, Consent, Event, Offer, OfferFeedback, Search

from insession.runner.engine import default_catalogue
from insession.settings import Settings
from tests.integration.fault_scenarios import RunningFlow
from tests.kafka_io import consume

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

HOUR_MS = 3_600_000


def _send(producer: Producer, settings: Settings, events: list[Event]) -> None:
    for event in events:
        producer.produce(
            settings.topic(STREAM_OF[event.type]),
            encode(event),
            key=(event.partition_key() or "").encode(),
        )
    assert producer.flush(30) == 0


def _struggle(customer: str, at_ms: int, tag: str) -> list[Event]:
    """Two failed searches: a help offer (no consent needed), after a consent grant."""
    return [
        Consent(
            event_id=f"{tag}-c", event_time=at_ms, channel="web", customer_id=customer, granted=True
        ),
        *(
            Search(
                event_id=f"{tag}-s{n}",
                event_time=at_ms + 1_000 * (n + 1),
                channel="web",
                customer_id=customer,
                query="delivery",
                result_count=0,
            )
            for n in range(2)
        ),
    ]


def _offers_for(
    settings: Settings, customers: set[str], group: str, since: int = 0
) -> dict[str, Offer]:
    """The first offer to each of `customers` decided at `since` or later, waiting up to a
    minute for all of them."""
    found: dict[str, Offer] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and set(found) != customers:
        for message in consume(settings, ["offers"], group, at_least=1, timeout=5):
            offer = decode(message.value())
            assert isinstance(offer, Offer)
            if offer.customer_id in customers and offer.decided_at >= since:
                found.setdefault(offer.customer_id, offer)
    assert set(found) == customers, f"offers only for {sorted(found)}"
    return found


def _arm(client: redis.Redis, key: str, arm: str) -> dict | None:
    raw = client.hget(key, arm)
    return orjson.loads(raw) if raw is not None else None


def _await_updates(client: redis.Redis, key: str, arm: str, at_least: int) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = _arm(client, key, arm)
        if state is not None and state["updates"] >= at_least:
            return state
        time.sleep(0.1)
    raise AssertionError(f"arm {arm} never reached {at_least} update(s): {_arm(client, key, arm)}")


@pytest.fixture
def flow(flow_settings: Settings, redis_prefix: str, tmp_path: Path) -> Iterator[RunningFlow]:
    flow = RunningFlow(
        flow_settings,
        tmp_path / "run.log",
        env={
            "INSESSION_POLICY": "thompson",
            "INSESSION_CONTROL_SHARE": "0.5",
            "INSESSION_MODEL_SYNC_S": "0.2",
            # Sessions end after a minute, so the test need not send events hours ahead of
            # the wall clock (dead-lettered: `event_ahead_tolerance_s`).
            "INSESSION_SESSION_GAP_S": "60",
        },
    )
    yield flow
    flow.stop()


def test_feedback_teaches_the_model_which_survives_a_restart(
    flow_settings: Settings,
    redis_client: redis.Redis,
    redis_prefix: str,
    run_id: str,
    flow: RunningFlow,
) -> None:
    producer = Producer({**flow_settings.kafka_client()})
    model_key = f"{redis_prefix}model:live:thompson"
    now = int(time.time() * 1000)
    people = {f"shopper-{n}" for n in range(8)}
    flow.start()

    # Recent decisions wait for feedback; a decision made two hours ago is past its window.
    _send(producer, flow_settings, [e for p in sorted(people) for e in _struggle(p, now, p)])
    _send(producer, flow_settings, _struggle("old-timer", now - 2 * HOUR_MS, "old"))
    first = _offers_for(flow_settings, people | {"old-timer"}, f"first-{run_id}")
    assert all(0.0 < o.probability <= 1.0 and o.model_version for o in first.values())
    groups = {p: o.model_version == "control-random" for p, o in first.items()}
    assert len(set(groups.values())) == 2, "half the shoppers are in the control group"

    old = first.pop("old-timer")
    expired = _await_updates(redis_client, model_key, old.action_id, 1)
    base_rate = default_catalogue(flow_settings).by_id(old.action_id).base_rate
    assert expired["mean"][-1] < base_rate, "no response: the arm's bias fell below its prior"

    accepted = first["shopper-0"]
    before = _arm(redis_client, model_key, accepted.action_id)
    before_updates = before["updates"] if before else 0
    before_bias = (
        before["mean"][-1]
        if before
        else default_catalogue(flow_settings).by_id(accepted.action_id).base_rate
    )
    _send(
        producer,
        flow_settings,
        [
            OfferFeedback(
                event_id="fb-1",
                event_time=now + 10_000,
                channel="web",
                customer_id="shopper-0",
                offer_id=accepted.offer_id,
                outcome="accepted",
                value=40.0,
            )
        ],
    )
    learned = _await_updates(redis_client, model_key, accepted.action_id, before_updates + 1)
    assert learned["mean"][-1] > before_bias, "acceptance raised the arm's bias weight"

    total = sum(orjson.loads(v)["updates"] for v in redis_client.hvals(model_key))
    flow.stop()
    flow.start(from_beginning=False)  # only new traffic, with the model from Redis
    time.sleep(3)
    later = now + 3 * 60_000  # a new session for everyone (the gap is 60 s here)
    _send(
        producer,
        flow_settings,
        [e for p in sorted(people) for e in _struggle(p, later, f"{p}-again")],
    )
    second = _offers_for(flow_settings, people, f"second-{run_id}", since=later)
    for person, offer in second.items():
        assert offer.offer_id != first[person].offer_id
        assert (offer.model_version == "control-random") == groups[person], person
        if offer.model_version != "control-random":
            assert offer.model_version == f"thompson-{total}", "restored from Redis"
