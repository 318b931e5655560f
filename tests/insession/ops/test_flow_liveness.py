"""Liveness is the flow's own loop, readiness its broker: with no broker answering, the live
flow's Kafka source keeps polling, so `/healthz` stays fresh while `/readyz` says Kafka is
not ready. (Nothing listens where the flow is pointed; the shared broker is left alone.)"""

from __future__ import annotations

import dataclasses
import socket
import time
import urllib.error
import urllib.request

import orjson

from insession.cli.run import _serve_run_metrics
from insession.ops.metrics import FlowMetrics
from insession.runner.live import kafka_flow
from insession.settings import Settings

STALE_AFTER_S = 1.0


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, orjson.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, orjson.loads(error.read())


def test_healthz_stays_fresh_while_the_source_polls_a_broker_that_does_not_answer() -> None:
    settings = dataclasses.replace(Settings(), bootstrap_servers=f"127.0.0.1:{_closed_port()}")
    metrics = FlowMetrics(stale_after_s=STALE_AFTER_S)
    flow = kafka_flow(settings, mirror=False, metrics=metrics)
    (source,) = [step.source for step in flow.substeps if step.step_name == "read"]
    # Resumed at offset 0: a fresh start would first ask the (absent) broker where to begin.
    part = source.build_part("read", f"0-{settings.topic('clickstream')}", (0, None))
    server = _serve_run_metrics(metrics, settings, 0, redis=False)
    try:
        ages = []
        deadline = time.monotonic() + 3 * STALE_AFTER_S
        while time.monotonic() < deadline:
            part.next_batch()
            time.sleep(0.05)
            status, health = _get(f"{server.url}/healthz")
            assert status == 200, health
            ages.append(health["heartbeat_age_s"])
        status, ready = _get(f"{server.url}/readyz")
    finally:
        part.close()
        server.stop()
    assert max(ages) < STALE_AFTER_S
    assert status == 503 and ready["checks"] == {"heartbeat": "ok", "kafka": "failing"}
