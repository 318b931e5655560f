"""Stopping `insession run` on the real broker and Redis as containers and people do (SIGTERM,
Ctrl-C): exit 0 with nothing panicking, every offer made on the topic, and with recovery a
restart that goes on from the stop with every event counted once."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import redis
from insession.schemas.codec import decode
from insession.schemas.events import Offer

from insession.settings import Settings
from tests.integration.fault_scenarios import (
    RunningFlow,
    Traffic,
    produce,
    scrape,
    session_counts,
    total,
    wait_for,
)
from tests.kafka_io import consume

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

CRASH_SIGNS = ("panicked", "Traceback", "RUST_BACKTRACE", "BytewaxRuntimeError")


def _stop_with(flow: RunningFlow, signum: signal.Signals) -> tuple[int, float]:
    """Send `signum`; the exit status and how long the stop took."""
    assert flow.process is not None
    sent = time.monotonic()
    flow.process.send_signal(signum)
    try:
        code = flow.process.wait(30)
    except subprocess.TimeoutExpired:
        flow.process.kill()
        flow.process.wait()
        raise AssertionError(f"no stop 30 s after {signum.name}") from None
    return code, time.monotonic() - sent


def _offers_on_topic(settings: Settings, group: str, at_least: int) -> list[Offer]:
    found = [decode(m.value()) for m in consume(settings, ["offers"], group, at_least=at_least)]
    return [offer for offer in found if isinstance(offer, Offer)]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_a_stop_signal_ends_the_flow_cleanly_with_its_offers_sent(
    flow_settings: Settings,
    redis_client: redis.Redis,
    redis_prefix: str,
    run_id: str,
    tmp_path: Path,
    signum: signal.Signals,
) -> None:
    traffic = Traffic(customers=10, each=12, tag="stop")
    flow = RunningFlow(flow_settings, tmp_path / "run.log", env={"INSESSION_CONTROL_SHARE": "0"})
    flow.start()
    try:
        produce(flow_settings, traffic.events(int(time.time() * 1000)), rate=1000)
        people = list(traffic.expected())
        assert (
            wait_for(
                lambda: session_counts(redis_client, redis_prefix, people) == traffic.expected(), 60
            )
            is not None
        )
        made = total(scrape(flow.metrics_url), "insession_offers_total")
        assert made > 0
        code, took = _stop_with(flow, signum)
    finally:
        flow.stop()
    log = flow.log.read_text(errors="replace")
    print(f"{signum.name}: exit {code} after {took:.2f} s, {made:.0f} offers made")
    assert code == 0, log[-3000:]
    assert not [sign for sign in CRASH_SIGNS if sign in log], log[-3000:]
    assert len(_offers_on_topic(flow_settings, f"stop-{run_id}", int(made))) == made


def test_a_sigterm_mid_stream_with_recovery_resumes_with_every_event_counted_once(
    flow_settings: Settings,
    redis_client: redis.Redis,
    redis_prefix: str,
    tmp_path: Path,
) -> None:
    traffic = Traffic(customers=20, each=30, tag="resume")
    people = list(traffic.expected())

    def counted() -> int:
        return sum(session_counts(redis_client, redis_prefix, people).values())

    events = traffic.events(int(time.time() * 1000))
    recovery = ("--recovery-dir", str(tmp_path / "recovery"), "--epoch-ms", "100")
    flow = RunningFlow(flow_settings, tmp_path / "run.log")
    flow.start(*recovery)
    # 15 s of traffic: the flow may hold events up to its ordering's hold limit (10 s).
    producing = threading.Thread(target=produce, args=(flow_settings, events, 40.0))
    producing.start()
    try:
        assert wait_for(lambda: counted() >= 60, 60) is not None
        assert producing.is_alive(), "stopped mid-stream"
        code, took = _stop_with(flow, signal.SIGTERM)
        stopped_at = counted()
        producing.join()
        assert code == 0, flow.log.read_text(errors="replace")[-3000:]
        assert 0 < stopped_at < len(events)

        flow.start(*recovery)
        assert (
            wait_for(
                lambda: session_counts(redis_client, redis_prefix, people) == traffic.expected(),
                60,
            )
            is not None
        ), "the restart read on from the stop"
        time.sleep(1.0)  # a moment for anything counted twice to show
        assert session_counts(redis_client, redis_prefix, people) == traffic.expected()
    finally:
        producing.join()
        flow.stop()
    log = flow.log.read_text(errors="replace")
    assert not [sign for sign in CRASH_SIGNS if sign in log], log[-3000:]
    print(f"SIGTERM mid-stream: exit 0 after {took:.2f} s, {stopped_at} of {len(events)} counted")
