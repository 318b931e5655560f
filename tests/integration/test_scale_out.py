"""One process or two give the same offers: simulated shoppers (devices, logins, carts,
purchases) sent as they happen to topics of four partitions, keyed as storefronts key them, and
read at the same time by `insession run` with one process and with `--processes 2`, on the
real broker and Redis.

Live, each process orders what it applies by the watermark of the partitions it reads
(docs/scaling.md): events of one person from partitions another process reads are in order
when they are further apart than the hop between the processes, as a shopper's clicks are.
"""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer
from insession.schemas.codec import encode
from insession.schemas.events import STREAM_OF, Event

from insession.connectors.kafka_admin import create_topics, delete_topics
from insession.settings import Settings
from insession.simulator import SimulationConfig, simulate
from tests.kafka_io import consume

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

PARTITIONS = 4


CLICK_MS = 400
"""A shopper's events, re-timed this far apart (they were minutes apart in the simulation)."""


def _shoppers(start_ms: int) -> list[Event]:
    """A simulated shop's events, each shopper's (by Kafka key) in their order, re-timed to
    start within two seconds of `start_ms` and follow each other `CLICK_MS` apart."""
    config = SimulationConfig(customers=60, sessions_per_customer=1.5, days=1.0, seed=12)
    journeys: dict[str, list[Event]] = {}
    for item in simulate(config):
        if isinstance(item, Event):
            journeys.setdefault(item.input_key() or "", []).append(item)
    starts = random.Random(12)
    timed = []
    for journey in journeys.values():
        first = start_ms + starts.randrange(2000)
        for n, event in enumerate(journey):
            timed.append(dataclasses.replace(event, event_time=first + n * CLICK_MS))
    return sorted(timed, key=lambda e: e.event_time)


def _topics(base: Settings, tag: str) -> Settings:
    topics = {stream: f"{topic}.{tag}" for stream, topic in base.topics.items()}
    settings = dataclasses.replace(
        base, topics=topics, partitions=PARTITIONS, redis_prefix=f"{base.redis_prefix}{tag}:"
    )
    create_topics(settings)
    return settings


def _produce_as_they_happen(targets: list[Settings], events: list[Event]) -> None:
    """Each event to every target's topics when the wall clock reaches its time."""
    producer = Producer({**targets[0].kafka_client(), "linger.ms": 1})
    for event in events:
        wait_s = event.event_time / 1000 - time.time()
        if wait_s > 0:
            time.sleep(wait_s)
        key, value = (event.input_key() or "").encode(), encode(event)
        for settings in targets:
            producer.produce(settings.topic(STREAM_OF[event.type]), value, key=key)
        producer.poll(0)
    assert producer.flush(60) == 0


def _start(settings: Settings, processes: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "INSESSION_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "INSESSION_REDIS_PREFIX": settings.redis_prefix,
        "INSESSION_POLICY": "baseline",
        "INSESSION_RECOMMENDATIONS": "false",
        "INSESSION_CONSUMER_GROUP": f"scale-out-{processes}",
        **{f"INSESSION_TOPIC_{s.upper()}": t for s, t in settings.topics.items()},
    }
    command = [sys.executable, "-m", "insession.cli", "run", "--from-beginning"]
    command += ["--processes", str(processes), "--metrics-port", "0", "--epoch-ms", "50"]
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def _stop(flow: subprocess.Popen[bytes], log: Path) -> None:
    flow.send_signal(signal.SIGTERM)
    assert flow.wait(60) == 0, log.read_text()[-3000:]


def _offers(settings: Settings, group: str) -> list[dict]:
    messages = consume(settings, ["offers"], group, at_least=1, timeout=60)
    return sorted(
        (orjson.loads(m.value()) for m in messages), key=lambda o: (o["decided_at"], o["offer_id"])
    )


def test_two_processes_send_the_same_offers_as_one(
    flow_settings: Settings, run_id: str, tmp_path: Path
) -> None:
    one, two = _topics(flow_settings, "p1"), _topics(flow_settings, "p2")
    logs = tmp_path / "one.log", tmp_path / "two.log"
    flows = [_start(one, 1, logs[0]), _start(two, 2, logs[1])]
    try:
        time.sleep(6)  # both flows up and reading: the shoppers arrive as they happen
        shoppers = _shoppers(int(time.time() * 1000) + 500)
        assert len({e.anonymous_id for e in shoppers if e.anonymous_id}) > 40
        _produce_as_they_happen([one, two], shoppers)
        time.sleep(3)  # the last events applied and their offers sent
        for flow, log in zip(flows, logs, strict=True):
            _stop(flow, log)
        alone, together = _offers(one, f"{run_id}-1"), _offers(two, f"{run_id}-2")
    finally:
        for flow in flows:
            if flow.poll() is None:
                flow.kill()
        for settings in (one, two):
            delete_topics(settings.kafka_client(), settings.topics.values())
    assert len(alone) > 50
    assert together == alone, _difference(alone, together)
    assert "process 1 of 2" in logs[1].read_text()


def _difference(alone: list[dict], together: list[dict]) -> str:
    ids = {o["offer_id"] for o in alone} ^ {o["offer_id"] for o in together}
    people = sorted(
        {o["customer_id"] or o["anonymous_id"] for o in alone + together if o["offer_id"] in ids}
    )
    return f"{len(alone)} vs {len(together)} offers, {len(ids)} ids in one only, of {people[:8]}"
