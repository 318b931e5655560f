"""`insession ops`: the summary's arithmetic on known scrapes, and the live page in a real
headless Chromium whose numbers move while traffic flows.

`OpsPage`, `browser` and `ops_command` are written to be reused by a variant that drives a
real flow instead of `Traffic`.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from insession.ops.board import Endpoint, Scrape, bucket_quantiles, parse_exposition, summarise
from insession.ops.metrics import FlowMetrics, serve_metrics
from tests.conftest import ROOT, unavailable

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# The machine's network is closed: without these, Chromium stalls on look-ups and updates.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1000",
)
PAGE_TIMEOUT_S = 60  # a ceiling for waiting on the page, never a performance assertion


# --- the summary on known scrapes -----------------------------------------------------------


def scrape_of(metrics: FlowMetrics, at: float) -> Scrape:
    """What scraping `metrics` at monotonic time `at` gives, through the real text format."""
    return Scrape(at, parse_exposition(metrics.exposition().decode()))


def endpoint_with(*scrapes: Scrape, up: bool = True) -> Endpoint:
    return Endpoint("http://flow/metrics", keep_s=60, scrapes=deque(scrapes), up=up, error=None)


def test_quantiles_interpolate_within_buckets_as_prometheus_does() -> None:
    buckets = {0.001: 50.0, 0.01: 90.0, 0.1: 100.0, math.inf: 100.0}
    quantiles = bucket_quantiles(buckets)
    assert quantiles["p50"] == pytest.approx(0.001)
    assert quantiles["p95"] == pytest.approx(0.01 + 0.09 * 5 / 10)
    assert quantiles["p99"] == pytest.approx(0.01 + 0.09 * 9 / 10)
    # Beyond the largest bound the answer is that bound; no observations, no answer.
    assert bucket_quantiles({0.1: 1.0, math.inf: 10.0})["p50"] == 0.1
    assert bucket_quantiles({0.1: 0.0, math.inf: 0.0}) == {"p50": None, "p95": None, "p99": None}


def test_rates_cover_the_window_and_survive_a_restart() -> None:
    metrics = FlowMetrics()
    metrics.event_in("cart", "web", 100)
    first = scrape_of(metrics, at=0)
    metrics.event_in("cart", "web", 500)
    second = scrape_of(metrics, at=5)
    restarted = FlowMetrics()  # the flow restarted: its counter starts again from zero
    restarted.event_in("cart", "web", 50)
    third = scrape_of(restarted, at=10)

    summary = summarise([endpoint_with(first, second)], window_s=10)
    assert summary["events"] == {"total": 600, "per_s": 100}
    summary = summarise([endpoint_with(first, second, third)], window_s=10)
    assert summary["events"] == {"total": 50, "per_s": 5}  # 50 since the restart, over 10 s
    summary = summarise([endpoint_with(first, second, third)], window_s=6)
    assert summary["events"]["per_s"] == 10  # from the scrape at 5 s only
    summary = summarise([endpoint_with(first)], window_s=10)
    assert summary["events"] == {"total": 100, "per_s": None}  # one scrape gives no rate


def test_summary_adds_up_the_endpoints_and_reports_each() -> None:
    flows = [FlowMetrics(), FlowMetrics()]
    starts = [scrape_of(m, at=0) for m in flows]
    for metrics, partition in zip(flows, (0, 1), strict=True):
        metrics.event_in("clickstream", "app", 200)
        metrics.consumer_lag("insession.clickstream", partition, 10 + partition)
        metrics.decision("offer", 3e-5)
        metrics.offer("discount", "policy")
        metrics.offer("help", "control")
        metrics.outcome("policy", "accepted")
        metrics.dead_letter("invalid_json", 4)
        metrics.redis_batch(3, ok=False)
    flows[1].model("propensity", "v2")
    ends = [scrape_of(m, at=2) for m in flows]
    down = endpoint_with(*starts[:1], up=False)
    down.error = "URLError: refused"
    summary = summarise(
        [endpoint_with(starts[0], ends[0]), endpoint_with(starts[1], ends[1]), down], 10
    )
    assert summary["events"] == {"total": 400, "per_s": 200}
    assert summary["consumer_lag"]["total"] == 21
    assert [row["partition"] for row in summary["consumer_lag"]["partitions"]] == ["0", "1"]
    assert summary["dead_letters"] == {"total": 8, "per_s": 4, "by_reason": {"invalid_json": 8}}
    assert summary["offers"]["by_group"] == {"policy": 2, "control": 2}
    assert summary["acceptance"]["policy"] == {"offers": 2, "accepted": 2, "rate": 1.0}
    assert summary["acceptance"]["control"] == {"offers": 2, "accepted": 0, "rate": 0.0}
    assert summary["redis"] == {"write_errors": 2, "errors_per_s": 1, "pending": 0}
    assert summary["models"] == [{"model": "propensity", "version": "v2"}]
    p50 = summary["latency_s"]["decision"]["p50"]
    assert 2.5e-5 < p50 <= 5e-5
    assert summary["latency_s"]["event_to_offer"]["p50"] is None  # no event times were given
    assert [e["up"] for e in summary["endpoints"]] == [True, True, False]
    assert summary["endpoints"][2]["error"] == "URLError: refused"
    assert summary["up"] is False


# --- the page in a real browser -------------------------------------------------------------


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A real headless Chromium through Debian's chromedriver (no driver download)."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        unavailable(
            f"{' and '.join(missing)} missing (apt-get install chromium chromium-driver, "
            "or scripts/bootstrap.sh)"
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        unavailable("the selenium package is missing (pip install -e '.[dev]')")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    try:
        yield driver
    finally:
        driver.quit()


class OpsPage:
    """Reads the ops page as a person sees it: each number by its `data-metric`."""

    def __init__(self, driver: Any, url: str) -> None:
        self.driver = driver
        self.url = url

    def open(self) -> OpsPage:
        self.driver.get(self.url)
        return self

    def _element(self, metric: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, f'[data-metric="{metric}"]')

    def text(self, metric: str) -> str:
        """What the page shows for `metric` (formatted, e.g. `1,234` or `12.5 %`)."""
        return str(self._element(metric).text)

    def value(self, metric: str) -> float | None:
        """The raw number behind `metric`, None while the page shows none."""
        raw = self._element(metric).get_attribute("data-value")
        return float(raw) if raw else None

    def wait_for(
        self, metric: str, holds: Callable[[float], bool], what: str = "to change"
    ) -> float:
        """Wait until `metric` has a number for which `holds` is true; that number."""
        from selenium.webdriver.support.ui import WebDriverWait

        def ready(_: Any) -> float | None:
            number = self.value(metric)
            return number if number is not None and holds(number) else None

        message = f"{metric} did not come {what} (last: {self.text(metric)!r})"
        return float(WebDriverWait(self.driver, PAGE_TIMEOUT_S, 0.2).until(ready, message))

    def rows(self, table_body_id: str) -> list[list[str]]:
        """The cells of a table's rows (e.g. `lag-partitions`, `dead-letters-by-reason`)."""
        from selenium.webdriver.common.by import By

        body = self.driver.find_element(By.ID, table_body_id)
        return [
            [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
            for row in body.find_elements(By.TAG_NAME, "tr")
        ]

    def endpoints(self) -> dict[str, bool]:
        """Each scraped endpoint's URL and whether the page shows it up."""
        from selenium.webdriver.common.by import By

        items = self.driver.find_elements(By.CSS_SELECTOR, "#endpoints li")
        return {
            item.get_attribute("data-endpoint"): item.get_attribute("data-up") == "true"
            for item in items
        }

    def sparkline_points(self) -> int:
        from selenium.webdriver.common.by import By

        svg = self.driver.find_element(By.ID, "events-sparkline")
        return int(svg.get_attribute("data-points") or 0)


@contextmanager
def ops_command(*metrics_urls: str, window_s: float = 3, interval_s: float = 0.5) -> Iterator[str]:
    """`insession ops` as a real process on a free port, scraping `metrics_urls`; its URL."""
    process = subprocess.Popen(
        [
            sys.executable, "-m", "insession.cli", "ops",
            "--metrics", *metrics_urls,
            "--port", "0",
            "--window", str(window_s),
            "--interval", str(interval_s),
        ],
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        first_line = process.stderr.readline()
        found = re.search(r"(http://\S+/) scraping", first_line)
        assert found, f"insession ops did not start: {first_line}{process.stderr.read()}"
        yield found.group(1)
    finally:
        process.terminate()
        process.wait(timeout=30)


class Traffic(threading.Thread):
    """Feeds a `FlowMetrics` as a flow would: events, decisions, offers to both groups and
    their outcomes, latencies, lag. `events_per_tick` sets the pace."""

    def __init__(self, metrics: FlowMetrics, events_per_tick: int = 5) -> None:
        super().__init__(name="traffic", daemon=True)
        self.metrics = metrics
        self.events_per_tick = events_per_tick
        self.stopped = threading.Event()
        self.offers = 0

    def run(self) -> None:
        metrics = self.metrics
        metrics.model("propensity", "v7")
        made = {"policy": 0, "control": 0}
        while not self.stopped.is_set():
            now_ms = int(time.time() * 1000)
            for i in range(self.events_per_tick):
                metrics.event_in(("clickstream", "cart")[i % 2], ("web", "app")[i % 2])
                metrics.decision(("offer", "no_signal")[i % 2], 2e-5 * (1 + i % 5))
            self.offers += 1
            group = "policy" if self.offers % 4 else "control"
            made[group] += 1
            metrics.offer(("discount", "help")[self.offers % 2], group, now_ms - 15, now_ms)
            metrics.outcome(group, "shown")
            # Policy offers are accepted one time in two, control ones one time in three.
            if made[group] % (2 if group == "policy" else 3) == 0:
                metrics.outcome(group, "accepted")
            if self.offers % 20 == 0:
                metrics.dead_letter("invalid_json")
            metrics.consumer_lag("insession.clickstream", 0, 7)
            metrics.consumer_lag("insession.clickstream", 1, 5)
            metrics.beat()
            self.stopped.wait(0.01)


def free_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_the_page_moves_while_traffic_flows(browser: Any) -> None:
    metrics = FlowMetrics()
    flow = serve_metrics(metrics, "127.0.0.1", 0)
    traffic = Traffic(metrics, events_per_tick=5)
    traffic.start()
    nowhere = free_url()
    try:
        with ops_command(flow.url, nowhere) as url:
            page = OpsPage(browser, url).open()
            rate = page.wait_for("events-per-s", lambda v: v > 0, "above zero")
            total = page.wait_for("events-total", lambda v: v > 0, "above zero")
            time.sleep(2)  # a couple of seconds later, the same numbers read again
            later = page.value("events-total")
            assert later is not None and later > total
            assert re.fullmatch(r"[\d,]+", page.text("events-total"))

            traffic.events_per_tick = 40  # several times the pace: events/s must follow
            faster = page.wait_for("events-per-s", lambda v: v > 2 * rate, "to double")
            assert faster > 2 * rate
            assert re.fullmatch(r"[\d,.]+", page.text("events-per-s"))
            assert page.sparkline_points() > 1

            policy = page.wait_for("acceptance-policy", lambda v: 0 < v <= 1)
            control = page.wait_for("acceptance-control", lambda v: 0 < v <= 1)
            assert policy == pytest.approx(1 / 2, abs=0.05)
            assert control == pytest.approx(1 / 3, abs=0.1)
            assert page.text("acceptance-policy").endswith("%")
            assert page.text("acceptance-control").endswith("%")
            assert page.value("offers-policy") and page.value("offers-control")

            assert page.wait_for("lag-total", lambda v: v == 12) == 12
            assert page.rows("lag-partitions") == [
                ["insession.clickstream", "0", "7"],
                ["insession.clickstream", "1", "5"],
            ]
            decision_p50 = page.wait_for("decision-p50", lambda v: v > 0)
            assert 1e-5 < decision_p50 <= 1e-4
            assert page.text("decision-p50").endswith("µs")
            assert 0.01 <= page.wait_for("event-to-offer-p50", lambda v: v > 0) <= 0.025
            assert page.rows("dead-letters-by-reason")[0][0] == "invalid_json"
            assert page.text("model-version") == "propensity v7"
            assert page.endpoints() == {f"{flow.url}/metrics": True, f"{nowhere}/metrics": False}
            assert page.text("endpoints-up") == "1/2"
    finally:
        traffic.stopped.set()
        traffic.join()
        flow.stop()
