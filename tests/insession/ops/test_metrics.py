"""The metrics facade as Prometheus sees it over HTTP, the health endpoints, `insession health`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from insession.connectors.kafka_admin import broker_ready
from insession.dev.services import redis_ready
from insession.ops.metrics import METRICS, FlowMetrics, MetricsServer, serve_metrics
from insession.settings import Settings
from tests.conftest import ROOT, unavailable


class ManualClock:
    """A monotonic clock the test moves by hand, so staleness needs no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def metrics(clock: ManualClock) -> FlowMetrics:
    return FlowMetrics(stale_after_s=30, clock=clock)


@pytest.fixture
def server(metrics: FlowMetrics) -> Iterator[MetricsServer]:
    running = serve_metrics(metrics, "127.0.0.1", 0)
    yield running
    running.stop()


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def scrape(server: MetricsServer) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """`/metrics` over real HTTP, parsed: (sample name, labels) -> value."""
    status, body = get(server.url + "/metrics")
    assert status == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_every_facade_call_shows_in_the_scrape(metrics: FlowMetrics, server: MetricsServer) -> None:
    metrics.event_in("clickstream", "web", 3)
    metrics.event_in("cart", "app")
    metrics.dead_letter("invalid_json")
    metrics.decision("offer", 40e-6)
    metrics.decision("too_soon", 0.2)  # beyond the largest bucket: only +Inf counts it
    metrics.offer("discount", "policy", event_time_ms=10_000, now_ms=10_004)
    metrics.offer("discount", "control")
    metrics.fallback("time_budget")
    metrics.outcome("policy", "accepted")
    metrics.outcome("control", "no_response")
    metrics.consumer_lag("insession.cart", 3, 17)
    metrics.produce_error("insession.offers")
    metrics.redis_batch(5, ok=True)
    metrics.redis_batch(4, ok=False)
    metrics.redis_pending(9)
    metrics.state_size(customers=120, sessions=45)
    metrics.model("propensity", "v1", updates=7)
    metrics.learning_example("accepted", "feedback")

    samples = scrape(server)
    assert value(samples, "insession_events_in_total", stream="clickstream", channel="web") == 3
    assert value(samples, "insession_events_in_total", stream="cart", channel="app") == 1
    assert value(samples, "insession_dead_letters_total", reason="invalid_json") == 1
    assert value(samples, "insession_decisions_total", reason="offer") == 1
    bucket = "insession_decision_latency_seconds_bucket"
    assert value(samples, bucket, le="2.5e-05") == 0
    assert value(samples, bucket, le="5e-05") == 1
    assert value(samples, bucket, le="0.1") == 1
    assert value(samples, bucket, le="+Inf") == 2
    assert value(samples, "insession_decision_latency_seconds_count") == 2
    assert value(samples, "insession_offers_total", kind="discount", group="policy") == 1
    assert value(samples, "insession_offers_total", kind="discount", group="control") == 1
    # Only the offer given its event time is a latency observation: 4 ms.
    assert value(samples, "insession_event_to_offer_latency_seconds_count") == 1
    assert value(samples, "insession_event_to_offer_latency_seconds_bucket", le="0.0025") == 0
    assert value(samples, "insession_event_to_offer_latency_seconds_bucket", le="0.005") == 1
    assert value(samples, "insession_fallbacks_total", reason="time_budget") == 1
    assert value(samples, "insession_offer_outcomes_total", group="policy", outcome="accepted") == 1
    assert (
        value(samples, "insession_offer_outcomes_total", group="control", outcome="no_response")
        == 1
    )
    assert (
        value(samples, "insession_kafka_consumer_lag", topic="insession.cart", partition="3") == 17
    )
    assert value(samples, "insession_kafka_produce_errors_total", topic="insession.offers") == 1
    assert value(samples, "insession_redis_write_batches_total") == 2
    assert value(samples, "insession_redis_writes_total") == 5
    assert value(samples, "insession_redis_write_errors_total") == 1
    assert value(samples, "insession_redis_pending_writes") == 9
    assert value(samples, "insession_customers") == 120
    assert value(samples, "insession_sessions_active") == 45
    assert value(samples, "insession_model_info", model="propensity", version="v1") == 1
    assert value(samples, "insession_model_updates_total", model="propensity") == 7
    assert (
        value(samples, "insession_learning_examples_total", outcome="accepted", reason="feedback")
        == 1
    )
    assert value(samples, "insession_up") == 1
    assert value(samples, "insession_build_info", version="0.1.0") == 1


