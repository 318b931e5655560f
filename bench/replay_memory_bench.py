"""Memory of replays as the recording grows: people seen, people left in memory at the end,
and the peak resident memory, with idle people leaving memory and without.

Run (no services needed):

    .venv/bin/python bench/replay_memory_bench.py [--per-day 200] [--days 7,14,28,56]

For each period it simulates `--per-day` new customers a day (`insession simulate`, mean
1.3 sessions each: most shoppers visit once, most anonymous sessions never log in), then
replays the recording in fresh processes twice, in turns: with people leaving memory after
`--idle-days` idle (event time) and with eviction off (`INSESSION_IDLE_EVICTION_S=0`). It
prints, per run, the replay summary's `people_seen`, `people_in_memory_at_end`,
`max_rss_bytes` and events/s, then how much the peak grew per person seen from the shortest
period to the longest, with eviction and without.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import orjson

MB = 1024 * 1024


@dataclass(frozen=True)
class Run:
    days: int
    evicting: bool
    events: int
    events_per_s: float
    people_seen: int
    people_in_memory: int
    max_rss_mb: float


def _cli(*args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(
        [sys.executable, "-m", "insession.cli", *args],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def _replay(recording: Path, work: Path, days: int, idle_s: int) -> Run:
    summary = work / f"summary-{days}-{idle_s}.json"
    env = {**os.environ, "INSESSION_IDLE_EVICTION_S": str(idle_s)}
    _cli(
        "replay",
        str(recording),
        "--out",
        str(work / f"out-{days}-{idle_s}"),
        "--summary-json",
        str(summary),
        env=env,
    )
    report = orjson.loads(summary.read_bytes())
    return Run(
        days,
        idle_s > 0,
        report["events"],
        report["events_per_s"],
        report["people_seen"],
        report["people_in_memory_at_end"],
        report["max_rss_bytes"] / MB,
    )


def _growth_kb(runs: list[Run]) -> float:
    """Peak memory added per person seen, from the shortest period to the longest."""
    first, last = runs[0], runs[-1]
    people = last.people_seen - first.people_seen
    return (last.max_rss_mb - first.max_rss_mb) * 1024 / people if people else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-day", type=int, default=200, help="new customers a day")
    parser.add_argument("--days", default="7,14,28,56", help="periods, comma-separated")
    parser.add_argument("--idle-days", type=float, default=3.0)
    args = parser.parse_args()
    periods = sorted(int(d) for d in args.days.split(","))
    idle_s = int(args.idle_days * 86400)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="replay-memory-") as tmp:
        work = Path(tmp)
        for days in periods:
            recording = work / f"sim-{days}.jsonl.gz"
            customers = str(args.per_day * days)
            _cli(
                "simulate",
                "--customers",
                customers,
                "--sessions",
                "1.3",
                "--days",
                str(days),
                "-o",
                str(recording),
            )
            for idle in (idle_s, 0):
                runs.append(_replay(recording, work, days, idle))
                run = runs[-1]
                print(
                    f"{days:>3} days  {'evicting' if run.evicting else 'keeping '}  "
                    f"{run.events:>8,} events  {run.events_per_s:>7,.0f}/s  "
                    f"seen {run.people_seen:>7,}  in memory at end {run.people_in_memory:>7,}  "
                    f"max RSS {run.max_rss_mb:>6.0f} MB",
                    flush=True,
                )
    evicting = [r for r in runs if r.evicting]
    keeping = [r for r in runs if not r.evicting]
    print(
        f"peak RSS added per person seen, {periods[0]} to {periods[-1]} days: "
        f"{_growth_kb(evicting):.1f} KB evicting, {_growth_kb(keeping):.1f} KB keeping "
        f"({_growth_kb(evicting) / max(_growth_kb(keeping), 1e-9):.2f}x)"
    )


if __name__ == "__main__":
    main()
