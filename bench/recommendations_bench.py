"""Whole-flow events/s with recommendations on and off, in the same run.

Run: `.venv/bin/python bench/recommendations_bench.py [--rounds 2] [--customers 2000]
[--kafka]` (`--kafka` needs `insession services up`).

For each recording (a simulated shop of `--customers` shoppers, and the public data sets'
YOOCHOOSE sample converted as `insession replay --datasets` does), the replay flow (file to
file, one worker, baseline policy) runs with `recommendations` off and on, alternated
`--rounds` times; the best of each and their ratio are printed, with the product offers by
strategy of the last run with recommendations. `--kafka` also runs the simulated shop topic
to topic (`insession run`'s flow, reading pre-filled topics to their end, with the Redis
mirror, the offer ledger and the shared item log), the same way.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

from insession.schemas.events import Event

from insession.cli.replay import default_recordings
from insession.connectors.recording import write_recording
from insession.runner.replay import replay_flow
from insession.settings import Settings
from insession.simulator import SimulationConfig, simulate


def events_per_s(recording: Path, settings: Settings) -> tuple[float, dict[str, int]]:
    with tempfile.TemporaryDirectory() as out:
        result = replay_flow([recording], Path(out), settings, workers=1)
    return result.stats.events.total() / result.seconds, dict(result.stats.offers_by_strategy)


def compare(name: str, recording: Path, rounds: int) -> None:
    base = Settings.load()
    settings = {
        on: dataclasses.replace(base, policy="baseline", recommendations=on) for on in (False, True)
    }
    best = {False: 0.0, True: 0.0}
    strategies: dict[str, int] = {}
    for _ in range(rounds):
        for on in (False, True):
            rate, by_strategy = events_per_s(recording, settings[on])
            best[on] = max(best[on], rate)
            if on:
                strategies = by_strategy
    print(
        f"{name}: recommendations off {best[False]:>8,.0f} events/s, on {best[True]:>8,.0f} "
        f"events/s: {best[True] / best[False]:.2f}x (best of {rounds} each, alternated)"
    )
    shown = ", ".join(f"{s} {n:,}" for s, n in sorted(strategies.items(), key=lambda i: -i[1]))
    print(f"{name}: product offers by strategy: {shown}")


def compare_kafka(events: list, rounds: int) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from flow_bench import bench_kafka_throughput  # a sibling script, not a package

    base = Settings.load()
    best = {False: 0.0, True: 0.0}
    for _ in range(rounds):
        for on in (False, True):
            settings = dataclasses.replace(base, policy="baseline", recommendations=on)
            best[on] = max(best[on], bench_kafka_throughput(events, settings))
    print(
        f"Kafka topic->topic: recommendations off {best[False]:>8,.0f} events/s, on "
        f"{best[True]:>8,.0f} events/s: {best[True] / best[False]:.2f}x (best of {rounds} each)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--kafka", action="store_true", help="also topic to topic")
    args = parser.parse_args()
    shop = SimulationConfig(seed=1, customers=args.customers)
    with tempfile.TemporaryDirectory() as folder:
        simulated = Path(folder) / "simulated.jsonl.gz"
        write_recording(simulated, simulate(shop))
        compare(f"simulated shop ({args.customers:,} shoppers)", simulated, args.rounds)
    if args.kafka:
        compare_kafka([e for e in simulate(shop) if isinstance(e, Event)], args.rounds)
    yoochoose = next(p for p in default_recordings(Settings.load()) if "yoochoose" in p.name)
    compare("YOOCHOOSE sample", yoochoose, args.rounds)


if __name__ == "__main__":
    main()
