"""Faults on real services: a Redis outage, a broker restart, a flood of malformed messages
and decisions over their time budget. `bench/faults.py` runs the same scenarios longer."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
from insession.schemas.codec import decode
from insession.schemas.events import DeadLetter, Offer

from insession.settings import Settings
from tests.integration.fault_scenarios import (
    RunningFlow,
    Traffic,
    broker_restart,
    mixed_with_malformed,
    produce,
    redis_outage,
    scrape,
    session_counts,
    total,
    wait_for,
)
from tests.kafka_io import consume

pytestmark = [pytest.mark.kafka, pytest.mark.redis]


def test_a_30_second_redis_outage_loses_nothing_and_the_mirror_converges(
    flow_settings: Settings, redis_client: redis.Redis, redis_prefix: str, tmp_path: Path
) -> None:
    report = redis_outage(
        flow_settings, tmp_path, outage_s=30.0, traffic=Traffic(customers=30, each=40), rate=40.0
    )
    print("redis outage:", report)
    assert report.decisions_during_outage > 0 and report.offers_during_outage > 0, (
        "the flow kept deciding while Redis was frozen"
    )
    assert report.redis_errors > 0, "the outage was seen and counted"
    assert report.counts_ok and report.converged_after_s is not None


def test_a_broker_restart_mid_stream_loses_no_event(
    flow_settings: Settings, redis_client: redis.Redis, redis_prefix: str, tmp_path: Path
) -> None:
    report = broker_restart(
        flow_settings, tmp_path, down_s=5.0, traffic=Traffic(customers=30, each=40), rate=300.0
    )
    print("broker restart:", report)
    assert report.counts_ok, "every event reached its customer's state exactly once"
    assert report.converged_after_s is not None


def test_ten_thousand_malformed_messages_are_dead_lettered_and_no_good_event_is_lost(
    flow_settings: Settings,
    redis_client: redis.Redis,
    redis_prefix: str,
    run_id: str,
    tmp_path: Path,
) -> None:
    traffic = Traffic(customers=25, each=40, tag="good")
    good = traffic.events(int(time.time() * 1000))
    items = mixed_with_malformed(good, 10_000)
    flow = RunningFlow(flow_settings, tmp_path / "run.log")
    flow.start()
    try:
        produce(flow_settings, items, rate=20_000)
        people = list(traffic.expected())
        assert (
            wait_for(
                lambda: session_counts(redis_client, redis_prefix, people) == traffic.expected(), 60
            )
            is not None
        ), "every good event counted once"
        letters = consume(
            flow_settings, ["dead_letter"], f"dlq-{run_id}", at_least=10_000, timeout=60
        )
        decoded = [decode(m.value()) for m in letters]
        assert len(decoded) == 10_000 and all(isinstance(d, DeadLetter) for d in decoded)
        assert all(
            d.reason and d.source_topic == flow_settings.topic("clickstream") for d in decoded
        )
        samples = scrape(flow.metrics_url)
        assert total(samples, "insession_dead_letters_total") == 10_000
        assert total(samples, "insession_events_in_total") == len(good)
        assert flow.alive()
    finally:
        flow.stop()


def test_a_decision_over_its_time_budget_gets_the_fallback_offer_and_is_counted(
    flow_settings: Settings,
    redis_client: redis.Redis,
    redis_prefix: str,
    run_id: str,
    tmp_path: Path,
) -> None:
    traffic = Traffic(customers=10, each=12, tag="slow")
    # A 1 µs budget: every model call is over it, as a stalled model's would be.
    flow = RunningFlow(
        flow_settings,
        tmp_path / "run.log",
        env={"INSESSION_DECISION_BUDGET_US": "1", "INSESSION_CONTROL_SHARE": "0"},
    )
    flow.start()
    try:
        produce(flow_settings, traffic.events(int(time.time() * 1000)), rate=2000)
        offers = [
            decode(m.value())
            for m in consume(flow_settings, ["offers"], f"slow-{run_id}", at_least=10)
        ]
        assert offers and all(isinstance(o, Offer) for o in offers)
        assert all(o.reason_codes[0] == "fallback:time_budget" for o in offers)
        assert all(o.model_version.startswith("fallback/thompson-") for o in offers)
        assert (
            wait_for(
                lambda: (
                    total(
                        scrape(flow.metrics_url), "insession_fallbacks_total", reason="time_budget"
                    )
                    == len(offers)
                ),
                10,
            )
            is not None
        )
        samples = scrape(flow.metrics_url)
        assert total(samples, "insession_offers_total", group="fallback") == len(offers)
    finally:
        flow.stop()