def test_the_catalogue_names_every_exposed_metric(metrics: FlowMetrics) -> None:
    exposed = {family.name for family in metrics.registry.collect()}
    ours = {name for name in exposed if name.startswith("insession_")}
    # prometheus_client names a counter's family without `_total`.
    catalogue = {spec.name.removesuffix("_total") for spec in METRICS}
    assert ours == catalogue
    assert all(spec.name.startswith("insession_") for spec in METRICS)
    assert exposed - ours == {
        *(f"process_{n}" for n in ("virtual_memory_bytes", "resident_memory_bytes")),
        *(f"process_{n}" for n in ("start_time_seconds", "cpu_seconds", "open_fds", "max_fds")),
        "python_gc_objects_collected",
        "python_gc_objects_uncollectable",
        "python_gc_collections",
        "python_info",
    }, "the process, GC and platform collectors, and nothing else"


def test_only_the_current_model_version_reads_one(
    metrics: FlowMetrics, server: MetricsServer
) -> None:
    metrics.model("propensity", "v1", updates=2)
    metrics.model("propensity", "v2", updates=3)
    metrics.model("propensity", "v2")
    samples = scrape(server)
    assert value(samples, "insession_model_info", model="propensity", version="v2") == 1
    assert (
        "insession_model_info",
        frozenset({("model", "propensity"), ("version", "v1")}),
    ) not in (samples)
    assert value(samples, "insession_model_updates_total", model="propensity") == 5


def test_counts_from_several_threads_add_up(metrics: FlowMetrics, server: MetricsServer) -> None:
    def work() -> None:
        for i in range(20_000):
            metrics.event_in("cart", "web")
            metrics.decision("offer", 1e-4 if i % 2 else 1e-2)
        metrics.redis_batch(10, ok=True)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    middle = scrape(server)  # a scrape while they count must not fail nor overshoot
    for thread in threads:
        thread.join()
    samples = scrape(server)
    assert value(samples, "insession_events_in_total", stream="cart", channel="web") == 80_000
    assert value(samples, "insession_decisions_total", reason="offer") == 80_000
    bucket = "insession_decision_latency_seconds_bucket"
    assert value(samples, bucket, le="0.0001") == 40_000
    assert value(samples, bucket, le="0.01") == 80_000
    assert value(samples, "insession_decision_latency_seconds_sum") == pytest.approx(
        40_000 * (1e-4 + 1e-2)
    )
    assert value(samples, "insession_redis_writes_total") == 40
    assert value(middle, bucket, le="+Inf") <= 80_000


def test_two_facades_in_one_process_keep_their_own_counts(server: MetricsServer) -> None:
    other = FlowMetrics()
    other.event_in("cart", "web", 100)
    server.metrics.event_in("cart", "web", 1)
    assert value(scrape(server), "insession_events_in_total", stream="cart", channel="web") == 1


