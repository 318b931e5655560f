"""Soak: `insession run` for a bounded time while everything the reliability issue found is
thrown at it at random, and an account of every message at the end.

Run (Kafka and Redis up: `insession services up`):

    .venv/bin/python bench/soak.py [--seconds 120] [--rate 300] [--seed 1]

Injected at random, beside steady traffic of `--shoppers` tracked shoppers: poison messages
just under the 1 MiB limit (junk and well-formed JSON the decoder refuses), events dated
decades ahead, every event delivered twice or three times, events out of order, consent
grants and revokes (some dated before offers already made), forged device links, erasures,
half-sent and abandoned HTTP requests to the metrics port, Redis connections dropped several
times in a row, and restarts: SIGTERM (a clean stop) and `kill -9` (a crash), resumed from
the recovery directory.

Prints messages sent by kind, what became of them (each tracked shopper's event count in
Redis against the distinct events sent, dead letters by reason against what was sent to be
refused, duplicates dropped), restarts, and crashes: the flow exiting without being told,
which must be 0.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import random
import socket
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import orjson
import redis
from confluent_kafka import Consumer, Producer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' scenario code

from insession.schemas.codec import decode, encode
from insession.schemas.events import (
    STREAM_OF,
    Consent,
    DeadLetter,
    ErasureRequest,
    Event,
    IdentityLink,
    ProductView,
    Search,
)

from insession.connectors.kafka_admin import create_topics, delete_topics
from insession.connectors.redis_client import delete_prefixed
from insession.connectors.redis_mirror import MirrorLayout
from insession.settings import Settings
from tests.integration.fault_scenarios import RunningFlow, scrape, total

YEAR_MS = 365 * 24 * 3_600_000
LIMIT = 1_048_576


@dataclasses.dataclass
class Soak:
    """The messages sent so far, and what the shoppers' state should show."""

    settings: Settings
    rng: random.Random
    producer: Producer
    sent: Counter[str] = dataclasses.field(default_factory=Counter)
    distinct: Counter[str] = dataclasses.field(default_factory=Counter)
    """Distinct events per tracked shopper: what their session count must be."""
    serial: int = 0

    def send(self, event: Event, *, copies: int = 1, kind: str | None = None) -> None:
        value = encode(event)
        topic = self.settings.topic(STREAM_OF[event.type])
        key = (event.partition_key() or "").encode()
        for _ in range(copies):
            self.producer.produce(topic, value, key=key)
        self.producer.poll(0)
        self.sent[kind or event.type] += copies

    def send_raw(self, value: bytes, kind: str) -> None:
        self.producer.produce(self.settings.topic("clickstream"), value)
        self.producer.poll(0)
        self.sent[kind] += 1

    def event_id(self) -> str:
        self.serial += 1
        return f"soak-{self.serial}"

    def shopper_event(self, shopper: str, now_ms: int) -> None:
        """One event of a tracked shopper, sometimes out of order, sometimes repeated."""
        late_ms = self.rng.choice((0, 0, 0, 200, 1_500))
        fields = {
            "event_id": self.event_id(),
            "event_time": now_ms - late_ms,
            "channel": "web",
            "customer_id": shopper,
        }
        if self.rng.random() < 0.2:
            event: Event = Search(**fields, query="delivery", result_count=0)
        else:
            n = self.rng.randrange(30)
            event = ProductView(**fields, product_id=f"sku-{n}", price=10.0 + n)
        copies = self.rng.choice((1, 1, 1, 1, 2, 3))
        self.send(event, copies=copies, kind="shopper_event")
        self.distinct[shopper] += 1
        if copies > 1:
            self.sent["repeated_copies"] += copies - 1

    def consent(self, shopper: str, now_ms: int) -> None:
        granted = self.rng.random() < 0.6
        earlier = 0 if granted else self.rng.choice((0, 3_000))  # a revoke that comes late
        self.send(
            Consent(
                event_id=self.event_id(),
                event_time=now_ms - earlier,
                channel="web",
                customer_id=shopper,
                granted=granted,
            ),
            kind="consent_grant" if granted else "consent_revoke",
        )

    def poison(self) -> None:
        if self.rng.random() < 0.5:
            self.send_raw(b"{" + b"x" * (LIMIT - 200), "poison_junk")
        else:  # well-formed JSON the decoder refuses (an unknown type)
            body = orjson.dumps({"type": "nonsense", "pad": "y" * (LIMIT - 300)})
            self.send_raw(body, "poison_json")

    def far_future(self, now_ms: int) -> None:
        self.send(
            Search(
                event_id=self.event_id(),
                event_time=now_ms + 30 * YEAR_MS,
                channel="web",
                customer_id=f"traveller-{self.serial}",
                query="boots",
                result_count=0,
            ),
            kind="far_future",
        )

    def forged_link(self, victim: str, now_ms: int) -> None:
        """A client event naming a customer its device was never linked to."""
        self.send(
            ProductView(
                event_id=self.event_id(),
                event_time=now_ms,
                channel="web",
                customer_id=victim,
                anonymous_id=f"attacker-{self.rng.randrange(5)}",
                product_id="sku-1",
                price=11.0,
            ),
            kind="forged_link",
        )

    def erased_customer(self, now_ms: int) -> None:
        """A customer who logs in on a device, browses, and asks to be forgotten."""
        who, device = f"erased-{self.serial}", f"dev-erased-{self.serial}"
        base = {"channel": "web", "customer_id": who}
        self.send(
            IdentityLink(
                event_id=self.event_id(), event_time=now_ms - 3, **base, anonymous_id=device
            ),
            kind="erasure_journey",
        )
        self.send(
            ProductView(
                event_id=self.event_id(),
                event_time=now_ms - 2,
                **base,
                anonymous_id=device,
                product_id="sku-2",
                price=12.0,
            ),
            kind="erasure_journey",
        )
        self.send(
            ErasureRequest(
                event_id=self.event_id(), event_time=now_ms, **base, request_id=f"r-{self.serial}"
            ),
            kind="erasure_journey",
        )


