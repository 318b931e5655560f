"""The `insession simulate` command: its options, and writing or producing the traffic."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from insession.schemas.events import Event
from insession.schemas.signatures import signed_links
from insession.settings import Settings
from insession.simulator.config import DEFAULT_START_MS, SimulationConfig, parse_start
from insession.simulator.kafka import ProduceStats, produce
from insession.simulator.messages import encode_item, write_lines
from insession.simulator.traffic import simulate

log = logging.getLogger(__name__)


def _start_arg(text: str) -> int:
    try:
        return parse_start(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date or epoch ms") from None


def config_from_args(args: argparse.Namespace) -> SimulationConfig:
    """The simulation the command line asks for."""
    return SimulationConfig(
        seed=args.seed,
        customers=args.customers,
        sessions_per_customer=args.sessions,
        max_events=args.max_events,
        start_ms=args.start,
        days=args.days,
        malformed_rate=args.malformed_rate,
    )


def _print_progress(stats: ProduceStats) -> None:
    log.info("%s sent in %.0f s (%s/s)", f"{stats.sent:,}", stats.seconds, f"{stats.rate:,.0f}")


def run_simulate(args: argparse.Namespace, settings: Settings) -> int:
    """`insession simulate`: write a recording, produce to Kafka, or print JSON lines."""
    try:
        config = config_from_args(args)
    except ValueError as bad:
        print(f"insession simulate: {bad}", file=sys.stderr)
        return 2
    if args.closed_loop:
        return _closed_loop(args, config, settings)

    def traffic() -> Iterable[Event | bytes]:
        # Signed as the shop's backend signs its identity links, when the engine asks it to.
        return signed_links(simulate(config), settings.identity_secret)

    if args.output:
        count = write_lines(Path(args.output), traffic())
        print(f"simulate: {count:,} messages -> {args.output}")
    if args.kafka:
        stats = produce(traffic(), settings, args.rate or None, progress=_print_progress)
        streams = ", ".join(f"{s} {n:,}" for s, n in sorted(stats.per_stream.items()))
        print(
            f"simulate: {stats.sent:,} messages to Kafka in {stats.seconds:.1f} s "
            f"({stats.rate:,.0f}/s; {streams}); {stats.failed} failed"
        )
        if stats.failed:
            return 1
    if not args.output and not args.kafka:
        return _to_stdout(traffic())
    return 0


def _closed_loop(args: argparse.Namespace, config: SimulationConfig, settings: Settings) -> int:
    """Shoppers answer the engine's offers; print how each policy learns."""
    from insession.evaluation.closed_loop import compare_policies, print_learning_curves
    from insession.models.policy import POLICIES
    from insession.runner.engine import load_engine

    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    unknown = sorted(set(policies) - set(POLICIES))
    if unknown or not policies:
        print(
            f"insession simulate: --policies {args.policies!r}: choose from {', '.join(POLICIES)}",
            file=sys.stderr,
        )
        return 2

    def load(policy: str):  # type: ignore[no-untyped-def]
        return load_engine(dataclasses.replace(settings, policy=policy, model_snapshot=""))

    truth = {"truth_seed": args.truth_seed, "truth_strength": args.truth_strength}
    if args.compare_recommendations:
        from insession.evaluation.closed_loop import compare_recommenders, print_recommender_runs

        def with_recs(recs):  # type: ignore[no-untyped-def]
            return load(policies[0]).with_recs(recs)  # a fresh policy for each run

        print_recommender_runs(compare_recommenders(config, with_recs, **truth), sys.stdout)
        return 0
    runs = compare_policies(config, policies, load, **truth)
    print_learning_curves(runs, sys.stdout)
    return 0


def _to_stdout(items: Iterable[Event | bytes]) -> int:
    """JSON lines on stdout; a closed pipe (`| head`) is a normal way to stop."""
    out = sys.stdout.buffer
    try:
        for item in items:
            out.write(encode_item(item) + b"\n")
        out.flush()
    except BrokenPipeError:
        # As the Python docs advise: point stdout at devnull so the exit flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def add_simulate_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register `simulate` on the `insession` sub-commands; its handler is `run_simulate`."""
    parser = subparsers.add_parser(
        "simulate",
        help="generate realistic seeded traffic (recording, Kafka or stdout)",
        description="Generate realistic multi-channel storefront traffic from a seed: the "
        "same options always give the same events. Without -o or --kafka, JSON lines go "
        "to stdout.",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--customers", type=int, default=1000, help="customers (default 1000)")
    parser.add_argument(
        "--sessions", type=float, default=4.0, help="mean sessions per customer (default 4)"
    )
    parser.add_argument("--days", type=float, default=7.0, help="period simulated (default 7)")
    parser.add_argument(
        "--start",
        type=_start_arg,
        default=DEFAULT_START_MS,
        help="start of the period: ISO date/time (UTC) or epoch ms (default 2025-03-03)",
    )
    parser.add_argument("--max-events", type=int, help="stop after this many messages")
    parser.add_argument(
        "--malformed-rate",
        type=float,
        default=0.0,
        help="share of click-stream messages sent malformed, for dead-letter demos",
    )
    parser.add_argument("-o", "--output", help="write a recording (.jsonl or .jsonl.gz)")
    parser.add_argument("--kafka", action="store_true", help="produce to the streams' Kafka topics")
    parser.add_argument(
        "--rate",
        type=float,
        default=1000.0,
        metavar="EVENTS_PER_S",
        help="--kafka: messages per second (default 1000; 0 = as fast as possible)",
    )
    loop = parser.add_argument_group("closed loop: shoppers answer offers; the engine learns")
    loop.add_argument(
        "--closed-loop",
        action="store_true",
        help="run the engine on the simulation, answer its offers from hidden true rates, "
        "and print each policy's learning curve against an oracle and the best fixed order",
    )
    loop.add_argument(
        "--compare-recommendations",
        action="store_true",
        help="with --closed-loop: product offers filled by the learned item knowledge vs by "
        "popularity alone, same shoppers and truth (the first of --policies decides)",
    )
    loop.add_argument(
        "--policies",
        default="thompson,baseline",
        help="policies to compare, comma-separated (default thompson,baseline)",
    )
    loop.add_argument("--truth-seed", type=int, default=0, help="seed of the hidden true rates")
    loop.add_argument(
        "--truth-strength",
        type=float,
        default=1.5,
        help="how far context moves the true rates (log-odds scale, default 1.5)",
    )
    parser.set_defaults(run=run_simulate)
    return parser
