"""Sinks in this process: offers and dead letters as JSON lines (a file per worker, merged at
the end), and callbacks (replay statistics)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bytewax.outputs import DynamicSink, StatelessSinkPartition

from insession.operators.customer_step import Outcome
from insession.schemas.codec import encode
from insession.schemas.events import Contract


class _LinesPartition(StatelessSinkPartition[Contract]):
    def __init__(self, path: Path) -> None:
        self.handle = path.open("wb")

    def write_batch(self, items: list[Contract]) -> None:
        self.handle.write(b"".join(encode(item) + b"\n" for item in items))

    def close(self) -> None:
        self.handle.close()


class JsonLinesSink(DynamicSink[Contract]):
    """Each worker writes `<stem>.part<N>.jsonl` beside `path`; `merge_parts` joins them."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _parts(self) -> list[Path]:
        return sorted(self.path.parent.glob(f"{self.path.stem}.part*.jsonl"))

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _LinesPartition:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if worker_index == 0:
            self.path.unlink(missing_ok=True)
        return _LinesPartition(self.path.with_name(f"{self.path.stem}.part{worker_index}.jsonl"))

    def merge_parts(self, sort_key: Callable[[bytes], Any]) -> int:
        """Join the workers' files into `path`, sorted so the result is worker-independent."""
        parts = self._parts()
        lines = [line for part in parts for line in part.read_bytes().splitlines() if line]
        lines.sort(key=sort_key)
        self.path.write_bytes(b"".join(line + b"\n" for line in lines))
        for part in parts:
            part.unlink()
        return len(lines)


class _TallyPartition(StatelessSinkPartition[Outcome]):
    def __init__(self, tally: Callable[[list[Outcome]], None]) -> None:
        self.tally = tally

    def write_batch(self, items: list[Outcome]) -> None:
        self.tally(items)


class CallbackSink(DynamicSink[Outcome]):
    """Hands each batch to a thread-safe callback in this process (replay statistics)."""

    def __init__(self, tally: Callable[[list[Outcome]], None]) -> None:
        self.tally = tally

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _TallyPartition:
        return _TallyPartition(self.tally)
