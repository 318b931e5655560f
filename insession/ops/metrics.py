"""The flow's Prometheus metrics, and the HTTP server for `/metrics`, `/healthz` and `/readyz`.

`FlowMetrics` is the one facade a flow calls, with methods named for what happened
(`event_in`, `decision`, `offer`, ...). It owns its own registry, so several flows (or tests)
in one process never share series. The hot path is a dict update under one lock; the values
become Prometheus families only when scraped (a custom collector, as prometheus-client
recommends for values kept elsewhere), which costs a fraction of a `Counter` child's `inc()`
(`bench/metrics_bench.py`). Label values are checked when a combination first appears, so a
typo fails loudly without slowing the flow.
"""

from __future__ import annotations

import math
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import orjson
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

from insession import __version__
from insession.ops.http_server import BoundedHTTPServer
from insession.schemas.events import INPUT_STREAMS, OFFER_OUTCOMES, WITHDRAWAL_REASONS

OFFER_GROUPS = ("policy", "control", "fallback")
OUTCOMES = (*OFFER_OUTCOMES, "no_response")
DECISION_BUCKETS = (
    1e-5,
    2.5e-5,
    5e-5,
    1e-4,
    2.5e-4,
    5e-4,
    1e-3,
    2.5e-3,
    5e-3,
    1e-2,
    2.5e-2,
    5e-2,
    0.1,
)
EVENT_TO_OFFER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric as Prometheus sees it: exposed name, type, label names and meaning."""

    name: str
    kind: str  # counter, gauge or histogram
    labels: tuple[str, ...]
    meaning: str
    buckets: tuple[float, ...] = ()

    def series(self) -> tuple[str, ...]:
        """The sample names this metric exposes (a histogram exposes three)."""
        if self.kind == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)


# fmt: off
METRICS = (
    MetricSpec("insession_events_in_total", "counter", ("stream", "channel"),
               "Events read, by stream (short name) and channel."),
    MetricSpec("insession_dead_letters_total", "counter", ("reason",),
               "Messages sent to the dead-letter topic, by reason code."),
    MetricSpec("insession_duplicate_events_total", "counter", ("stream",),
               "Events dropped as redeliveries of one the person sent before (same event_id)."),
    MetricSpec("insession_decisions_total", "counter", ("reason",),
               "Decision points, by how they ended (offer, no_signal, too_soon, ...)."),
    MetricSpec("insession_offers_total", "counter", ("kind", "group"),
               "Offers made, by offer kind and group (policy, control, fallback)."),
    MetricSpec("insession_fallbacks_total", "counter", ("reason",),
               "Fallback offers made because no decision could be made, by reason."),
    MetricSpec("insession_offer_withdrawals_total", "counter", ("reason",),
               "Offers withdrawn (e.g. consent_revoked), by reason."),
    MetricSpec("insession_offer_outcomes_total", "counter", ("group", "outcome"),
               "What happened to offers (shown ... accepted, no_response), by group."),
    MetricSpec("insession_decision_latency_seconds", "histogram", (),
               "Time to decide for one event inside the flow.", DECISION_BUCKETS),
    MetricSpec("insession_event_to_offer_latency_seconds", "histogram", (),
               "From the event's time to its offer leaving the flow.", EVENT_TO_OFFER_BUCKETS),
    MetricSpec("insession_kafka_consumer_lag", "gauge", ("topic", "partition"),
               "Messages between the flow's position and the end of each input partition."),
    MetricSpec("insession_kafka_produce_errors_total", "counter", ("topic",),
               "Messages Kafka reported as not delivered, by topic."),
    MetricSpec("insession_redis_write_batches_total", "counter", (),
               "Pipelined write round trips to Redis, failed or not."),
    MetricSpec("insession_redis_writes_total", "counter", (),
               "Writes that reached Redis (in batches that succeeded)."),
    MetricSpec("insession_redis_write_errors_total", "counter", (),
               "Write batches to Redis that failed."),
    MetricSpec("insession_redis_pending_writes", "gauge", (),
               "Writes waiting to go to Redis."),
    MetricSpec("insession_customers", "gauge", (),
               "Customers and anonymous devices with state in the flow."),
    MetricSpec("insession_sessions_active", "gauge", (),
               "Sessions still open (no inactivity gap yet)."),
    MetricSpec("insession_model_info", "gauge", ("model", "version"),
               "1 for the version of each model now serving; older versions disappear."),
    MetricSpec("insession_model_updates_total", "counter", ("model",),
               "Learning updates applied to each model."),
    MetricSpec("insession_learning_examples_total", "counter", ("outcome", "reason"),
               "Examples given to the learners, by outcome and why (feedback, window)."),
    MetricSpec("insession_up", "gauge", (),
               "1 while the flow's heartbeat is fresh, else 0."),
    MetricSpec("insession_build_info", "gauge", ("version",),
               "Always 1; the insession version is the label."),
)
"""Every metric `FlowMetrics` exposes: the catalogue docs and dashboards are checked against."""
# fmt: on


def _allowed(what: str, value: str, choices: tuple[str, ...]) -> bool:
    if value not in choices:
        raise ValueError(f"metrics: {what} {value!r} is not one of {', '.join(choices)}")
    return True


class _Histogram:
    """Counts per bucket (not cumulative; the last is +Inf) and the sum of observations."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # `le`: the first bound >= value
        self.total += value

    def absorb(self, other: _Histogram) -> None:
        """Add another thread's observations (its list is copied first, atomically)."""
        counts, total = list(other.counts), other.total
        self.counts = [mine + theirs for mine, theirs in zip(self.counts, counts, strict=True)]
        self.total += total

    def family(self, spec: MetricSpec) -> HistogramMetricFamily:
        cumulative, buckets = 0, []
        for bound, count in zip((*self.bounds, math.inf), self.counts, strict=True):
            cumulative += count
            buckets.append((floatToGoString(bound), float(cumulative)))
        return HistogramMetricFamily(spec.name, spec.meaning, buckets=buckets, sum_value=self.total)


