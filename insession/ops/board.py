"""`insession ops`: a live page for ops, fed by scraping the flows' `/metrics` endpoints.

A background thread scrapes every endpoint once per interval and keeps a short history;
`/api/summary` turns the history into the numbers ops watch (rates and latency percentiles
over the recent window, totals since start), summed over the endpoints, and `/` is the page
(`page/index.html`, no build step) that polls it every second.
"""

from __future__ import annotations

import math
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

import orjson
from prometheus_client.parser import text_string_to_metric_families

from insession.ops.http_server import ServedInBackground, send_uncached

QUANTILES = (0.5, 0.95, 0.99)

HISTORY_POINTS = 60

# Scrapes go straight to the endpoints asked about, never through a configured proxy.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))

Series = list[tuple[dict[str, str], float]]


@dataclass(frozen=True, slots=True)
class Scrape:
    """One endpoint's samples at one moment (`at`: monotonic seconds), by sample name."""

    at: float
    samples: dict[str, Series]

    def total(self, name: str, **match: str) -> float:
        """The sum of `name`'s series whose labels include `match`."""
        return sum(
            value
            for labels, value in self.samples.get(name, ())
            if all(labels.get(k) == v for k, v in match.items())
        )

    def by(self, name: str, *labels: str) -> dict[tuple[str, ...], float]:
        """`name` summed by the values of `labels`."""
        sums: dict[tuple[str, ...], float] = {}
        for series_labels, value in self.samples.get(name, ()):
            key = tuple(series_labels.get(label, "") for label in labels)
            sums[key] = sums.get(key, 0.0) + value
        return sums


def parse_exposition(text: str) -> dict[str, Series]:
    """Prometheus text -> samples by name (`insession_offers_total`, `..._bucket`, ...)."""
    samples: dict[str, Series] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    return samples


def increase(old: Scrape | None, new: Scrape, name: str, *labels: str) -> dict[tuple, float]:
    """How much counter `name` grew from `old` to `new`, summed by `labels`; a series that is
    new or went down (its process restarted) counts from zero. Without `old`: since start."""
    before = {}
    if old is not None:
        before = {tuple(sorted(ls.items())): value for ls, value in old.samples.get(name, ())}
    grown: dict[tuple, float] = {}
    for series_labels, value in new.samples.get(name, ()):
        was = before.get(tuple(sorted(series_labels.items())), 0.0)
        key = tuple(series_labels.get(label, "") for label in labels)
        grown[key] = grown.get(key, 0.0) + (value - was if value >= was else value)
    return grown


def bucket_quantiles(buckets: dict[float, float], quantiles: Iterable[float] = QUANTILES) -> dict:
    """Quantiles from cumulative histogram buckets (upper bound -> count), interpolated
    within a bucket as Prometheus's `histogram_quantile` does; None when there is no count."""
    bounds = sorted(buckets)
    total = buckets.get(math.inf, 0.0)
    result: dict[str, float | None] = {}
    for q in quantiles:
        name = f"p{round(q * 100):d}"
        if total <= 0:
            result[name] = None
            continue
        rank, lower, below = q * total, 0.0, 0.0
        for bound in bounds:
            count = buckets[bound]
            if count >= rank:
                if math.isinf(bound):  # above the largest bound: say the largest bound
                    result[name] = lower
                else:
                    share = (rank - below) / (count - below) if count > below else 1.0
                    result[name] = lower + (bound - lower) * share
                break
            lower, below = bound, count
    return result


@dataclass
class Endpoint:
    """One `/metrics` endpoint and its recent scrapes."""

    url: str
    keep_s: float
    scrapes: deque[Scrape] = field(default_factory=deque)
    up: bool = False
    error: str | None = "not scraped yet"

    def fetch(self, timeout: float) -> Scrape | str:
        """Scrape now: the samples, or why there are none."""
        try:
            with _DIRECT.open(self.url, timeout=timeout) as response:
                text = response.read().decode()
            return Scrape(time.monotonic(), parse_exposition(text))
        except (OSError, ValueError) as failure:
            return f"{type(failure).__name__}: {getattr(failure, 'reason', failure)}"

    def record(self, result: Scrape | str) -> None:
        """Keep a fetched scrape (forgetting those older than `keep_s`), or the failure."""
        if isinstance(result, str):
            self.up, self.error = False, result
            return
        self.up, self.error = True, None
        self.scrapes.append(result)
        while self.scrapes[0].at < result.at - self.keep_s:
            self.scrapes.popleft()

    def window(self, window_s: float) -> tuple[Scrape | None, Scrape | None]:
        """The oldest scrape within `window_s` of the newest (None if it is the newest)."""
        if not self.scrapes:
            return None, None
        newest = self.scrapes[-1]
        oldest = next(s for s in self.scrapes if s.at >= newest.at - window_s)
        return (oldest if oldest is not newest else None), newest


