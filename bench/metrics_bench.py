"""What the metrics facade costs per call, beside the same loop without metrics.

Run: `.venv/bin/python bench/metrics_bench.py [--calls N]`. Each line times N calls of one
`FlowMetrics` method with realistic, varied label values (taken in turn from a prepared list),
best of 3, and prints ns per call, and ns above the baseline: the same loop calling a do-nothing
function with the same arguments. The last lines are what one event costs a flow that counts
it, times its decision and occasionally makes an offer, against the bare loop.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from insession.schemas.events import INPUT_STREAMS

from insession.ops.metrics import FlowMetrics

CHANNELS = ("web", "app", "whatsapp", "instagram", "tiktok", "store")
REASONS = ("offer", "no_signal", "session_limit", "too_soon", "nothing_eligible")


def per_call_ns(fn: Callable[..., Any], args: Sequence[tuple[Any, ...]], repeats: int = 3) -> float:
    """Best-of-`repeats` nanoseconds per `fn(*a)` over `args`."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter_ns()
        for a in args:
            fn(*a)
        best = min(best, time.perf_counter_ns() - started)
    return best / len(args)


def nothing(*_: Any) -> None:
    """The baseline: a call with the same arguments that does nothing."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=500_000)
    calls = parser.parse_args().calls
    rng = random.Random(3)
    metrics = FlowMetrics()
    now = 1_764_000_000_000
    cases: list[tuple[str, Callable[..., Any], list[tuple[Any, ...]]]] = [
        (
            "event_in(stream, channel)",
            metrics.event_in,
            [(rng.choice(INPUT_STREAMS), rng.choice(CHANNELS)) for _ in range(calls)],
        ),
        ("dead_letter(reason)", metrics.dead_letter, [("invalid_json",)] * calls),
        (
            "decision(reason, seconds)",
            metrics.decision,
            [(rng.choice(REASONS), rng.lognormvariate(-10, 1)) for _ in range(calls)],
        ),
        (
            "offer(kind, group, t_event, t_now)",
            metrics.offer,
            [
                (rng.choice(("discount", "help")), rng.choice(("policy", "control")), now, now + 9)
                for _ in range(calls)
            ],
        ),
        (
            "outcome(group, outcome)",
            metrics.outcome,
            [(rng.choice(("policy", "control")), "accepted") for _ in range(calls)],
        ),
        (
            "consumer_lag(topic, partition, lag)",
            metrics.consumer_lag,
            [("insession.cart", rng.randrange(8), rng.randrange(1000)) for _ in range(calls)],
        ),
        ("redis_batch(writes, ok)", metrics.redis_batch, [(20, True)] * calls),
        ("beat()", metrics.beat, [()] * calls),
    ]
    print(f"{calls:,} calls each, best of 3, ns per call")
    print(f"{'call':<38}{'ns':>8}{'above baseline':>16}")
    for name, method, args in cases:
        baseline = per_call_ns(nothing, args)
        cost = per_call_ns(method, args)
        print(f"{name:<38}{cost:>8.0f}{cost - baseline:>16.0f}")

    events = [
        (rng.choice(INPUT_STREAMS), rng.choice(CHANNELS), rng.choice(REASONS), i % 10 == 0)
        for i in range(calls)
    ]

    def bare(stream: str, channel: str, reason: str, offered: bool) -> None:
        started = time.perf_counter()
        if offered:
            pass
        time.perf_counter() - started

    def counted(stream: str, channel: str, reason: str, offered: bool) -> None:
        started = time.perf_counter()
        metrics.event_in(stream, channel)
        if offered:
            metrics.offer("discount", "policy", now, now + 9)
        metrics.decision(reason, time.perf_counter() - started)

    without, with_metrics = per_call_ns(bare, events), per_call_ns(counted, events)
    print(f"\none event (count, time the decision, 1 in 10 offers) over {calls:,} events:")
    print(f"  loop without metrics {without:8.0f} ns/event")
    print(
        f"  loop with metrics    {with_metrics:8.0f} ns/event  (+{with_metrics - without:.0f} ns)"
    )


if __name__ == "__main__":
    main()
