"""Fault scenarios on real services, shared by the tests (short) and `bench/faults.py` (long).

Each scenario runs `insession run` as its own process against real Kafka and Redis, injects
one fault, and returns what it measured; the callers assert on it or print it. Traffic is a
fixed set of customers browsing in one session each, so "every event counted once" reads
straight off the session event counts mirrored to Redis.
"""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import redis
from confluent_kafka import Producer
from insession.schemas.codec import encode
from insession.schemas.events import STREAM_OF, Event, ProductView, Search
from prometheus_client.parser import text_string_to_metric_families

from insession.connectors.kafka_admin import create_topics, producer_limits
from insession.connectors.redis_mirror import MirrorLayout
from insession.dev.services import service_pid, start_kafka, start_redis, stop
from insession.settings import Settings
from insession.simulator import malform


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Traffic:
    """`customers` shoppers, `each` events apiece, 10 s apart in event time, one session,
    ending at `start_ms` (events dated ahead of the wall clock would be dead-lettered)."""

    customers: int = 30
    each: int = 40
    tag: str = "cust"

    def events(self, start_ms: int) -> list[Event]:
        events: list[Event] = []
        for n in range(self.each):
            for c in range(self.customers):
                who, at = f"{self.tag}-{c}", start_ms - (self.each - n) * 10_000 + c
                if n % 10 in (4, 5):
                    events.append(
                        Search(
                            event_id=f"{who}-{n}",
                            event_time=at,
                            channel="web",
                            customer_id=who,
                            query="boots",
                            result_count=0,
                        )
                    )
                else:
                    events.append(
                        ProductView(
                            event_id=f"{who}-{n}",
                            event_time=at,
                            channel="web",
                            customer_id=who,
                            product_id=f"p{n % 9}",
                            price=25.0 + n % 4,
                        )
                    )
        return events

    def expected(self) -> dict[str, int]:
        return {f"{self.tag}-{c}": self.each for c in range(self.customers)}


def produce(settings: Settings, items: list[Event | bytes], rate: float) -> None:
    """Send at about `rate` messages/s; bytes go to the click-stream topic as they are."""
    producer = Producer(
        {
            **settings.kafka_client(),
            "linger.ms": 5,
            "message.timeout.ms": 120_000,
            **producer_limits(settings.max_message_bytes),  # storefronts may send up to it
        }
    )
    started = time.monotonic()
    for i, item in enumerate(items):
        if isinstance(item, bytes):
            producer.produce(settings.topic("clickstream"), item)
        else:
            producer.produce(
                settings.topic(STREAM_OF[item.type]),
                encode(item),
                key=(item.partition_key() or "").encode(),
            )
        producer.poll(0)
        ahead = i / rate - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)
    left = producer.flush(120)
    assert left == 0, f"{left} message(s) never reached the broker"


def session_counts(client: redis.Redis, prefix: str, people: list[str]) -> dict[str, int]:
    layout = MirrorLayout(prefix=prefix)
    counts = {}
    try:
        values = client.mget([layout.summary_key(p) for p in people])
    except redis.RedisError:
        return {}
    for person, raw in zip(people, values, strict=True):
        if raw is not None:
            counts[person] = orjson.loads(raw)["session"]["events"]
    return counts


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics page, by (name, sorted labels)."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def total(samples: dict, name: str, **labels: str) -> float:
    return sum(
        value
        for (sample, found), value in samples.items()
        if sample == name and all(dict(found).get(k) == v for k, v in labels.items())
    )


@dataclass
class RunningFlow:
    """`insession run` in its own process, with its metrics on a free port."""

    settings: Settings
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    metrics_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def start(self, *args: str, from_beginning: bool = True) -> float:
        """Start the process and wait until it serves its metrics; when it started."""
        env = {
            **os.environ,
            "INSESSION_BOOTSTRAP_SERVERS": self.settings.bootstrap_servers,
            "INSESSION_REDIS_URL": self.settings.redis_url,
            "INSESSION_REDIS_PREFIX": self.settings.redis_prefix,
            "INSESSION_METRICS_PORT": str(self.metrics_port),
            "INSESSION_EPOCH_MS": "50",
            **{f"INSESSION_TOPIC_{s.upper()}": t for s, t in self.settings.topics.items()},
            **self.env,
        }
        command = ["run", *(["--from-beginning"] if from_beginning else []), *args]
        started = time.monotonic()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "insession.cli", *command],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                scrape(self.metrics_url)
                return started
            except OSError:
                time.sleep(0.1)
        raise AssertionError("the flow never served its metrics")

    def kill(self) -> None:
        """SIGKILL: no clean-up, no last snapshot, as a crash."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def wait_for(condition, timeout_s: float, every_s: float = 0.1) -> float | None:
    """Seconds until `condition()` held, or None if it never did within `timeout_s`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if condition():
            return time.monotonic() - started
        time.sleep(every_s)
    return None