def _rate(grown: float, old: Scrape | None, new: Scrape) -> float | None:
    return grown / (new.at - old.at) if old is not None and new.at > old.at else None


def _add(total: float | None, value: float | None) -> float | None:
    if value is None:
        return total
    return value if total is None else total + value


def _by_label(scrape: Scrape, name: str, label: str, into: dict[str, float]) -> None:
    for (value_of_label,), value in scrape.by(name, label).items():
        into[value_of_label] = into.get(value_of_label, 0.0) + value


def summarise(endpoints: Sequence[Endpoint], window_s: float) -> dict[str, Any]:
    """The numbers on the page: rates and percentiles over `window_s`, totals since start,
    summed over the endpoints (each one a flow process with its own partitions)."""
    events_total = dead_total = redis_errors = redis_pending = 0.0
    events_rate = dead_rate = redis_error_rate = None
    dead_by_reason: dict[str, float] = {}
    offers_by_group: dict[str, float] = {}
    offers_by_kind: dict[str, float] = {}
    accepted: dict[str, float] = {}
    decisions: dict[str, float] = {}
    lag: list[dict[str, Any]] = []
    models: list[dict[str, str]] = []
    latency: dict[str, dict[float, float]] = {"decision": {}, "event_to_offer": {}}
    states = []
    for endpoint in endpoints:
        old, new = endpoint.window(window_s)
        if not endpoint.up:  # its last numbers still count as totals, but no longer as rates
            old = None
        alive = bool(new and new.total("insession_up") >= 1)
        states.append(
            {"url": endpoint.url, "up": endpoint.up, "alive": alive, "error": endpoint.error}
        )
        if new is None:
            continue
        events_total += new.total("insession_events_in_total")
        grown = increase(old, new, "insession_events_in_total").get((), 0.0)
        events_rate = _add(events_rate, _rate(grown, old, new))
        dead_total += new.total("insession_dead_letters_total")
        grown = increase(old, new, "insession_dead_letters_total").get((), 0.0)
        dead_rate = _add(dead_rate, _rate(grown, old, new))
        _by_label(new, "insession_dead_letters_total", "reason", dead_by_reason)
        _by_label(new, "insession_offers_total", "group", offers_by_group)
        _by_label(new, "insession_offers_total", "kind", offers_by_kind)
        _by_label(new, "insession_decisions_total", "reason", decisions)
        outcomes = new.by("insession_offer_outcomes_total", "group", "outcome")
        for (group, outcome), value in outcomes.items():
            if outcome == "accepted":
                accepted[group] = accepted.get(group, 0.0) + value
        redis_errors += new.total("insession_redis_write_errors_total")
        grown = increase(old, new, "insession_redis_write_errors_total").get((), 0.0)
        redis_error_rate = _add(redis_error_rate, _rate(grown, old, new))
        redis_pending += new.total("insession_redis_pending_writes")
        partitions = new.by("insession_kafka_consumer_lag", "topic", "partition")
        for (topic, partition), value in partitions.items():
            lag.append({"topic": topic, "partition": partition, "lag": value})
        for (model, version), value in new.by("insession_model_info", "model", "version").items():
            if value >= 1:
                models.append({"model": model, "version": version})
        for key, name in (
            ("decision", "insession_decision_latency_seconds_bucket"),
            ("event_to_offer", "insession_event_to_offer_latency_seconds_bucket"),
        ):
            for (le,), value in increase(old, new, name, "le").items():
                bound = float(le)
                latency[key][bound] = latency[key].get(bound, 0.0) + value
    acceptance = {
        group: {
            "offers": offers_by_group.get(group, 0.0),
            "accepted": accepted.get(group, 0.0),
            "rate": (accepted.get(group, 0.0) / offers_by_group[group])
            if offers_by_group.get(group)
            else None,
        }
        for group in ("policy", "control")
    }
    lag.sort(key=lambda row: (row["topic"], int(row["partition"] or 0)))
    return {
        "window_s": window_s,
        "endpoints": states,
        "up": bool(states) and all(state["up"] for state in states),
        "events": {"total": events_total, "per_s": events_rate},
        "consumer_lag": {"total": sum(row["lag"] for row in lag), "partitions": lag},
        "latency_s": {key: bucket_quantiles(buckets) for key, buckets in latency.items()},
        "dead_letters": {"total": dead_total, "per_s": dead_rate, "by_reason": dead_by_reason},
        "decisions": decisions,
        "offers": {"by_group": offers_by_group, "by_kind": offers_by_kind},
        "acceptance": acceptance,
        "redis": {
            "write_errors": redis_errors,
            "errors_per_s": redis_error_rate,
            "pending": redis_pending,
        },
        "models": sorted(models, key=lambda m: m["model"]),
    }


