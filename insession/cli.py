"""The `insession` command: services, topics, recordings and replay."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from insession.pacing import Speed
from insession.settings import Settings

if TYPE_CHECKING:
    from insession.metrics import FlowMetrics, MetricsServer

DEFAULT_DATASETS = ("rees46", "diginetica", "yoochoose")


def _services(args: argparse.Namespace, settings: Settings) -> int:
    from insession import services

    if args.action == "up":
        try:
            seconds = services.up(settings)
        except services.ServiceError as failure:
            print(f"insession services: {failure}", file=sys.stderr)
            return 1
        for name, took in seconds.items():
            print(
                f"{name}: ready ({'already running' if took == 0 else f'started in {took:.1f} s'})"
            )
        if not args.no_topics:
            from insession.kafka_admin import create_topics

            created = create_topics(settings)
            print(f"topics: {len(created)} created, {len(settings.topics) - len(created)} existed")
        return 0
    if args.action == "down":
        stopped = services.down(settings)
        print(
            f"stopped: {', '.join(stopped) if stopped else 'nothing (none started by insession)'}"
        )
        return 0
    states = services.status(settings)
    for state in states:
        print(state.describe())
    return 0 if all(s.answering for s in states) else 1


def _topics(args: argparse.Namespace, settings: Settings) -> int:
    from insession.kafka_admin import create_topics, list_topics

    if args.action == "create":
        created = create_topics(settings, timeout=args.timeout)
        for stream, topic in settings.topics.items():
            state = "created" if topic in created else "exists"
            print(f"{topic:<32} {settings.partitions_for(stream):>3} partitions  {state}")
        return 0
    for name, partitions in sorted(list_topics(settings.bootstrap_servers).items()):
        print(f"{name:<32} {partitions:>3} partitions")
    return 0


def default_recordings(settings: Settings) -> list[Path]:
    """Recordings of the real public data sets, converted on first use and kept locally."""
    from insession.datasets import CONVERTERS, default_source
    from insession.recording import write_recording
    from schemas.signatures import signed_links

    paths = []
    for name in DEFAULT_DATASETS:
        path = settings.recordings_dir / f"{name}.jsonl.gz"
        if not path.is_file():
            source = default_source(name, settings.data_dir)
            if not source.exists():
                raise FileNotFoundError(
                    f"{source} is missing: the default replay converts the public data in "
                    f"{settings.data_dir} (set INSESSION_DATA_DIR), or pass recordings to replay"
                )
            events = signed_links(CONVERTERS[name](source), settings.identity_secret)
            count = write_recording(path, events)
            print(f"converted {name} ({source}) -> {path}: {count:,} events", file=sys.stderr)
        paths.append(path)
    return paths


def _replay_inputs(args: argparse.Namespace, settings: Settings) -> list[Path] | None:
    """The recordings to replay: those named, the public data sets, or the simulated default."""
    try:
        if args.files:
            paths = [Path(p) for p in args.files]
        elif args.datasets:
            paths = default_recordings(settings)
        else:
            paths = [default_simulation(settings)]
    except FileNotFoundError as missing:
        print(f"insession replay: {missing}", file=sys.stderr)
        return None
    for path in paths:
        if not path.is_file():
            print(f"insession replay: {path}: no such file", file=sys.stderr)
            return None
    return paths


def default_simulation(settings: Settings) -> Path:
    """The embedded default: a seeded simulation of a day of shoppers, made on first use."""
    from insession.simulator import SimulationConfig, simulate, write_lines
    from schemas.signatures import signed_links

    path = settings.recordings_dir / "simulated.jsonl.gz"
    if not path.is_file():
        # A few malformed messages, as real producers send, to show the dead-letter path.
        items = simulate(SimulationConfig(malformed_rate=0.002))
        count = write_lines(path, signed_links(items, settings.identity_secret))
        print(f"simulated {count:,} events (seed 0) -> {path}", file=sys.stderr)
    return path


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from insession.recording import RecordingError

    try:
        return _replay_paths(args, settings)
    except RecordingError as bad:
        print(f"insession replay: {bad}", file=sys.stderr)
        return 2


def _replay_paths(args: argparse.Namespace, settings: Settings) -> int:
    paths = _replay_inputs(args, settings)
    if paths is None:
        return 2
    if args.validate_only:
        from insession.replay import print_summary, replay

        dead_letters = Path(args.out) / "dead-letters.jsonl"
        progress = sys.stderr.isatty() if args.progress is None else args.progress
        summary = replay(
            paths, dead_letters, max_bytes=settings.max_message_bytes, progress=progress
        )
        print_summary(summary, dead_letters, sys.stdout)
        return 0

    from insession.pipeline import Cluster, replay_cluster, replay_flow
    from insession.report import print_flow_report

    out = Path(args.out)
    run = {"workers": args.workers, "mirror": args.redis, "speed": args.speed}
    if args.process_id is not None:  # one process of a cluster started by --processes
        cluster = Cluster(args.process_id, args.addresses.split(";"))
        replay_flow(paths, out, settings, cluster=cluster, **run)
        return 0
    if args.processes > 1:
        result = replay_cluster(paths, out, args.processes, **run)
    else:
        progress = sys.stderr.isatty() if args.progress is None else args.progress
        result = replay_flow(paths, out, settings, progress=progress, **run)
    assert result is not None
    print_flow_report(result, sys.stdout)
    return 0


def _speed(text: str) -> Speed:
    try:
        return Speed.parse(text)
    except ValueError as bad:
        raise argparse.ArgumentTypeError(str(bad)) from None


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from bytewax.recovery import RecoveryConfig
    from bytewax.run import cli_main

    from insession.metrics import FlowMetrics
    from insession.pipeline import kafka_flow, tune_garbage_collector
    from insession.recovery import SnapshotScrubber, prepare_recovery, scrub_snapshots
    from insession.stopping import stop_on_signals

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
            scrub_snapshots(Path(recovery_dir))
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
    from insession.kafka_admin import broker_ready
    from insession.metrics import serve_metrics
    from insession.services import redis_ready

    checks = {"kafka": lambda: broker_ready(settings.bootstrap_servers)}
    if redis:
        checks["redis"] = lambda: redis_ready(settings)
    return serve_metrics(metrics, settings.metrics_host, port, checks)


def _convert(args: argparse.Namespace, settings: Settings) -> int:
    from insession.datasets import CONVERTERS, default_source
    from insession.recording import write_recording
    from schemas.signatures import signed_links

    source = Path(args.source) if args.source else default_source(args.dataset, settings.data_dir)
    events = signed_links(CONVERTERS[args.dataset](source), settings.identity_secret)
    count = write_recording(Path(args.output), events)
    print(f"{args.dataset}: {count:,} events from {source} -> {args.output}")
    return 0


def _schemas(args: argparse.Namespace, _: Settings) -> int:
    from schemas.json_schema import write_json_schemas

    for path in write_json_schemas(Path(args.output)):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, one sub-command per job."""
    parser = argparse.ArgumentParser(prog="insession", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    services = commands.add_parser("services", help="start/stop the local Kafka and Redis")
    services.add_argument("action", choices=("up", "down", "status"))
    services.add_argument("--no-topics", action="store_true", help="up: do not create topics")
    services.set_defaults(run=_services)

    topics = commands.add_parser("topics", help="create or list the Kafka topics")
    topics.add_argument("action", choices=("create", "list"))
    topics.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for Kafka")
    topics.set_defaults(run=_topics)

    replay = commands.add_parser(
        "replay", help="run the personalisation flow on recordings, offers to a file"
    )
    replay.add_argument(
        "files",
        nargs="*",
        help="recordings (.jsonl or .jsonl.gz); default: a simulated day of shoppers",
    )
    replay.add_argument(
        "--datasets",
        action="store_true",
        help="replay the public data sets (REES46, DIGINETICA, YOOCHOOSE)",
    )
    replay.add_argument(
        "--out", default=".insession/replay", help="folder for offers.jsonl and dead-letters.jsonl"
    )
    replay.add_argument("--workers", type=int, default=1, help="Bytewax workers per process")
    replay.add_argument(
        "--processes",
        type=int,
        default=1,
        help="Bytewax processes on this machine (one per core scales best)",
    )
    replay.add_argument("--process-id", type=int, help=argparse.SUPPRESS)
    replay.add_argument("--addresses", help=argparse.SUPPRESS)
    replay.add_argument(
        "--redis", action="store_true", help="also mirror state and offers to Redis"
    )
    replay.add_argument(
        "--validate-only", action="store_true", help="only validate and summarise the recordings"
    )
    replay.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: on a terminal; off with --processes)",
    )
    replay.add_argument(
        "--speed",
        type=_speed,
        default="max",
        help="max (as fast as possible, the default), recorded (the recorded pace) or Nx "
        "(N times the recorded pace, e.g. 10x)",
    )
    replay.set_defaults(run=_replay)

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

    convert = commands.add_parser("convert", help="turn a public data set into a recording")
    convert.add_argument("dataset", choices=DEFAULT_DATASETS)
    convert.add_argument("-o", "--output", required=True, help="recording to write")
    convert.add_argument("--source", help="input file or folder (default: in the data dir)")
    convert.set_defaults(run=_convert)

    from insession.health import add_health_command
    from insession.obd import add_evaluate_command
    from insession.ops import add_ops_command
    from insession.record import add_record_command
    from insession.simulator import add_simulate_command

    add_simulate_command(commands)
    add_evaluate_command(commands)
    add_record_command(commands)
    add_health_command(commands)
    add_ops_command(commands)

    schemas = commands.add_parser("schemas", help="write the JSON Schema documents")
    schemas.add_argument("-o", "--output", default="schemas/json")
    schemas.set_defaults(run=_schemas)
    return parser


SERVING_COMMANDS = frozenset({"run", "ops"})
"""Commands that run until stopped and serve or hold sockets (HTTP, Redis): for them a peer
that hangs up is an error to handle, never a reason to die of SIGPIPE."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `insession` console script."""
    # Quietly stop when the reader of our output goes away (`insession replay | head`)...
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    args = build_parser().parse_args(argv)
    if args.command in SERVING_COMMANDS:
        # ...but a server's closed socket must raise (EPIPE), as Python has it by default.
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        settings = Settings.load()
    except ValueError as bad:
        print(f"insession: bad settings: {bad}", file=sys.stderr)
        return 2
    return int(args.run(args, settings))


if __name__ == "__main__":
    raise SystemExit(main())
