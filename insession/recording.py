"""Recordings: streams saved as JSON lines (one wire-format message a line), gzipped or not."""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from schemas.codec import encode
from schemas.events import Contract


@dataclass(frozen=True, slots=True)
class RecordedLine:
    """One raw line of a recording and where it came from."""

    path: Path
    line_no: int
    raw: bytes


def _open_binary(path: Path, mode: str, *, gzipped: bool | None = None) -> IO[bytes]:
    """Open for reading ("r") or writing ("w"); gzip by name unless told otherwise.

    Writes are buffered in front of gzip, which compresses on every small write otherwise.
    """
    if gzipped is None:
        gzipped = path.suffix == ".gz"
    if gzipped:
        handle = gzip.open(path, mode + "b", compresslevel=5)  # noqa: SIM115 (returned open)
        return io.BufferedWriter(handle) if mode == "w" else handle  # type: ignore[arg-type,return-value]
    return path.open(mode + "b")


def read_lines(
    path: Path, on_progress: Callable[[int], None] | None = None
) -> Iterator[RecordedLine]:
    """Every non-blank line of a recording, with its 1-based line number.

    `on_progress` is told how many bytes of the file (compressed, as stored) were consumed
    since it was last called, every few thousand lines: enough for a progress bar.
    """
    with path.open("rb") as stored:
        handle: IO[bytes] = gzip.GzipFile(fileobj=stored) if path.suffix == ".gz" else stored
        reported = 0
        for line_no, raw in enumerate(handle, start=1):
            if on_progress is not None and line_no % 4096 == 0:
                position = stored.tell()
                on_progress(position - reported)
                reported = position
            stripped = raw.rstrip(b"\r\n")
            if stripped.strip():
                yield RecordedLine(path, line_no, stripped)
        if on_progress is not None:
            on_progress(stored.tell() - reported)


def write_recording(path: Path, events: Iterable[Contract]) -> int:
    """Write contracts as a recording (gzipped when the name ends in .gz); return the count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    count = 0
    with _open_binary(partial, "w", gzipped=path.suffix == ".gz") as handle:
        for event in events:
            handle.write(encode(event))
            handle.write(b"\n")
            count += 1
    partial.replace(path)
    return count


class RecordingWriter:
    """Appends encoded contracts to a recording as they come (used for dead letters)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.count = 0
        self._handle = _open_binary(path, "w")

    def write(self, contract: Contract) -> None:
        self._handle.write(encode(contract))
        self._handle.write(b"\n")
        self.count += 1

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
