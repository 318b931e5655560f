"""Throughput and latency of the whole personalisation flow, one worker.

Run (Kafka and Redis up: `insession services up`):

    .venv/bin/python bench/flow_bench.py [--events N] [--rate 5000] [--seconds 20]

Prints:
1. replay, file to file: events/s through the Bytewax flow, beside the same decode + stitch +
   decide loop in plain Python in the same process (the ceiling the flow's wiring costs from);
2. Kafka, topic to topic: events/s with the input topics pre-filled, flow reading to the end;
3. Kafka latency at a fixed offered load: p50/p90/p99 from producing an event to consuming
   the offer it triggered, with `insession run` in its own process.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

from bytewax.run import cli_main
from confluent_kafka import Consumer, Producer
from insession.models.sentiment import text_scorer
from insession.operators.customer_step import apply_routed
from insession.operators.identity import stitch_identity
from insession.operators.routing import Inbound, Routed, decode_inbound
from insession.schemas.codec import encode
from insession.schemas.events import STREAM_OF, Event, Search

from insession.connectors.kafka_admin import create_topics, delete_topics
from insession.connectors.recording import read_lines, write_recording
from insession.connectors.redis_client import delete_prefixed
from insession.ops.metrics import FlowMetrics
from insession.runner.engine import load_engine
from insession.runner.live import kafka_flow
from insession.runner.replay import replay_flow
from insession.settings import Settings
from insession.simulator import SimulationConfig, simulate


def plain_python_rate(lines: list[bytes], settings: Settings) -> float:
    """The flow's steps called in a loop, no Bytewax: what the logic itself costs."""
    engine = load_engine(settings)
    sentiment = text_scorer(settings.sentiment)
    devices: dict = {}
    people: dict = {}
    started = time.perf_counter()
    for offset, raw in enumerate(lines):
        routed = decode_inbound(
            Inbound("bench", 0, offset, raw), settings.max_message_bytes, sentiment=sentiment
        )
        if not isinstance(routed, Routed):
            continue
        device = routed.event.anonymous_id
        if device is not None:
            devices[device], out = stitch_identity(devices.get(device), routed)
        else:
            routed.person = routed.event.customer_id or ""
            out = [routed]
        for item in out:
            people[item.person], _ = apply_routed(engine, people.get(item.person), item)
    return len(lines) / (time.perf_counter() - started)


def bench_replay(recording: Path, settings: Settings) -> float:
    """Events/s of the replay (printed beside the plain loop); returned for policy ratios."""
    lines = [line.raw for line in read_lines(recording)]
    ceiling = plain_python_rate(lines, settings)
    with tempfile.TemporaryDirectory() as out:
        result = replay_flow([recording], Path(out), settings, workers=1)
    rate = len(lines) / result.seconds
    learned = sum(result.stats.learning.values())
    print(
        f"[{settings.policy}] replay file->file, 1 worker: {rate:>10,.0f} events/s "
        f"({len(lines):,} events, {result.offers:,} offers, {learned:,} decisions learned from)"
    )
    print(
        f"[{settings.policy}] same logic, plain Python loop: {ceiling:>8,.0f} events/s "
        f"(flow = {rate / ceiling:.2f}x the loop)"
    )
    return rate


def _bench_settings(base: Settings) -> Settings:
    tag = uuid.uuid4().hex[:8]
    topics = {stream: f"bench.{tag}.{stream}" for stream in base.topics}
    return dataclasses.replace(base, topics=topics, partitions=1, redis_prefix=f"bench:{tag}:")


def _clean_up(settings: Settings) -> None:
    """The run's topics and Redis keys go (a latency run leaves a million keys otherwise)."""
    delete_topics(settings.kafka_client(), settings.topics.values())
    delete_prefixed(settings.redis_url, settings.redis_prefix)


def _produce(settings: Settings, events: list[Event]) -> None:
    producer = Producer({**settings.kafka_client(), "linger.ms": 5})
    for event in events:
        producer.produce(
            settings.topic(STREAM_OF[event.type]),
            encode(event),
            key=(event.input_key() or "").encode(),
        )
        producer.poll(0)
    producer.flush(60)


def bench_kafka_throughput(
    events: list[Event], base: Settings, *, metrics: FlowMetrics | None = None
) -> float:
    settings = _bench_settings(base)
    create_topics(settings)
    try:
        _produce(settings, events)
        # One worker in one process, as `insession run` is: nothing is packed to cross.
        flow = kafka_flow(
            settings, from_beginning=True, tail=False, metrics=metrics, one_worker=True
        )
        started = time.perf_counter()
        cli_main(flow, epoch_interval=timedelta(milliseconds=200))
        seconds = time.perf_counter() - started
        print(
            f"[{settings.policy}] Kafka topic->topic, 1 worker: {len(events) / seconds:>9,.0f} "
            f"events/s ({len(events):,} events in {seconds:.2f} s, Redis mirror and model on, "
            f"metrics {'on' if metrics is not None else 'off'})"
        )
        return len(events) / seconds
    finally:
        _clean_up(settings)


def bench_metrics_overhead(events: list[Event], settings: Settings, rounds: int = 3) -> None:
    """Kafka throughput with and without metrics, alternated in this process; best of each."""
    without, with_metrics = [], []
    for _ in range(rounds):
        without.append(bench_kafka_throughput(events, settings))
        with_metrics.append(bench_kafka_throughput(events, settings, metrics=FlowMetrics()))
    best_off, best_on = max(without), max(with_metrics)
    print(
        f"metrics overhead: {best_on:,.0f} events/s with, {best_off:,.0f} without "
        f"(best of {rounds} each, alternated): {best_on / best_off:.3f}x"
    )