def test_duplicates_and_withdrawals_show_by_stream_and_reason(
    metrics: FlowMetrics, server: MetricsServer
) -> None:
    metrics.duplicate_event("cart")
    metrics.duplicate_event("cart")
    metrics.duplicate_event("clickstream")
    metrics.withdrawal("consent_revoked")
    samples = scrape(server)
    assert value(samples, "insession_duplicate_events_total", stream="cart") == 2
    assert value(samples, "insession_duplicate_events_total", stream="clickstream") == 1
    assert value(samples, "insession_offer_withdrawals_total", reason="consent_revoked") == 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m.event_in("clicks", "web"), "stream 'clicks' is not one of clickstream"),
        (lambda m: m.offer("discount", "holdout"), "offer group 'holdout' is not one of policy"),
        (lambda m: m.outcome("policy", "liked"), "offer outcome 'liked' is not one of shown"),
        (lambda m: m.duplicate_event("offers"), "stream 'offers' is not one of clickstream"),
        (lambda m: m.withdrawal("bored"), "withdrawal reason 'bored' is not one of consent"),
    ],
)
def test_unknown_label_values_are_refused_with_the_choices(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(FlowMetrics())


def test_healthz_turns_503_when_the_heartbeat_is_stale(
    metrics: FlowMetrics, server: MetricsServer, clock: ManualClock
) -> None:
    status, body = get(server.url + "/healthz")
    assert status == 200
    assert orjson.loads(body)["status"] == "ok"

    clock.now += 31
    status, body = get(server.url + "/healthz")
    assert status == 503
    assert orjson.loads(body) == {
        "status": "stale",
        "heartbeat_age_s": 31.0,
        "stale_after_s": 30,
    }
    assert value(scrape(server), "insession_up") == 0

    metrics.beat()
    assert get(server.url + "/healthz")[0] == 200
    assert value(scrape(server), "insession_up") == 1


def test_readyz_names_the_failing_check(server: MetricsServer, clock: ManualClock) -> None:
    state = {"redis": True}
    server.add_check("kafka", lambda: True)
    server.add_check("redis", lambda: state["redis"])
    status, body = get(server.url + "/readyz")
    assert status == 200
    assert orjson.loads(body)["checks"] == {"heartbeat": "ok", "kafka": "ok", "redis": "ok"}

    state["redis"] = False
    status, body = get(server.url + "/readyz")
    assert status == 503
    assert orjson.loads(body) == {
        "status": "not ready",
        "checks": {"heartbeat": "ok", "kafka": "ok", "redis": "failing"},
    }

    def broken() -> bool:
        raise ConnectionError("broker gone")

    state["redis"] = True
    server.add_check("kafka", broken)
    clock.now += 60
    checks = orjson.loads(get(server.url + "/readyz")[1])["checks"]
    assert checks == {
        "heartbeat": "failing",
        "kafka": "error: ConnectionError: broker gone",
        "redis": "ok",
    }


def test_port_zero_picks_a_free_port_and_stop_frees_it(metrics: FlowMetrics) -> None:
    running = serve_metrics(metrics, "127.0.0.1", 0)
    assert running.port > 0
    assert get(running.url + "/metrics")[0] == 200
    assert get(running.url + "/nowhere")[0] == 404
    running.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(running.url + "/metrics", timeout=2)


def test_a_taken_port_or_a_bad_one_is_refused_clearly(
    metrics: FlowMetrics, server: MetricsServer
) -> None:
    with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{server.port}"):
        serve_metrics(metrics, "127.0.0.1", server.port)
    with pytest.raises(ValueError, match=r"metrics port 70000: must be 0\.\.65535"):
        serve_metrics(metrics, "127.0.0.1", 70000)


def test_metrics_address_comes_from_settings() -> None:
    settings = Settings.load(env={}, config_file=Path("/nonexistent.toml"))
    assert (settings.metrics_host, settings.metrics_port) == ("127.0.0.1", 9108)
    env = {"INSESSION_METRICS_HOST": "0.0.0.0", "INSESSION_METRICS_PORT": "9200"}
    settings = Settings.load(env=env, config_file=Path("/nonexistent.toml"))
    assert (settings.metrics_host, settings.metrics_port) == ("0.0.0.0", 9200)


def health(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`insession health` as a real process, with `env` added to the environment."""
    return subprocess.run(
        [sys.executable, "-m", "insession.cli", "health", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, **env},
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_health_command_exit_codes_against_a_live_server(
    server: MetricsServer, clock: ManualClock
) -> None:
    state = {"redis": True}
    server.add_check("redis", lambda: state["redis"])

    healthy = health("--url", server.url, "--ready")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "ok   healthz: heartbeat" in healthy.stdout
    assert "ok   readyz: heartbeat ok, redis ok" in healthy.stdout

    state["redis"] = False
    not_ready = health("--url", server.url, "--ready")
    assert not_ready.returncode == 1
    assert "FAIL readyz: HTTP 503, not ready: redis failing" in not_ready.stdout
    assert health("--url", server.url).returncode == 0  # liveness alone still passes

    clock.now += 120
    stale = health("--url", server.url)
    assert stale.returncode == 1
    assert "FAIL healthz: HTTP 503, heartbeat 120.0 s old (stale after 30 s)" in stale.stdout


def test_health_command_fails_when_nothing_answers() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    silent = health("--url", url)
    assert silent.returncode == 1
    assert f"FAIL healthz: no answer at {url}/healthz" in silent.stdout
    bad = health("--url", "localhost:9108")
    assert bad.returncode == 2
    assert "'localhost:9108' is not an http:// or https:// URL" in bad.stderr


def test_health_services_checks_kafka_and_redis_directly(base_settings: Settings) -> None:
    if not (broker_ready(base_settings.kafka_client()) and redis_ready(base_settings)):
        unavailable("Kafka and Redis must both answer (start them with `insession services up`)")
    result = health("--services")
    assert result.returncode == 0, result.stdout
    kafka = f"ok   kafka: answers at {base_settings.bootstrap_servers} over plaintext"
    assert kafka in result.stdout
    assert f"ok   redis: answers at {base_settings.redis_url}" in result.stdout
    # Redis on a port where nothing listens: the command names what failed.
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    down = health("--services", INSESSION_REDIS_URL=nowhere)
    assert down.returncode == 1
    assert "ok   kafka" in down.stdout
    assert f"FAIL redis: no answer at {nowhere}" in down.stdout