def private_services(base: Settings, home: Path, *, kafka: bool, redis_server: bool) -> Settings:
    """Settings for a broker and/or Redis of this scenario's own (the shared ones are left
    alone), started and ready."""
    settings = dataclasses.replace(base, services_dir=home)
    home.mkdir(parents=True, exist_ok=True)
    if redis_server:
        settings = dataclasses.replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
        start_redis(settings)
    if kafka:
        settings = dataclasses.replace(
            settings,
            bootstrap_servers=f"127.0.0.1:{free_port()}",
            kafka_controller_port=free_port(),
            partitions=2,
        )
        start_kafka(settings, secured_listeners=False)
        create_topics(settings)
    return settings


@dataclass
class OutageReport:
    events: int
    outage_s: float
    offers_during_outage: float
    redis_errors: float
    converged_after_s: float | None
    counts_ok: bool
    decisions_during_outage: float = 0.0


def redis_outage(
    settings: Settings, work: Path, *, outage_s: float, traffic: Traffic, rate: float
) -> OutageReport:
    """Freeze a private Redis (SIGSTOP: it hangs, as a partitioned server does) mid-stream
    for `outage_s`, then thaw it; measure whether the flow kept deciding and how long the
    mirror took to converge once Redis answered again."""
    settings = private_services(settings, work / "services", kafka=False, redis_server=True)
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=2)
    flow = RunningFlow(settings, work / "run.log")
    flow.start()
    pid = service_pid(settings, "redis")
    assert pid is not None
    events = traffic.events(int(time.time() * 1000))
    people = list(traffic.expected())
    producing = threading.Thread(target=produce, args=(settings, events, rate))
    try:
        producing.start()
        time.sleep(min(3.0, outage_s / 4))
        before = scrape(flow.metrics_url)
        os.kill(pid, signal.SIGSTOP)
        time.sleep(outage_s)
        during = scrape(flow.metrics_url)
        os.kill(pid, signal.SIGCONT)
        # Converged: nothing waits for Redis any more (the mirror's backlog is empty).
        drained = wait_for(
            lambda: total(scrape(flow.metrics_url), "insession_redis_pending_writes") == 0,
            timeout_s=60,
            every_s=0.05,
        )
        producing.join()
        wait_for(
            lambda: session_counts(client, settings.redis_prefix, people) == traffic.expected(),
            timeout_s=60,
        )
        after = scrape(flow.metrics_url)
        assert flow.alive(), "the flow survived the outage"
        return OutageReport(
            events=len(events),
            outage_s=outage_s,
            offers_during_outage=total(during, "insession_offers_total")
            - total(before, "insession_offers_total"),
            decisions_during_outage=total(during, "insession_decisions_total")
            - total(before, "insession_decisions_total"),
            redis_errors=total(after, "insession_redis_write_errors_total"),
            converged_after_s=drained,
            counts_ok=session_counts(client, settings.redis_prefix, people) == traffic.expected(),
        )
    finally:
        if service_pid(settings, "redis") is not None:
            os.kill(pid, signal.SIGCONT)
        flow.stop()
        stop(settings, "redis")
        client.close()


@dataclass
class BrokerRestartReport:
    events: int
    down_s: float
    restart_s: float
    converged_after_s: float | None
    counts_ok: bool


def broker_restart(
    settings: Settings, work: Path, *, down_s: float, traffic: Traffic, rate: float
) -> BrokerRestartReport:
    """Stop a private Kafka broker mid-stream for `down_s`, start it again on the same data,
    and measure whether every event still reached each customer's state exactly once."""
    settings = private_services(settings, work / "services", kafka=True, redis_server=False)
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
    flow = RunningFlow(settings, work / "run.log")
    events = traffic.events(int(time.time() * 1000))
    people = list(traffic.expected())
    producing = threading.Thread(target=produce, args=(settings, events, rate))
    try:
        flow.start()
        producing.start()
        time.sleep(len(events) / rate / 3)
        stop(settings, "kafka")
        time.sleep(down_s)
        restart_s = start_kafka(settings, secured_listeners=False)
        back = time.monotonic()
        producing.join()
        converged = wait_for(
            lambda: session_counts(client, settings.redis_prefix, people) == traffic.expected(),
            timeout_s=90,
        )
        time.sleep(1.0)  # anything counted twice would show by now
        assert flow.alive(), "the flow survived the broker restart"
        return BrokerRestartReport(
            events=len(events),
            down_s=down_s,
            restart_s=restart_s,
            converged_after_s=None if converged is None else time.monotonic() - back - 1.0,
            counts_ok=session_counts(client, settings.redis_prefix, people) == traffic.expected(),
        )
    finally:
        flow.stop()
        stop(settings, "kafka")
        client.close()


def mixed_with_malformed(good: list[Event], bad: int, seed: int = 7) -> list[Event | bytes]:
    """`bad` malformed messages (made from the good events as buggy producers would),
    spread at random among the good ones."""
    rng = random.Random(seed)
    broken: list[Event | bytes] = [malform(rng.choice(good), rng) for _ in range(bad)]
    items: list[Event | bytes] = list(good)
    for message in broken:
        items.insert(rng.randrange(len(items) + 1), message)
    return items
