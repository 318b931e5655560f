"""Crash recovery on the real broker and Redis: `kill -9` mid-stream, resume from Bytewax's
snapshots, and prove that every event counted once, no offer id came with two contents, and
how long the resume took."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis
from insession.schemas.codec import decode
from insession.schemas.events import Offer

from insession.settings import Settings
from tests.integration.fault_scenarios import RunningFlow, Traffic, produce, session_counts
from tests.kafka_io import consume

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

TRAFFIC = Traffic(customers=40, each=60)


@pytest.fixture
def flow(flow_settings: Settings, redis_prefix: str, tmp_path: Path) -> Iterator[RunningFlow]:
    flow = RunningFlow(flow_settings, tmp_path / "run.log")
    yield flow
    flow.stop()


def test_a_killed_flow_resumes_where_it_stopped(
    flow_settings: Settings,
    redis_client: redis.Redis,
    redis_prefix: str,
    run_id: str,
    flow: RunningFlow,
    tmp_path: Path,
) -> None:
    people = list(TRAFFIC.expected())

    def counted() -> dict[str, int]:
        return session_counts(redis_client, redis_prefix, people)

    events = TRAFFIC.events(int(time.time() * 1000))
    recovery = ("--recovery-dir", str(tmp_path / "recovery"), "--epoch-ms", "100")
    flow.start(*recovery)
    producing = threading.Thread(target=produce, args=(flow_settings, events, 800.0))
    producing.start()
    # Kill once the flow has demonstrably worked on part of the stream.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sum(counted().values()) < 600:
        time.sleep(0.05)
    before_kill = sum(counted().values())
    assert 0 < before_kill < len(events), "killed mid-stream"
    flow.kill()
    producing.join()

    restarted = flow.start(*recovery)
    resumed_at = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        counts = counted()
        if resumed_at is None and sum(counts.values()) > before_kill:
            resumed_at = time.monotonic()
        if counts == TRAFFIC.expected():
            break
        time.sleep(0.05)
    caught_up = time.monotonic()
    assert counted() == TRAFFIC.expected(), "every event reflected once in its customer's state"
    time.sleep(1.0)  # a moment for any late duplicate to be counted too
    assert counted() == TRAFFIC.expected(), "nothing counted twice later"

    contents: dict[str, set[bytes]] = defaultdict(set)
    messages = consume(flow_settings, ["offers"], f"offers-{run_id}", at_least=1)
    for message in messages:
        offer = decode(message.value())
        assert isinstance(offer, Offer)
        contents[offer.offer_id].add(message.value())
    assert contents, "offers were made"
    assert all(len(bodies) == 1 for bodies in contents.values()), (
        "no offer id delivered with two contents"
    )
    assert resumed_at is not None
    report = {
        "events": len(events),
        "counted_before_kill": before_kill,
        "first_progress_after_restart_s": round(resumed_at - restarted, 2),
        "caught_up_after_restart_s": round(caught_up - restarted, 2),
        "offer_ids": len(contents),
        "offer_messages": len(messages),
    }
    (tmp_path / "recovery-report.json").write_bytes(orjson.dumps(report))
    print("recovery:", report)
