"""Scale-out: one recording split into N files by its Kafka key, replayed with 1 and with N
processes, runs taking turns in this one run; prints events/s, the ratio, and whether the
offers are the same.

Run (Kafka and Redis up for `--kafka`: `insession services up`):

    .venv/bin/python bench/scaleout_bench.py [--customers 4000] [--days 28] [--rounds 2]
    .venv/bin/python bench/scaleout_bench.py --kafka [--partitions 4]

Each replay is `insession replay FILES --processes P --summary-json` in a fresh process; the
figure is the whole command's wall time (interpreter start, every process, the final merge),
so that one and several processes are timed alike. The recording is split by
`Event.input_key`, as a storefront keys its events; the offers of 1 and N processes are
compared byte for byte (with recommendations off as well, since the item knowledge each
process learns from its own shoppers differs from one process's: docs/scaling.md).

`--kafka`: topic to topic instead. The recording goes once to input topics of `--partitions`
partitions (keyed the same way), and `insession run --from-beginning --no-tail --processes P`
reads it all, mirroring to Redis, each run with a consumer group and output topics of its own.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import orjson
from insession.schemas.codec import decode
from insession.schemas.events import STREAM_OF, Event


def split_by_key(lines: list[bytes], parts: int, folder: Path) -> list[Path]:
    """The recording as `parts` files, each message where its Kafka key would partition it."""
    shards: list[list[bytes]] = [[] for _ in range(parts)]
    for line in lines:
        event = decode(line)
        key = event.input_key() if isinstance(event, Event) else None
        shards[zlib.crc32((key or "").encode()) % parts].append(line)
    paths = []
    for n, shard in enumerate(shards):
        path = folder / f"part{n}.jsonl.gz"
        with gzip.open(path, "wb", compresslevel=1) as out:
            out.write(b"\n".join(shard) + b"\n")
        paths.append(path)
    return paths


def replay(files: list[Path], processes: int, out: Path, env: dict[str, str]) -> dict:
    summary = out / "summary.json"
    command = [sys.executable, "-m", "insession.cli", "replay", *map(str, files)]
    command += ["--processes", str(processes), "--out", str(out), "--summary-json", str(summary)]
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    result = orjson.loads(summary.read_bytes())
    result["wall_s"] = time.perf_counter() - started
    result["offers_bytes"] = (out / "offers.jsonl").read_bytes()
    return result


def kafka_rates(lines: list[bytes], args: argparse.Namespace) -> None:
    """Topic to topic: the same input topics, read to their end by 1 and by N processes."""
    import uuid

    from confluent_kafka import Producer

    from insession.connectors.kafka_admin import create_topics, delete_topics
    from insession.connectors.redis_client import delete_prefixed
    from insession.settings import Settings

    base = Settings.load()
    tag = uuid.uuid4().hex[:8]
    inputs = dataclasses.replace(
        base,
        topics={s: f"scale.{tag}.{s}" for s in base.topics},
        partitions=args.partitions,
    )
    create_topics(inputs)
    made = [inputs]
    try:
        producer = Producer({**base.kafka_client(), "linger.ms": 20})
        for line in lines:
            event = decode(line)
            if isinstance(event, Event):
                key = (event.input_key() or "").encode()
                producer.produce(inputs.topic(STREAM_OF[event.type]), line, key=key)
                producer.poll(0)
        producer.flush(120)
        for policy in args.policies.split(","):
            walls: dict[int, list[float]] = {1: [], args.processes: []}
            for round_ in range(args.rounds):
                for processes in walls:
                    run = f"{tag}.{policy}.{processes}.{round_}"
                    outputs = {s: f"scale.{run}.{s}" for s in ("offers", "dead_letter")}
                    settings = dataclasses.replace(
                        inputs, topics={**inputs.topics, **outputs}, redis_prefix=f"scale:{run}:"
                    )
                    create_topics(settings)
                    made.append(settings)
                    env = {
                        **os.environ,
                        "INSESSION_POLICY": policy,
                        "INSESSION_CONSUMER_GROUP": f"scale.{run}",
                        "INSESSION_REDIS_PREFIX": settings.redis_prefix,
                        **{f"INSESSION_TOPIC_{s.upper()}": t for s, t in settings.topics.items()},
                    }
                    command = [sys.executable, "-m", "insession.cli", "run", "--from-beginning"]
                    command += ["--no-tail", "--processes", str(processes), "--metrics-port", "0"]
                    started = time.perf_counter()
                    subprocess.run(command, env=env, check=True, stderr=subprocess.DEVNULL)
                    walls[processes].append(time.perf_counter() - started)
            one, many = (statistics.median(walls[p]) for p in walls)
            print(
                f"[{policy}] Kafka topic->topic, {args.partitions} partitions, Redis on: "
                f"1 process {len(lines) / one:,.0f} events/s, {args.processes} processes "
                f"{len(lines) / many:,.0f} events/s: {one / many:.2f}x (median wall of "
                f"{args.rounds}: {one:.2f} s vs {many:.2f} s, start-up included)"
            )
    finally:
        for settings in made:
            delete_topics(base.kafka_client(), settings.topics.values())
            delete_prefixed(settings.redis_url, settings.redis_prefix)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=4000)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--policies", default="baseline,thompson")
    parser.add_argument("--kafka", action="store_true", help="topic to topic (see above)")
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        recording = root / "sim.jsonl.gz"
        subprocess.run(
            [sys.executable, "-m", "insession.cli", "simulate", "--customers",
             str(args.customers), "--days", str(args.days), "-o", str(recording)],
            check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        with gzip.open(recording) as stored:
            lines = stored.read().splitlines()
        if args.kafka:
            kafka_rates(lines, args)
            return
        files = split_by_key(lines, args.processes, root)
        print(f"{len(lines):,} events, split by key into {args.processes} files")
        for policy in args.policies.split(","):
            for recommendations in ("true", "false"):
                env = {
                    **os.environ,
                    "INSESSION_POLICY": policy,
                    "INSESSION_RECOMMENDATIONS": recommendations,
                }
                walls: dict[int, list[float]] = {1: [], args.processes: []}
                offers: dict[int, bytes] = {}
                for _ in range(args.rounds):
                    for processes in walls:
                        run = replay(files, processes, root / f"out{processes}", env)
                        walls[processes].append(run["wall_s"])
                        offers[processes] = run["offers_bytes"]
                one, many = (statistics.median(walls[p]) for p in walls)
                same = offers[1] == offers[args.processes]
                print(
                    f"[{policy}, recommendations {recommendations}] 1 process "
                    f"{len(lines) / one:,.0f} events/s, {args.processes} processes "
                    f"{len(lines) / many:,.0f} events/s: {one / many:.2f}x "
                    f"(median wall of {args.rounds}: {one:.2f} s vs {many:.2f} s); "
                    f"offers {'the same' if same else 'differ'}"
                )


if __name__ == "__main__":
    main()