class OpsBoard:
    """The endpoints, scraped every `interval_s` from a daemon thread, and the events/s
    history for the sparkline."""

    def __init__(
        self, urls: Sequence[str], interval_s: float = 1.0, window_s: float = 10.0
    ) -> None:
        if interval_s <= 0 or window_s < interval_s:
            raise ValueError(f"ops: need 0 < interval ({interval_s} s) <= window ({window_s} s)")
        self.interval_s, self.window_s = interval_s, window_s
        self.endpoints = [Endpoint(url, keep_s=window_s * 2) for url in urls]
        self.history: deque[float | None] = deque(maxlen=HISTORY_POINTS)
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="insession-ops", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def scrape_once(self) -> None:
        """Scrape every endpoint (without holding the lock), then record the results."""
        results = [e.fetch(timeout=max(self.interval_s, 1.0)) for e in self.endpoints]
        with self._lock:
            for endpoint, result in zip(self.endpoints, results, strict=True):
                endpoint.record(result)
            self.history.append(summarise(self.endpoints, self.window_s)["events"]["per_s"])

    def summary(self) -> dict[str, Any]:
        with self._lock:
            summary = summarise(self.endpoints, self.window_s)
            summary["events"]["history"] = list(self.history)
        return summary

    def _run(self) -> None:
        while not self._stopped.is_set():
            started = time.monotonic()
            self.scrape_once()
            self._stopped.wait(max(0.0, self.interval_s - (time.monotonic() - started)))


class OpsServer(ServedInBackground):
    """The running page and its board; `stop()` ends both."""

    def __init__(self, board: OpsBoard, server: ThreadingHTTPServer) -> None:
        self.board = board
        super().__init__(server, "ops-http")

    def stop(self) -> None:
        super().stop()
        self.board.stop()


def serve_ops(board: OpsBoard, host: str = "127.0.0.1", port: int = 9109) -> OpsServer:
    """Start scraping and serve the page; port 0 picks a free port."""
    if not 0 <= port <= 65535:
        raise ValueError(f"ops page port {port}: must be 0..65535")
    page = resources.files("insession.ops").joinpath("page/index.html").read_bytes()
    try:
        server = ThreadingHTTPServer((host, port), _OpsHandler)
    except OSError as error:
        raise OSError(f"ops page: cannot listen on {host}:{port}: {error}") from error
    server.daemon_threads = True
    server.board, server.page = board, page  # type: ignore[attr-defined]
    board.start()
    return OpsServer(board, server)


class _OpsHandler(BaseHTTPRequestHandler):
    server_version = "insession-ops"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            page: bytes = self.server.page  # type: ignore[attr-defined]
            self._reply(HTTPStatus.OK, page, "text/html; charset=utf-8")
        elif path == "/api/summary":
            summary = self.server.board.summary()  # type: ignore[attr-defined]
            self._reply(HTTPStatus.OK, orjson.dumps(summary), "application/json")
        else:
            self._reply(HTTPStatus.NOT_FOUND, b"not found: try / or /api/summary", "text/plain")

    def _reply(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        send_uncached(self, status, body, content_type)

    def log_message(self, format: str, *args: Any) -> None:
        """One poll a second per open page would bury everything else; stay quiet."""