def _latency_traffic(rate: int, seconds: float) -> list[tuple[Search, bool]]:
    """Pairs of failed searches by fresh customers: the second triggers a help offer."""
    traffic = []
    for n in range(int(rate * seconds) // 2):
        for step in range(2):
            search = Search(
                event_id=f"s{n}-{step}",
                event_time=1_764_000_000_000 + n * 10 + step,
                channel="web",
                customer_id=f"lat-{n}",
                query="delivery",
                result_count=0,
            )
            traffic.append((search, step == 1))
    return traffic


def bench_latency(
    base: Settings, rate: int, seconds: float, epoch_ms: float, run_args: list[str]
) -> None:
    settings = _bench_settings(base)
    create_topics(settings)
    env = {
        **os.environ,
        "INSESSION_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "INSESSION_REDIS_PREFIX": settings.redis_prefix,
    }
    env.update({f"INSESSION_TOPIC_{s.upper()}": t for s, t in settings.topics.items()})
    flow = subprocess.Popen(
        [sys.executable, "-m", "insession.cli", "run", "--epoch-ms", str(epoch_ms), *run_args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    consumer = Consumer(
        {
            **settings.kafka_client(),
            "group.id": "bench",
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 5,
        }
    )
    consumer.subscribe([settings.topic("offers")])
    received: dict[str, float] = {}
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set():
            message = consumer.poll(0.05)
            if message is not None and not message.error() and message.key():
                received.setdefault(message.key().decode(), time.perf_counter())

    reader = threading.Thread(target=consume)
    reader.start()
    try:
        time.sleep(4)  # let the flow process start and assign its partitions
        producer = Producer({**settings.kafka_client(), "linger.ms": 1})
        sent: dict[str, float] = {}
        traffic = [
            (encode(search), (search.customer_id or "").encode(), triggers)
            for search, triggers in _latency_traffic(rate, seconds)
        ]
        # This process's own collector must not pause it while it stamps sends and receipts:
        # a full collection of the traffic took 50-150 ms, which showed as the flow's p99.
        gc.collect()
        gc.freeze()
        gc.disable()
        started = time.perf_counter()
        for i, (raw, key, triggers) in enumerate(traffic):
            due = started + i / rate
            while (now := time.perf_counter()) < due:
                time.sleep(min(0.001, due - now))
            producer.produce(settings.topic("clickstream"), raw, key=key)
            producer.poll(0)
            if triggers:
                sent[key.decode()] = time.perf_counter()
        producer.flush(30)
        achieved = len(traffic) / (time.perf_counter() - started)
        deadline = time.monotonic() + 30
        while len(received) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        gc.enable()
        stop.set()
        reader.join()
        consumer.close()
        flow.send_signal(signal.SIGINT)
        flow.wait(30)
        _clean_up(settings)
    latencies = sorted((received[k] - sent[k]) * 1000 for k in sent if k in received)
    if not latencies:
        print("latency: no offers came back")
        return
    q = statistics.quantiles(latencies, n=100)
    print(
        f"Kafka latency at {achieved:,.0f} events/s offered ({len(latencies):,} of {len(sent):,} "
        f"offers back): p50 {q[49]:.1f} ms, p90 {q[89]:.1f} ms, p99 {q[98]:.1f} ms, "
        f"max {latencies[-1]:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--epoch-ms", type=float, default=10)
    parser.add_argument(
        "--run-arg",
        action="append",
        default=[],
        help="extra argument for `insession run` (repeatable)",
    )
    parser.add_argument(
        "--skip", nargs="*", default=(), choices=("replay", "kafka", "metrics", "latency")
    )
    parser.add_argument(
        "--policies",
        default="baseline,thompson",
        help="policies to run replay and Kafka throughput with; the first is the baseline of "
        "the printed ratios (default baseline,thompson: learning off, then on)",
    )
    args = parser.parse_args()
    settings = Settings.load()
    policies = args.policies.split(",")
    events = [
        e for e in simulate(SimulationConfig(customers=args.customers)) if isinstance(e, Event)
    ]
    rates: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        recording = Path(folder) / "sim.jsonl"
        write_recording(recording, events)
        if "replay" not in args.skip:
            for policy in policies:
                policy_settings = dataclasses.replace(settings, policy=policy)
                rates.setdefault(policy, []).append(bench_replay(recording, policy_settings))
    if "kafka" not in args.skip:
        for policy in policies:
            policy_settings = dataclasses.replace(settings, policy=policy)
            rates.setdefault(policy, []).append(bench_kafka_throughput(events, policy_settings))
    if "metrics" not in args.skip:
        bench_metrics_overhead(events, settings)
    first = policies[0]
    for policy in policies[1:] if rates else ():
        ratios = ", ".join(
            f"{r / b:.2f}x" for r, b in zip(rates[policy], rates[first], strict=True)
        )
        print(f"{policy} / {first} throughput (replay, Kafka as run): {ratios}")
    if "latency" not in args.skip:
        bench_latency(settings, args.rate, args.seconds, args.epoch_ms, args.run_arg)


if __name__ == "__main__":
    main()