class _Tally:
    """One thread's counters and histograms. Only that thread writes them, so counting takes
    no lock; a scrape copies and sums every thread's tally."""

    __slots__ = (
        "dead_letters", "decision", "decisions", "duplicates", "event_to_offer", "events_in",
        "examples", "fallbacks", "model_updates", "offers", "outcomes", "produce_errors", "redis",
        "withdrawals",
    )  # fmt: skip

    def __init__(self) -> None:
        self.events_in: dict[tuple[str, str], int] = {}
        self.dead_letters: dict[tuple[str], int] = {}
        self.duplicates: dict[tuple[str], int] = {}
        self.decisions: dict[tuple[str], int] = {}
        self.offers: dict[tuple[str, str], int] = {}
        self.fallbacks: dict[tuple[str], int] = {}
        self.withdrawals: dict[tuple[str], int] = {}
        self.outcomes: dict[tuple[str, str], int] = {}
        self.produce_errors: dict[tuple[str], int] = {}
        self.model_updates: dict[tuple[str], int] = {}
        self.examples: dict[tuple[str, str], int] = {}
        self.redis = [0, 0, 0]  # write batches, writes, failed batches
        self.decision = _Histogram(DECISION_BUCKETS)
        self.event_to_offer = _Histogram(EVENT_TO_OFFER_BUCKETS)

    def counters(self) -> dict[str, dict[Any, int]]:
        """A copy of the counters by metric name (each copy is atomic under the GIL)."""
        redis = list(self.redis)
        return {
            "insession_events_in_total": dict(self.events_in),
            "insession_dead_letters_total": dict(self.dead_letters),
            "insession_duplicate_events_total": dict(self.duplicates),
            "insession_decisions_total": dict(self.decisions),
            "insession_offers_total": dict(self.offers),
            "insession_fallbacks_total": dict(self.fallbacks),
            "insession_offer_withdrawals_total": dict(self.withdrawals),
            "insession_offer_outcomes_total": dict(self.outcomes),
            "insession_kafka_produce_errors_total": dict(self.produce_errors),
            "insession_model_updates_total": dict(self.model_updates),
            "insession_learning_examples_total": dict(self.examples),
            "insession_redis_write_batches_total": {(): redis[0]},
            "insession_redis_writes_total": {(): redis[1]},
            "insession_redis_write_errors_total": {(): redis[2]},
        }


