"""`insession replay`: the whole flow over recordings (the simulated default, the public data
sets, or files), offers and dead letters to files."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from insession.connectors.pacing import Speed
from insession.datasets import DATASETS
from insession.settings import Settings

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    pass


def default_recordings(settings: Settings) -> list[Path]:
    """Recordings of the real public data sets, converted on first use and kept locally."""
    from insession.connectors.recording import write_recording
    from insession.datasets import CONVERTERS, default_source
    from insession.schemas.signatures import signed_links

    paths = []
    for name in DATASETS:
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
            log.info("converted %s (%s) -> %s: %s events", name, source, path, f"{count:,}")
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
    from insession.schemas.signatures import signed_links
    from insession.simulator import SimulationConfig, simulate, write_lines

    path = settings.recordings_dir / "simulated.jsonl.gz"
    if not path.is_file():
        # A few malformed messages, as real producers send, to show the dead-letter path.
        items = simulate(SimulationConfig(malformed_rate=0.002))
        count = write_lines(path, signed_links(items, settings.identity_secret))
        log.info("simulated %s events (seed 0) -> %s", f"{count:,}", path)
    return path


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from insession.connectors.recording import RecordingError

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
        from insession.runner.validate import print_summary, replay

        dead_letters = Path(args.out) / "dead-letters.jsonl"
        progress = sys.stderr.isatty() if args.progress is None else args.progress
        summary = replay(
            paths, dead_letters, max_bytes=settings.max_message_bytes, progress=progress
        )
        print_summary(summary, dead_letters, sys.stdout)
        return 0

    from insession.runner.cluster import Cluster
    from insession.runner.replay import replay_cluster, replay_flow
    from insession.runner.report import print_flow_report, replay_summary

    if args.datasets_consent:
        settings = dataclasses.replace(settings, assume_consent=True)
    out = Path(args.out)
    run = {"workers": args.workers, "mirror": args.redis, "speed": args.speed}
    if args.process_id is not None:  # one process of a cluster started by --processes
        cluster = Cluster.parse(args.process_id, args.addresses)
        replay_flow(paths, out, settings, cluster=cluster, **run)
        return 0
    if args.processes > 1:
        result = replay_cluster(
            paths,
            out,
            args.processes,
            model_namespace=settings.model_namespace,
            assume_consent=settings.assume_consent,
            **run,
        )
    else:
        progress = sys.stderr.isatty() if args.progress is None else args.progress
        result = replay_flow(paths, out, settings, progress=progress, **run)
    assert result is not None
    print_flow_report(result, sys.stdout)
    if args.summary_json:
        import orjson

        summary = replay_summary(
            result, processes=args.processes, workers=args.workers, policy=settings.policy
        )
        Path(args.summary_json).write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    return 0


def _speed(text: str) -> Speed:
    try:
        return Speed.parse(text)
    except ValueError as bad:
        raise argparse.ArgumentTypeError(str(bad)) from None


def add_replay_command(commands: Any) -> argparse.ArgumentParser:
    """Register `insession replay`."""
    replay = commands.add_parser(
        "replay", help="run the personalisation flow on recordings, offers to a file"
    )
    replay.add_argument(
        "files",
        nargs="*",
        help="recordings (.jsonl or .jsonl.gz): insession record's, plain ones or kcat -J "
        "output; default: a simulated day of shoppers",
    )
    replay.add_argument(
        "--datasets",
        action="store_true",
        help="replay the public data sets (REES46, DIGINETICA, YOOCHOOSE)",
    )
    replay.add_argument(
        "--datasets-consent",
        action="store_true",
        help="treat shoppers who sent no consent event as consenting, so that personal "
        "recommendations show: the public data sets' terms allow it (docs/recommendations.md); "
        "never use it on real shoppers' events",
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
        "--summary-json",
        metavar="FILE",
        help="also write the run's figures as JSON: events, seconds, events_per_s, offers, "
        "dead_letters, people_seen, people_in_memory_at_end, max_rss_bytes, processes, "
        "workers, policy, and the offer counts",
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
    return replay
