"""`insession run`: the flow on Kafka, with metrics, recovery and a clean stop."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from insession.settings import Settings

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from insession.ops.metrics import FlowMetrics, MetricsServer


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.processes < 1:
        print("insession run: --processes must be at least 1", file=sys.stderr)
        return 2
    if args.processes > 1 and args.process_id is not None:
        message = "--processes starts a cluster of its own: give it no --process-id"
        print(f"insession run: {message}", file=sys.stderr)
        return 2
    if args.processes > 1:
        return _run_local_cluster(args, settings)
    return _run_process(args, settings)


_SWITCHES = {"--from-beginning": "from_beginning", "--no-tail": "no_tail", "--no-redis": "no_redis"}
"""The switches of `insession run` that each process of a local cluster gets as given."""


def _run_local_cluster(args: argparse.Namespace, settings: Settings) -> int:
    """`--processes N`: N processes of one flow on this machine, one worker each, each with
    its own metrics port (the given one plus its index)."""
    from insession.runner.cluster import Cluster, run_local_cluster
    from insession.runner.recovery import prepare_recovery

    recovery_dir = args.recovery_dir if args.recovery_dir is not None else settings.recovery_dir
    if recovery_dir:  # made once, here, not by N processes at the same moment
        try:
            prepare_recovery(Path(recovery_dir), args.processes * args.workers)
        except ValueError as bad:
            print(f"insession run: {bad}", file=sys.stderr)
            return 2
    metrics_port = args.metrics_port if args.metrics_port is not None else settings.metrics_port
    passed = ["--workers", str(args.workers)]
    passed += [flag for flag, on in _SWITCHES.items() if getattr(args, on)]
    if args.epoch_ms is not None:
        passed += ["--epoch-ms", str(args.epoch_ms)]
    if recovery_dir:
        passed += ["--recovery-dir", str(recovery_dir)]

    def command(place: Cluster) -> list[str]:
        own = [*passed, "--process-id", str(place.process_id)]
        own += ["--addresses", ";".join(place.addresses)]
        own += ["--metrics-port", str(metrics_port + place.process_id if metrics_port else 0)]
        return [sys.executable, "-m", "insession.cli", "run", *own]

    codes = run_local_cluster(args.processes, command)
    return max(codes, key=abs)


def _run_process(args: argparse.Namespace, settings: Settings) -> int:
    from bytewax.recovery import RecoveryConfig
    from bytewax.run import cli_main

    from insession.connectors.kafka_admin import describe, refusal
    from insession.ops.metrics import FlowMetrics
    from insession.runner.cluster import Cluster
    from insession.runner.engine import tune_garbage_collector
    from insession.runner.live import kafka_flow
    from insession.runner.recovery import SnapshotScrubber, prepare_recovery, scrub_in_child
    from insession.runner.stopping import stop_on_signals

    cluster = None
    if args.process_id is not None or args.addresses is not None:
        try:
            cluster = Cluster.parse(args.process_id or 0, args.addresses or "")
        except ValueError as bad:
            print(f"insession run: {bad}", file=sys.stderr)
            return 2

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
        if resumed and (cluster is None or cluster.process_id == 0):
            # erasures whose scrub a crash cut short (one process of a cluster does it)
            scrub_in_child(Path(recovery_dir))
        recovery = RecoveryConfig(Path(recovery_dir))
        scrubber = SnapshotScrubber(Path(recovery_dir), delay_s=max(0.5, 5 * epoch_ms / 1000))
        log.info(
            "recovery in %s (%s)",
            recovery_dir,
            "resuming from it if it holds a snapshot" if resumed else "new",
        )
    refused = refusal(settings.kafka_client())
    if refused is not None:
        log.error(
            "Kafka at %s refused this client (%s); check the [insession.kafka] settings",
            describe(settings.kafka_client()),
            refused,
        )
        return 2
    flow = kafka_flow(
        settings,
        from_beginning=args.from_beginning,
        tail=not args.no_tail,
        mirror=not args.no_redis,
        durable=recovery is not None,
        metrics=metrics,
        scrubber=scrubber,
        cluster=cluster,
        one_worker=cluster is None and args.workers == 1,
    )
    server = None
    if metrics is not None:
        try:
            server = _serve_run_metrics(metrics, settings, metrics_port, redis=not args.no_redis)
        except OSError as taken:
            log.error("metrics server: %s (set --metrics-port)", taken)
            return 2
    tune_garbage_collector()
    place = f"process {cluster.process_id} of {len(cluster.addresses)}, " if cluster else ""
    log.info(
        "%sreading %s, %d worker(s)%s; Ctrl-C stops",
        place,
        describe(settings.kafka_client()),
        args.workers,
        f", metrics on {server.url}" if server else "",
    )
    if scrubber is not None:
        scrubber.start()
    try:
        # SIGTERM or Ctrl-C ends the input; the flow then finishes, flushed, and exits 0.
        with stop_on_signals():
            cli_main(
                flow,
                workers_per_process=args.workers,
                process_id=cluster.process_id if cluster else None,
                addresses=cluster.addresses if cluster else None,
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

    checks = {"kafka": lambda: broker_ready(settings.kafka_client())}
    if redis:
        checks["redis"] = lambda: redis_ready(settings)
    return serve_metrics(metrics, settings.metrics_host, port, checks)


def add_run_command(commands: Any) -> argparse.ArgumentParser:
    """Register `insession run`."""
    run = commands.add_parser("run", help="run the personalisation flow on Kafka")
    run.add_argument("--workers", type=int, default=1, help="Bytewax workers in this process")
    run.add_argument(
        "--processes",
        type=int,
        default=1,
        help="processes of the flow on this machine, one per core scales best "
        "(docs/scaling.md); each serves metrics on --metrics-port plus its index",
    )
    run.add_argument(
        "--process-id",
        type=int,
        default=None,
        help="this process's index in a cluster across machines (with --addresses)",
    )
    run.add_argument(
        "--addresses",
        default=None,
        help='every process of the cluster as host:port, ";"-separated, the same list on '
        "each machine (docs/scaling.md)",
    )
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