class FlowMetrics:
    """The flow's metrics in a registry of their own; call the methods as things happen.

    Safe to call from several worker threads: each counts in its own tally, and gauges are
    plain assignments. Liveness is a heartbeat: the flow calls `beat()` regularly (also while
    idle) and counts as alive while the last beat is at most `stale_after_s` old.

    >>> metrics = FlowMetrics()
    >>> metrics.offer("discount", "policy", event_time_ms=1_000, now_ms=1_012)
    >>> b'insession_offers_total{group="policy",kind="discount"} 1.0' in metrics.exposition()
    True
    """

    def __init__(
        self,
        *,
        stale_after_s: float = 30.0,
        version: str = __version__,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if stale_after_s <= 0:
            raise ValueError(f"metrics: stale_after_s must be positive, got {stale_after_s}")
        self.stale_after_s = stale_after_s
        self._clock = clock
        self._last_beat = clock()
        self._local = threading.local()
        self._tallies: list[_Tally] = []
        self._tallies_lock = threading.Lock()
        # Gauges: label values -> the value last set (a set needs no lock, unlike an add).
        self._gauges: dict[str, dict[tuple[str, ...], float]] = {
            spec.name: {} for spec in METRICS if spec.kind == "gauge"
        }
        for spec in METRICS:
            if spec.kind == "gauge" and not spec.labels:
                self._gauges[spec.name][()] = 0
        self._gauges["insession_build_info"][(version,)] = 1
        self._lag = self._gauges["insession_kafka_consumer_lag"]
        self._models: dict[str, str] = {}
        self._models_lock = threading.Lock()
        self.registry = CollectorRegistry()
        self.registry.register(self)
        # The process's own: resident memory, CPU, open files; the collector's; the runtime.
        ProcessCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)

    def _mine(self) -> _Tally:
        """This thread's tally, made on its first call."""
        try:
            return self._local.tally
        except AttributeError:
            tally = self._local.tally = _Tally()
            with self._tallies_lock:
                self._tallies.append(tally)
            return tally

    # --- events in, dead letters ------------------------------------------------------------

    def event_in(self, stream: str, channel: str, n: int = 1) -> None:
        """`n` events read from `stream` (its short name, e.g. `cart`) on `channel`."""
        counts = self._mine().events_in
        key = (stream, channel)
        if key in counts:
            counts[key] += n
        elif _allowed("stream", stream, INPUT_STREAMS):
            counts[key] = n

    def dead_letter(self, reason: str, n: int = 1) -> None:
        """`n` messages dead-lettered for `reason` (the rejection's reason code)."""
        counts = self._mine().dead_letters
        counts[(reason,)] = counts.get((reason,), 0) + n

    def duplicate_event(self, stream: str) -> None:
        """An event of `stream` was dropped: the person had sent it (its `event_id`) before."""
        counts = self._mine().duplicates
        key = (stream,)
        if key in counts:
            counts[key] += 1
        elif _allowed("stream", stream, INPUT_STREAMS):
            counts[key] = 1

    # --- decisions and offers ---------------------------------------------------------------

    def decision(self, reason: str, seconds: float | None = None) -> None:
        """A decision point ended with `reason`; `seconds` is how long deciding took."""
        tally = self._mine()
        counts = tally.decisions
        counts[(reason,)] = counts.get((reason,), 0) + 1
        if seconds is not None:
            tally.decision.observe(seconds)

    def offer(
        self, kind: str, group: str, event_time_ms: int | None = None, now_ms: int | None = None
    ) -> None:
        """An offer of `kind` left the flow for `group`. On live traffic pass the triggering
        event's time and the wall clock (epoch ms) to observe event-to-offer latency."""
        tally = self._mine()
        key = (kind, group)
        if key in tally.offers:
            tally.offers[key] += 1
        elif _allowed("offer group", group, OFFER_GROUPS):
            tally.offers[key] = 1
        if event_time_ms is not None and now_ms is not None and now_ms >= event_time_ms:
            tally.event_to_offer.observe((now_ms - event_time_ms) / 1000)

    def fallback(self, reason: str) -> None:
        """A fallback offer was made because no decision could be made (e.g. `time_budget`)."""
        counts = self._mine().fallbacks
        counts[(reason,)] = counts.get((reason,), 0) + 1

    def withdrawal(self, reason: str) -> None:
        """An offer was withdrawn for `reason` (one of `WITHDRAWAL_REASONS`)."""
        counts = self._mine().withdrawals
        key = (reason,)
        if key in counts:
            counts[key] += 1
        elif _allowed("withdrawal reason", reason, WITHDRAWAL_REASONS):
            counts[key] = 1

    def outcome(self, group: str, outcome: str) -> None:
        """What happened to an offer of `group`: shown, clicked, accepted, dismissed or
        no_response (its reward window passed)."""
        counts = self._mine().outcomes
        key = (group, outcome)
        if key in counts:
            counts[key] += 1
        elif _allowed("offer group", group, OFFER_GROUPS) and _allowed(
            "offer outcome", outcome, OUTCOMES
        ):
            counts[key] = 1

    # --- Kafka and Redis --------------------------------------------------------------------

    def consumer_lag(self, topic: str, partition: int, lag: int) -> None:
        """How many messages the flow is behind the end of `topic`/`partition`."""
        self._lag[(topic, str(partition))] = lag

    def produce_error(self, topic: str) -> None:
        """Kafka reported a message to `topic` as not delivered."""
        counts = self._mine().produce_errors
        counts[(topic,)] = counts.get((topic,), 0) + 1

    def redis_batch(self, writes: int, ok: bool) -> None:
        """One pipelined round trip of `writes` writes to Redis, which succeeded or failed."""
        redis = self._mine().redis
        redis[0] += 1
        if ok:
            redis[1] += writes
        else:
            redis[2] += 1

    def redis_pending(self, n: int) -> None:
        """Writes now waiting to go to Redis."""
        self._gauges["insession_redis_pending_writes"][()] = n

    # --- state and learning -----------------------------------------------------------------

    def state_size(self, customers: int, sessions: int) -> None:
        """People with state in the flow, and how many of them are in an open session."""
        self._gauges["insession_customers"][()] = customers
        self._gauges["insession_sessions_active"][()] = sessions

    def model(self, name: str, version: str, updates: int = 0) -> None:
        """Model `name` now serves `version`, after `updates` more learning updates since the
        last call; `insession_model_info` keeps only the current version of each model."""
        with self._models_lock:
            previous = self._models.get(name)
            if previous != version:
                info = self._gauges["insession_model_info"]
                info[(name, version)] = 1  # the new one first: a scrape never sees none
                if previous is not None:
                    del info[(name, previous)]
                self._models[name] = version
        if updates:
            counts = self._mine().model_updates
            counts[(name,)] = counts.get((name,), 0) + updates

    def learning_example(self, outcome: str, reason: str) -> None:
        """The learners were given one example: its outcome and why (feedback, reward window)."""
        counts = self._mine().examples
        counts[(outcome, reason)] = counts.get((outcome, reason), 0) + 1

    # --- liveness ---------------------------------------------------------------------------

    def beat(self) -> None:
        """The flow is making progress (call it also while idle, e.g. on every input poll)."""
        self._last_beat = self._clock()

    def heartbeat_age(self) -> float:
        """Seconds since the last `beat()` (or since these metrics were made)."""
        return self._clock() - self._last_beat

    def alive(self) -> bool:
        """Whether the heartbeat is fresh."""
        return self.heartbeat_age() <= self.stale_after_s

    # --- exposition -------------------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        """Every metric of `METRICS` as a Prometheus family (the registry calls this)."""
        values: dict[str, dict[Any, float]] = {
            name: dict(series) for name, series in self._gauges.items()
        }
        values["insession_up"] = {(): 1.0 if self.alive() else 0.0}
        for spec in METRICS:
            if spec.kind == "counter":
                values[spec.name] = {} if spec.labels else {(): 0}
        histograms = {spec.name: _Histogram(spec.buckets) for spec in METRICS if spec.buckets}
        with self._tallies_lock:
            tallies = list(self._tallies)
        for tally in tallies:
            for name, series in tally.counters().items():
                summed = values[name]
                for labels, count in series.items():
                    summed[labels] = summed.get(labels, 0) + count
            histograms["insession_decision_latency_seconds"].absorb(tally.decision)
            histograms["insession_event_to_offer_latency_seconds"].absorb(tally.event_to_offer)
        for spec in METRICS:
            if spec.kind == "histogram":
                yield histograms[spec.name].family(spec)
                continue
            family_type = CounterMetricFamily if spec.kind == "counter" else GaugeMetricFamily
            family = family_type(spec.name, spec.meaning, labels=spec.labels)
            for labels, value in sorted(values[spec.name].items()):
                family.add_metric(labels, float(value))
            yield family

    def exposition(self) -> bytes:
        """The metrics in Prometheus's text format."""
        return generate_latest(self.registry)


