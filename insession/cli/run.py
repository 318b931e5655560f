"""`insession run`: the flow on Kafka, with metrics, recovery and a clean stop."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from insession.settings import Settings

if TYPE_CHECKING:
    from insession.ops.metrics import FlowMetrics, MetricsServer


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from bytewax.recovery import RecoveryConfig
    from bytewax.run import cli_main

    from insession.ops.metrics import FlowMetrics
    from insession.runner.engine import tune_garbage_collector
    from insession.runner.live import kafka_flow
    from insession.runner.recovery import SnapshotScrubber, prepare_recovery, scrub_in_child
    from insession.runner.stopping import stop_on_signals

    recovery_dir = args.recovery_dir if args.recovery_dir is not None else settings.recovery_dir
    metrics_port = args.metrics_port if args.metrics_port is not None else settings.metrics_port
    metrics = FlowMetrics() if metrics_port else None
    recovery = None
    scrubber = None
    epoch_ms = args.epoch_ms or settings.epoch_ms
    if recovery_dir:
        try:
            resumed = prepare_recovery(Path(recovery_dir), args.workers)
        except ValueError as bad:
            print(f"insession run: {bad}", file=sys.stderr)
            return 2
        if resumed:  # erasures whose scrub a crash cut short
            scrub_in_child(Path(recovery_dir))
        recovery = RecoveryConfig(Path(recovery_dir))
        scrubber = SnapshotScrubber(Path(recovery_dir), delay_s=max(0.5, 5 * epoch_ms / 1000))
        print(
            f"insession run: recovery in {recovery_dir} "
            f"({'resuming from it if it holds a snapshot' if resumed else 'new'})",
            file=sys.stderr,
        )
    flow = kafka_flow(
        settings,
        from_beginning=args.from_beginning,
        tail=not args.no_tail,
        mirror=not args.no_redis,
        durable=recovery is not None,
        metrics=metrics,
        scrubber=scrubber,
    )
    server = None
    if metrics is not None:
        try:
            server = _serve_run_metrics(metrics, settings, metrics_port, redis=not args.no_redis)
        except OSError as taken:
            print(f"insession run: {taken} (set --metrics-port)", file=sys.stderr)
            return 2
    tune_garbage_collector()
    print(
        f"insession run: reading {settings.bootstrap_servers}, {args.workers} worker(s)"
        f"{f', metrics on {server.url}' if server else ''}; Ctrl-C stops",
        file=sys.stderr,
    )
    if scrubber is not None:
        scrubber.start()
    try:
        # SIGTERM or Ctrl-C ends the input; the flow then finishes, flushed, and exits 0.
        with stop_on_signals():
            cli_main(
                flow,
                workers_per_process=args.workers,
                epoch_interval=timedelta(milliseconds=epoch_ms),
                recovery_config=recovery,
            )
    finally:
        if server is not None:
            server.stop()
        if scrubber is not None:
            scrubber.stop()
    return 0


def _serve_run_metrics(
    metrics: FlowMetrics, settings: Settings, port: int, *, redis: bool
) -> MetricsServer:
    """The flow's metrics over HTTP, with readiness checks on Kafka (and Redis)."""
    from insession.connectors.kafka_admin import broker_ready
    from insession.dev.services import redis_ready
    from insession.ops.metrics import serve_metrics

    checks = {"kafka": lambda: broker_ready(settings.bootstrap_servers)}
    if redis:
        checks["redis"] = lambda: redis_ready(settings)
    return serve_metrics(metrics, settings.metrics_host, port, checks)


def add_run_command(commands: Any) -> argparse.ArgumentParser:
    """Register `insession run`."""
    run = commands.add_parser("run", help="run the personalisation flow on Kafka")
    run.add_argument("--workers", type=int, default=1, help="Bytewax workers in this process")
    run.add_argument(
        "--from-beginning",
        action="store_true",
        help="read the input topics from the start (default: new events only)",
    )
    run.add_argument(
        "--no-tail",
        action="store_true",
        help="stop at the end of the topics instead of waiting for more",
    )
    run.add_argument("--no-redis", action="store_true", help="do not mirror to Redis")
    run.add_argument(
        "--epoch-ms",
        type=float,
        default=None,
        help="Bytewax epoch length in ms, also the snapshot interval with --recovery-dir "
        "(default: the epoch_ms setting)",
    )
    run.add_argument(
        "--recovery-dir",
        default=None,
        help="keep Bytewax snapshots (state and input offsets) here and resume from them "
        "after a crash (default: the recovery_dir setting; none: no recovery)",
    )
    run.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve /metrics, /healthz and /readyz on this port (default: the metrics_port "
        "setting; 0 turns them off)",
    )
    run.set_defaults(run=_run)
    return run
