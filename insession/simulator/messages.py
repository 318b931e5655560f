"""Simulated messages on the wire: their bytes, stream (topic) and key, and recordings."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from insession.schemas.codec import encode
from insession.schemas.events import STREAM_OF, Event

MALFORMED_STREAM = "clickstream"


def encode_item(item: Event | bytes) -> bytes:
    """Wire form of a simulated message (malformed ones are bytes already)."""
    return item if isinstance(item, bytes) else encode(item)


def stream_of(item: Event | bytes) -> str:
    """The stream (topic) a message goes to; malformed ones go to the click-stream."""
    return MALFORMED_STREAM if isinstance(item, bytes) else STREAM_OF[item.type]


def key_of(item: Event | bytes) -> bytes | None:
    """Kafka key: the device, else the customer (`Event.input_key`)."""
    if isinstance(item, bytes):
        return None
    who = item.input_key()
    return who.encode() if who else None


# --- output ---------------------------------------------------------------------------------


def write_lines(path: Path, items: Iterable[Event | bytes]) -> int:
    """Write a recording (gzipped when the name ends in .gz), malformed lines included."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    count = 0
    with partial.open("wb") as stored:
        handle: IO[bytes] = (
            io.BufferedWriter(gzip.GzipFile("", "wb", 5, stored, mtime=0))  # type: ignore[arg-type]
            if path.suffix == ".gz"
            else stored
        )
        for item in items:
            handle.write(encode_item(item))
            handle.write(b"\n")
            count += 1
        if handle is not stored:
            handle.close()
    partial.replace(path)
    return count