ReadinessCheck = Callable[[], bool]
"""True when a dependency (Kafka, Redis, ...) is usable; raising counts as not ready."""


class MetricsServer:
    """A running `/metrics`, `/healthz` and `/readyz` server; `stop()` ends it."""

    def __init__(self, metrics: FlowMetrics, server: HTTPServer) -> None:
        self.metrics = metrics
        self.checks: dict[str, ReadinessCheck] = {}
        self._server = server
        # Handlers find this object through the server: set before the first request can be
        # served (the socket listens already, and a scraper may be waiting on it).
        server.running = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=server.serve_forever, name="insession-metrics", daemon=True
        )
        self._thread.start()

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        """The port listened on (the one picked when asked for port 0)."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def add_check(self, name: str, check: ReadinessCheck) -> None:
        """`/readyz` answers 200 only while every check returns True."""
        self.checks[name] = check

    def readiness(self) -> dict[str, str]:
        """Each check's state: `ok`, `failing`, or `error: ...`; the heartbeat is one of them."""
        states = {"heartbeat": "ok" if self.metrics.alive() else "failing"}
        for name, check in list(self.checks.items()):
            try:
                states[name] = "ok" if check() else "failing"
            except Exception as error:  # a check that breaks means "not ready", said why
                states[name] = f"error: {type(error).__name__}: {error}"
        return states

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def serve_metrics(
    metrics: FlowMetrics,
    host: str = "127.0.0.1",
    port: int = 9108,
    checks: Mapping[str, ReadinessCheck] | None = None,
) -> MetricsServer:
    """Serve `metrics` over HTTP from a daemon thread; port 0 picks a free port.

    Connections that go silent time out and handler threads are bounded
    (`insession.http_server`): a probe or scraper that misbehaves cannot take the flow down.
    """
    if not 0 <= port <= 65535:
        raise ValueError(f"metrics port {port}: must be 0..65535 (setting metrics_port)")
    try:
        server = BoundedHTTPServer((host, port), _MetricsHandler)
    except OSError as error:
        raise OSError(f"metrics server: cannot listen on {host}:{port}: {error}") from error
    running = MetricsServer(metrics, server)
    for name, check in (checks or {}).items():
        running.add_check(name, check)
    return running


class _MetricsHandler(BaseHTTPRequestHandler):
    server_version = "insession-metrics"

    def do_GET(self) -> None:
        running: MetricsServer = self.server.running  # type: ignore[attr-defined]
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._reply(HTTPStatus.OK, running.metrics.exposition(), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            metrics = running.metrics
            alive = metrics.alive()
            body = {
                "status": "ok" if alive else "stale",
                "heartbeat_age_s": round(metrics.heartbeat_age(), 3),
                "stale_after_s": metrics.stale_after_s,
            }
            self._json(HTTPStatus.OK if alive else HTTPStatus.SERVICE_UNAVAILABLE, body)
        elif path == "/readyz":
            states = running.readiness()
            ready = all(state == "ok" for state in states.values())
            body = {"status": "ready" if ready else "not ready", "checks": states}
            self._json(HTTPStatus.OK if ready else HTTPStatus.SERVICE_UNAVAILABLE, body)
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"{path}: try /metrics, /healthz, /readyz"})

    def _json(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        self._reply(status, orjson.dumps(body), "application/json")

    def _reply(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would flood the flow's stderr; stay quiet."""
