"""`insession record`: copy Kafka topics into a recording that `insession replay` reads."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import (
    KafkaException,
)

from insession.connectors.recorder import (
    RecordError,
    RecordResult,
    StopAfter,
    record,
    topics_to_record,
)
from insession.settings import Settings


def print_result(result: RecordResult, out: Any) -> None:
    """What was recorded: messages and offset ranges per topic partition."""
    header = result.header
    print(
        f"recorded {result.messages:,} messages in {result.seconds:.1f} s -> {result.path} "
        f"(stopped: {result.stopped})",
        file=out,
    )
    width = max((len(p.topic) for p in header.partitions), default=5)
    if header.partitions:
        print(f"  {'topic':<{width}}  partition    messages  offsets", file=out)
    for p in header.partitions:
        print(
            f"  {p.topic:<{width}}  {p.partition:>9}  {p.messages:>10,}  "
            f"{p.first_offset}-{p.last_offset}",
            file=out,
        )
    if result.empty_topics:
        print(f"  nothing from: {', '.join(result.empty_topics)}", file=out)


def _positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            number = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if number <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return number

    return parse


def run_record(args: argparse.Namespace, settings: Settings) -> int:
    """`insession record`: copy the chosen topics into a recording and say what it holds."""
    from insession.schemas.events import INPUT_STREAMS

    names = [n.strip() for n in args.topics.split(",") if n.strip()] if args.topics else []
    topics = topics_to_record(names or INPUT_STREAMS, settings)
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    out = Path(args.out)
    try:
        result = record(
            settings,
            topics,
            out,
            from_beginning=args.from_beginning,
            stop=StopAfter(args.max_messages, args.duration, args.until_idle),
            progress=progress,
        )
    except (RecordError, KafkaException) as failure:
        print(f"insession record: {failure}", file=sys.stderr)
        partial = out.with_name(out.name + ".partial")
        if partial.exists():
            print(f"insession record: what was copied is in {partial}", file=sys.stderr)
        return 1
    print_result(result, sys.stdout)
    return 0


def add_record_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register `record` on the `insession` sub-commands; its handler is `run_record`."""
    parser = subparsers.add_parser(
        "record",
        help="copy Kafka topics into a recording for `insession replay`",
        description="Copy Kafka topics into a recording: every message with its key, "
        "headers, timestamp, partition and offset, values byte for byte. Runs until a limit is "
        "reached or Ctrl-C.",
    )
    parser.add_argument(
        "--topics",
        help="comma-separated streams (clickstream,cart,...) or topic names "
        "(default: every input stream)",
    )
    parser.add_argument(
        "-o", "--out", required=True, help="recording to write (.jsonl or .jsonl.gz)"
    )
    start = parser.add_mutually_exclusive_group()
    start.add_argument(
        "--from-beginning", action="store_true", help="copy what the topics hold already"
    )
    start.add_argument(
        "--from-now",
        dest="from_beginning",
        action="store_false",
        help="copy only messages that arrive from now on (the default)",
    )
    parser.add_argument(
        "--max-messages", type=_positive(int), metavar="N", help="stop after this many messages"
    )
    parser.add_argument(
        "--duration", type=_positive(float), metavar="SECONDS", help="stop after this long"
    )
    parser.add_argument(
        "--until-idle",
        type=_positive(float),
        metavar="SECONDS",
        help="stop once no message came for this many seconds",
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: on a terminal)",
    )
    parser.set_defaults(run=run_record)
    return parser
