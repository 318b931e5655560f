"""Memory of `insession run` over a simulated month where most shoppers visit once, with and
without idle eviction, on the real Kafka and Redis.

Run (Kafka and Redis up: `insession services up`):

    .venv/bin/python bench/memory_bench.py [--customers 6000] [--sessions 1.3] [--days 28]

Simulates the month (`insession simulate`: most customers have one session, most anonymous
sessions never log in), writes it to topics of its own, then runs `insession run
--from-beginning --no-tail` over them twice in fresh processes: with people leaving memory
after `--idle-days` idle (event time) and with eviction off. While each run reads the backlog
it samples the process's resident memory every half second. Prints, per run: events,
seconds, the RSS curve at tenths of the run, the peak, and the dormant records left in Redis;
then the ratio of the two peaks and of their growth over the first sample. Topics and keys are
deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

import redis

from insession.connectors.kafka_admin import create_topics, delete_topics
from insession.connectors.redis_client import delete_prefixed
from insession.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Run:
    label: str
    seconds: float
    rss_mb: list[float]
    dormant: int


def _env(settings: Settings, prefix: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "INSESSION_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "INSESSION_REDIS_URL": settings.redis_url,
        "INSESSION_REDIS_PREFIX": prefix,
        **{f"INSESSION_TOPIC_{s.upper()}": t for s, t in settings.topics.items()},
        **extra,
    }


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _run(settings: Settings, label: str, idle_s: int, client: redis.Redis) -> Run:
    prefix = f"bench:memory:{uuid.uuid4().hex[:8]}:"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    idle = str(idle_s)
    env = _env(settings, prefix, INSESSION_IDLE_EVICTION_S=idle, INSESSION_METRICS_PORT=str(port))
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "insession.cli", "run", "--from-beginning", "--no-tail"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    samples: list[float] = []
    while process.poll() is None:
        rss = _rss_mb(process.pid)
        if rss is not None:
            samples.append(rss)
        time.sleep(0.5)
    seconds = time.monotonic() - started
    if process.returncode != 0:
        raise SystemExit(
            f"{label}: insession run failed:\n{process.stderr.read().decode()[-2000:]}"
        )
    dormant = sum(1 for _ in client.scan_iter(match=f"{prefix}dormant:*", count=1000))
    delete_prefixed(settings.redis_url, prefix)
    return Run(label, seconds, samples, dormant)


def _curve(samples: list[float]) -> str:
    if not samples:
        return "(no samples)"
    tenths = [samples[min(len(samples) - 1, len(samples) * k // 10)] for k in range(11)]
    return " ".join(f"{mb:.0f}" for mb in tenths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=6000)
    parser.add_argument("--sessions", type=float, default=1.3)
    parser.add_argument("--days", type=float, default=28.0)
    parser.add_argument("--idle-days", type=float, default=3.0)
    args = parser.parse_args()

    base = Settings.load()
    tag = uuid.uuid4().hex[:8]
    topics = {stream: f"bench.memory.{tag}.{stream}" for stream in base.topics}
    settings = replace(base, topics=topics, partitions=2)
    create_topics(settings)
    client = redis.Redis.from_url(settings.redis_url)
    try:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "insession.cli",
                "simulate",
                "--customers",
                str(args.customers),
                "--sessions",
                str(args.sessions),
                "--days",
                str(args.days),
                "--kafka",
                "--rate",
                "0",
            ],
            env=_env(settings, "unused:"),
            check=True,
        )
        runs = [
            _run(
                settings,
                f"idle eviction after {args.idle_days:g} days",
                int(args.idle_days * 86400),
                client,
            ),
            _run(settings, "no eviction", 0, client),
        ]
    finally:
        delete_topics(settings.kafka_client(), topics.values())
    print(
        f"\n{args.customers:,} customers, {args.sessions} sessions on average, {args.days:g} days"
    )
    print("resident memory (MB) at tenths of the run, peak, dormant records in Redis:")
    for run in runs:
        print(
            f"  {run.label:<28} {run.seconds:6.1f} s  [{_curve(run.rss_mb)}]  "
            f"peak {max(run.rss_mb):.0f} MB  dormant {run.dormant:,}"
        )
    evicting, keeping = runs
    grow = [max(r.rss_mb) - r.rss_mb[0] for r in runs]
    print(
        f"peak ratio {max(evicting.rss_mb) / max(keeping.rss_mb):.2f}x; growth over the first "
        f"sample {grow[0]:.0f} MB vs {grow[1]:.0f} MB ({grow[0] / max(grow[1], 1e-9):.2f}x)"
    )


if __name__ == "__main__":
    main()
