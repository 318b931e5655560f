"""`insession replay`: read recorded streams, validate every event, dead-letter the bad ones.

Prints what the recording holds: events by type and channel, customers, sessions, and bad
events by reason, so an engineer can trust a recording before running a flow on it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from insession.connectors.recorded_message import UNREADABLE_ENVELOPE
from insession.connectors.recording import (
    RecordedMessage,
    RecordingWriter,
    read_messages,
    recording_layout,
)
from insession.operators.dead_letters import to_dead_letter
from insession.schemas.codec import DEFAULT_MAX_BYTES, Rejection, decode
from insession.schemas.events import Contract, Event


@dataclass(slots=True)
class ReplaySummary:
    """Counts gathered while replaying."""

    lines: int = 0
    """Messages read (a line each)."""
    by_type: Counter[str] = field(default_factory=Counter)
    by_channel: Counter[str] = field(default_factory=Counter)
    bad_by_reason: Counter[str] = field(default_factory=Counter)
    bad_examples: dict[str, str] = field(default_factory=dict)
    customers: set[str] = field(default_factory=set)
    anonymous: set[str] = field(default_factory=set)
    sessions: set[str] = field(default_factory=set)
    seconds: float = 0.0

    @property
    def good(self) -> int:
        return sum(self.by_type.values())

    @property
    def bad(self) -> int:
        return sum(self.bad_by_reason.values())

    def count_event(self, event: Contract) -> None:
        self.by_type[event.type] += 1
        if isinstance(event, Event):
            self.by_channel[event.channel] += 1
            if event.customer_id is not None:
                self.customers.add(event.customer_id)
            if event.anonymous_id is not None:
                self.anonymous.add(event.anonymous_id)
            if event.session_id is not None:
                self.sessions.add(event.session_id)

    def count_rejection(self, rejection: Rejection, where: str | None) -> None:
        """`where` is None when the rejection's detail says where itself."""
        self.bad_by_reason[rejection.reason] += 1
        example = str(rejection) if where is None else f"{where}: {rejection}"
        self.bad_examples.setdefault(rejection.reason, example)


def replay(
    paths: Sequence[Path],
    dead_letter_path: Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    progress: bool = False,
) -> ReplaySummary:
    """Decode every message of every recording; write rejects to `dead_letter_path`.

    Rejects of a Kafka or kcat recording name the topic, partition and offset the message
    was recorded from; those of a plain recording, and a kcat recording's unreadable lines,
    name the file and line.
    """
    summary = ReplaySummary()
    started = time.perf_counter()
    total_bytes = sum(p.stat().st_size for p in paths)
    with (
        RecordingWriter(dead_letter_path) as dead_letters,
        tqdm(
            total=total_bytes,
            unit="B",
            unit_scale=True,
            disable=not progress,
            desc="replay",
            leave=False,
        ) as bar,
    ):
        for path in paths:
            from_kafka = recording_layout(path) != "plain"
            for message in read_messages(path, on_progress=bar.update):
                summary.lines += 1
                decoded = (
                    decode(message.value, max_bytes=max_bytes)  # type: ignore[arg-type]
                    if message.error is None
                    else Rejection(UNREADABLE_ENVELOPE, None, message.error)
                )
                if isinstance(decoded, Rejection):
                    where = None if message.error else _where(path, message, from_kafka)
                    summary.count_rejection(decoded, where)
                    dead_letters.write(
                        to_dead_letter(
                            message.value,
                            decoded,
                            source=message.topic if from_kafka else str(path),
                            partition=message.partition if from_kafka else None,
                            offset=message.offset,
                            stage="decode",
                            failed_at=int(time.time() * 1000),
                            max_bytes=max_bytes,
                        )
                    )
                else:
                    summary.count_event(decoded)
    summary.seconds = time.perf_counter() - started
    return summary


def _where(path: Path, message: RecordedMessage, from_kafka: bool) -> str:
    if from_kafka:
        return f"{message.topic}[{message.partition}]@{message.offset}"
    return f"{path.name}:{message.line_no}"


def print_counts(title: str, counts: Counter[str], out: TextIO, limit: int | None = None) -> None:
    """A titled two-column table of counts, largest first (the `limit` largest, if given)."""
    rows = counts.most_common(limit)
    print(f"\n{title}", file=out)
    width = max((len(key) for key, _ in rows), default=0)
    for key, value in rows:
        print(f"  {key:<{width}}  {value:>10,}", file=out)


def print_summary(summary: ReplaySummary, dead_letter_path: Path, out: TextIO) -> None:
    """A readable report of a replay."""
    rate = summary.lines / summary.seconds if summary.seconds else 0.0
    print(
        f"replayed {summary.lines:,} messages in {summary.seconds:.2f} s ({rate:,.0f}/s): "
        f"{summary.good:,} good events, {summary.bad:,} bad",
        file=out,
    )
    print(
        f"customers {len(summary.customers):,}   anonymous ids {len(summary.anonymous):,}   "
        f"sessions {len(summary.sessions):,}",
        file=out,
    )
    print_counts("events by type", summary.by_type, out)
    print_counts("events by channel", summary.by_channel, out)
    if summary.bad:
        print_counts("bad events by reason", summary.bad_by_reason, out)
        print("\nfirst example of each reason", file=out)
        for reason, example in summary.bad_examples.items():
            print(f"  {reason}: {example}", file=out)
        print(f"\ndead letters written to {dead_letter_path}", file=out)