def half_sent_requests(port: int, count: int) -> None:
    """Requests cut off mid-way and connections dropped at once: the flow must not care."""
    for n in range(count):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if n % 2:
                    sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never finished
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
        except OSError:
            pass


def drop_redis_connections(client: redis.Redis, times: int) -> int:
    killed = 0
    for _ in range(times):
        with contextlib.suppress(redis.RedisError):
            killed += int(
                client.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
            )
        time.sleep(0.05)
    return killed


def dead_letters(settings: Settings) -> tuple[Counter[str], int]:
    """Dead letters by reason, each source message once (a resume from snapshots sends again
    what followed the last snapshot: at least once), and how many were sent again."""
    consumer = Consumer(
        {
            **settings.kafka_client(),
            "group.id": f"soak-dlq-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([settings.topic("dead_letter")])
    reasons: Counter[str] = Counter()
    seen: set[tuple[str, int | None, int | None]] = set()
    again = 0
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < 5:
        message = consumer.poll(0.5)
        if message is None or message.error():
            continue
        idle_since = time.monotonic()
        letter = decode(message.value())
        if not isinstance(letter, DeadLetter):
            reasons["unreadable"] += 1
            continue
        where = (letter.source_topic, letter.source_partition, letter.source_offset)
        if where in seen:
            again += 1
            continue
        seen.add(where)
        reasons[letter.reason] += 1
    consumer.close()
    return reasons, again


def patient_scrape(url: str, tries: int = 20) -> dict:
    """The metrics, asking again while half-sent requests still hold the server's threads
    (each is dropped after its idle timeout): refused scrapes are counted, not fatal."""
    for attempt in range(tries):
        try:
            return scrape(url)
        except OSError:
            REFUSED_SCRAPES.append(attempt)
            time.sleep(0.5)
    return scrape(url)


REFUSED_SCRAPES: list[int] = []


def counted(client: redis.Redis, prefix: str, shoppers: list[str]) -> dict[str, int]:
    layout = MirrorLayout(prefix=prefix)
    found = {}
    for shopper, raw in zip(
        shoppers, client.mget([layout.summary_key(s) for s in shoppers]), strict=True
    ):
        if raw is not None:
            found[shopper] = orjson.loads(raw)["session"]["events"]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--rate", type=float, default=300.0, help="shopper events per second")
    parser.add_argument("--shoppers", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    base = Settings.load()
    tag = uuid.uuid4().hex[:8]
    settings = dataclasses.replace(
        base,
        topics={stream: f"soak.{tag}.{stream}" for stream in base.topics},
        partitions=2,
        redis_prefix=f"soak:{tag}:",
    )
    create_topics(settings)
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
    rng = random.Random(args.seed)
    producer = Producer(
        {
            **settings.kafka_client(),
            "linger.ms": 5,
            "message.max.bytes": 2 * LIMIT,
        }
    )
    soak = Soak(settings, rng, producer)
    shoppers = [f"shopper-{n}" for n in range(args.shoppers)]
    crashes = restarts = killed_redis = 0
    metrics: list[float] = []
    with tempfile.TemporaryDirectory() as work:
        flow = RunningFlow(settings, Path(work) / "run.log", env={"INSESSION_POLICY": "thompson"})
        recovery = ("--recovery-dir", str(Path(work) / "recovery"), "--epoch-ms", "200")
        flow.start(*recovery)
        started = time.monotonic()
        next_restart = started + rng.uniform(15, 30)
        try:
            while time.monotonic() - started < args.seconds:
                now_ms = int(time.time() * 1000)
                for _ in range(max(1, int(args.rate / 10))):
                    soak.shopper_event(rng.choice(shoppers), now_ms)
                roll = rng.random()
                if roll < 0.10:
                    soak.consent(rng.choice(shoppers), now_ms)
                elif roll < 0.13:
                    soak.poison()
                elif roll < 0.18:
                    soak.far_future(now_ms)
                elif roll < 0.25:
                    soak.forged_link(rng.choice(shoppers), now_ms)
                elif roll < 0.30:
                    soak.erased_customer(now_ms)
                elif roll < 0.33:
                    half_sent_requests(flow.metrics_port, 20)
                    soak.sent["half_sent_http"] += 20
                elif roll < 0.35:
                    killed_redis += drop_redis_connections(client, 5)
                if time.monotonic() >= next_restart:
                    samples = patient_scrape(flow.metrics_url)
                    metrics.append(total(samples, "insession_duplicate_events_total"))
                    if rng.random() < 0.5:
                        flow.stop()  # SIGINT/SIGTERM: a clean stop
                    else:
                        flow.kill()  # a crash
                    restarts += 1
                    flow.start(*recovery, from_beginning=False)
                    next_restart = time.monotonic() + rng.uniform(15, 30)
                if not flow.alive():
                    crashes += 1
                    flow.start(*recovery, from_beginning=False)
                time.sleep(0.1)
            producer.flush(60)
            time.sleep(5)  # let the flow read the last messages
            if not flow.alive():
                crashes += 1
            samples = patient_scrape(flow.metrics_url)
            metrics.append(total(samples, "insession_duplicate_events_total"))
            exit_code = None
        finally:
            flow.stop()
            exit_code = flow.process.returncode if flow.process is not None else None
        got = counted(client, settings.redis_prefix, shoppers)
        letters, letters_again = dead_letters(settings)
    exact = sum(1 for s in shoppers if got.get(s) == soak.distinct[s])
    print(f"soak: {args.seconds:.0f} s, seed {args.seed}, {restarts} restarts (clean and kill -9)")
    print("sent:", dict(sorted(soak.sent.items())))
    print(
        f"tracked shoppers: {exact} of {len(shoppers)} hold exactly their distinct events "
        f"({sum(got.values()):,} counted, {sum(soak.distinct.values()):,} distinct sent)"
    )
    print(
        "dead letters by reason (each source message once):",
        dict(sorted(letters.items())),
        f"(+{letters_again} sent again after a resume)",
    )
    refused = soak.sent["poison_junk"] + soak.sent["poison_json"] + soak.sent["far_future"]
    print(
        f"refused as sent (poison + far future): {refused}; dead-lettered for those reasons: "
        f"{letters['invalid_json'] + letters['unknown_type'] + letters['event_time_ahead']}"
    )
    print(f"duplicates dropped (metric, per process life): {metrics}")
    print(f"redis connections dropped: {killed_redis}; last exit code: {exit_code}")
    print(
        f"metrics scrapes refused while half-sent requests held the server: {len(REFUSED_SCRAPES)}"
    )
    print(f"crashes: {crashes}")
    client.close()
    delete_topics(settings.kafka_client(), settings.topics.values())
    delete_prefixed(settings.redis_url, settings.redis_prefix)
    sys.exit(1 if crashes else 0)


if __name__ == "__main__":
    main()
