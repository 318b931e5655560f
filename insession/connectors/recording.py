"""Recordings: streams saved as JSON lines, gzipped or not, in one of three layouts.

A plain recording holds one wire-format message a line (converted data sets, simulations).
A Kafka recording (`insession record`) starts with a header line and holds one envelope a
line: the message with its topic, partition, offset, timestamp, key and headers, value bytes
kept exactly. A kcat recording (`kcat -C -J`) holds kcat's envelope a line
(`kcat_envelope`). Readers tell them apart by the first lines of each file.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import itertools
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from insession.connectors.kcat_envelope import is_kcat_envelope, kcat_message, loads_line
from insession.connectors.recorded_message import Headers, RecordedMessage, RecordingError
from insession.connectors.time_order import merge_in_time_order
from insession.schemas.codec import encode
from insession.schemas.events import Contract

RECORDING_VERSION = 1
HEADER_FIELD = "insession_recording"

Layout = Literal["plain", "insession", "kcat"]

LAYOUT_LOOK_AHEAD = 100
"""Lines searched for the first JSON object, which tells a kcat recording from a plain one."""


@dataclass(frozen=True, slots=True)
class RecordedLine:
    """One raw line of a recording and where it came from."""

    path: Path
    line_no: int
    raw: bytes


@dataclass(frozen=True, slots=True)
class PartitionRange:
    """What a Kafka recording holds of one topic partition."""

    topic: str
    partition: int
    messages: int
    first_offset: int
    last_offset: int
    first_timestamp_ms: int | None
    last_timestamp_ms: int | None


@dataclass(frozen=True, slots=True)
class RecordingHeader:
    """The first line of a Kafka recording: what was recorded, when, and how much."""

    topics: tuple[str, ...]
    recorded_at: int
    """Epoch ms when the recording started."""
    partitions: tuple[PartitionRange, ...] = ()
    version: int = RECORDING_VERSION

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                HEADER_FIELD: self.version,
                "topics": self.topics,
                "recorded_at": self.recorded_at,
                "partitions": [asdict(p) for p in self.partitions],
            }
        )


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


def _numbered_lines(
    path: Path, on_progress: Callable[[int], None] | None
) -> Iterator[tuple[int, bytes]]:
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
                yield line_no, stripped
        if on_progress is not None:
            on_progress(stored.tell() - reported)


def read_lines(
    path: Path, on_progress: Callable[[int], None] | None = None
) -> Iterator[RecordedLine]:
    """Every non-blank line of a recording, with its 1-based line number.

    `on_progress` is told how many bytes of the file (compressed, as stored) were consumed
    since it was last called, every few thousand lines: enough for a progress bar.
    """
    for line_no, raw in _numbered_lines(path, on_progress):
        yield RecordedLine(path, line_no, raw)


def _header_of(path: Path, line_no: int, raw: bytes) -> RecordingHeader | None:
    """The header if the line is one; None for a plain recording's first message."""
    if not raw.startswith(b"{") or HEADER_FIELD.encode() not in raw:
        return None
    try:
        fields = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if type(fields) is not dict or HEADER_FIELD not in fields:
        return None
    where = f"{path}:{line_no}"
    version = fields[HEADER_FIELD]
    if version != RECORDING_VERSION:
        raise RecordingError(
            f"{where}: recording format {version!r} is not one this insession reads "
            f"(it reads {RECORDING_VERSION})"
        )
    try:
        return RecordingHeader(
            topics=tuple(fields["topics"]),
            recorded_at=int(fields["recorded_at"]),
            partitions=tuple(PartitionRange(**p) for p in fields.get("partitions", ())),
        )
    except (KeyError, TypeError, ValueError) as bad:
        raise RecordingError(f"{where}: broken recording header ({bad!r})") from None


def read_header(path: Path) -> RecordingHeader | None:
    """The header of a Kafka recording; None for a plain (or empty) recording."""
    lines = _numbered_lines(path, None)
    try:
        first = next(lines, None)
    finally:
        lines.close()
    return None if first is None else _header_of(path, *first)


def _bytes_field(fields: dict[str, Any], name: str) -> bytes | None:
    value = fields[name]
    if value is None:
        return None
    if fields.get(name + "_base64"):
        return base64.b64decode(value, validate=True)
    return value.encode()  # type: ignore[no-any-return]


def _headers_field(fields: dict[str, Any]) -> Headers:
    """Envelopes of messages without headers (and all of older recordings) have no field."""
    listed = fields.get("headers", [])
    if type(listed) is not list:
        raise TypeError("headers must be a list")
    headers = []
    for header in listed:
        name = header["key"]
        if type(name) is not str:
            raise TypeError("a header's key must be text")
        headers.append((name, _bytes_field(header, "value")))
    return tuple(headers)


def _envelope_of(path: Path, line_no: int, raw: bytes) -> RecordedMessage:
    try:
        fields = orjson.loads(raw)
        topic, partition, offset = fields["topic"], fields["partition"], fields["offset"]
        timestamp = fields["timestamp_ms"]
        if not (
            type(topic) is str
            and type(partition) is int
            and type(offset) is int
            and (timestamp is None or type(timestamp) is int)
        ):
            raise TypeError("topic must be text; partition, offset and timestamp_ms whole numbers")
        return RecordedMessage(
            topic,
            partition,
            offset,
            timestamp,
            _bytes_field(fields, "key"),
            _bytes_field(fields, "value"),
            line_no,
            _headers_field(fields),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, binascii.Error) as bad:
        raise RecordingError(
            f"{path}:{line_no}: not a message envelope of a Kafka recording ({bad})"
        ) from None


def recording_layout(path: Path) -> Layout:
    """Which layout a recording has, told by its first lines: insession's header line; else
    kcat's envelope or a plain message in the first line that is a JSON object (notes that
    kcat printed into the file, such as its end-of-partition lines, may come before it)."""
    lines = _numbered_lines(path, None)
    try:
        first = next(lines, None)
        if first is None:
            return "plain"
        if _header_of(path, *first) is not None:
            return "insession"
        for _, raw in itertools.chain([first], itertools.islice(lines, LAYOUT_LOOK_AHEAD - 1)):
            try:
                fields = loads_line(raw)
            except ValueError:
                continue
            if type(fields) is dict:
                return "kcat" if is_kcat_envelope(fields) else "plain"
        return "plain"
    finally:
        lines.close()


def read_messages(
    path: Path, on_progress: Callable[[int], None] | None = None
) -> Generator[RecordedMessage, None, None]:
    """Every message of a recording of any layout: insession's and plain ones in the order
    stored, kcat's merged in timestamp order as `insession record` merges its own (kcat
    writes each partition's messages in runs, as its fetches return them).

    Raises RecordingError on a line of an insession recording that is not an envelope:
    insession writes those files whole, so a broken line is a broken file, not a bad message
    to pass over. A kcat recording is a command's redirected output, at times cut short or
    mixed with other lines: its unreadable lines come back with `error` set.
    """
    if recording_layout(path) == "kcat":
        return _kcat_messages_in_time_order(path, on_progress)
    return _own_messages(path, on_progress)


def _own_messages(
    path: Path, on_progress: Callable[[int], None] | None
) -> Generator[RecordedMessage, None, None]:
    lines = _numbered_lines(path, on_progress)
    try:
        first = next(lines, None)
        if first is None:
            return
        if _header_of(path, *first) is not None:
            for line_no, raw in lines:
                yield _envelope_of(path, line_no, raw)
            return
        name = path.name
        yield RecordedMessage(name, 0, first[0], None, None, first[1], first[0])
        for line_no, raw in lines:
            yield RecordedMessage(name, 0, line_no, None, None, raw, line_no)
    finally:
        lines.close()


def _kcat_messages(
    path: Path, on_progress: Callable[[int], None] | None
) -> Generator[RecordedMessage, None, None]:
    for line_no, raw in _numbered_lines(path, on_progress):
        yield kcat_message(path, line_no, raw)


def _unplaced(message: RecordedMessage, path: Path) -> bool:
    """An unreadable line that stands at the file's name (`kcat_message`), not a partition."""
    return message.error is not None and message.topic == path.name


def _kcat_messages_in_time_order(
    path: Path, on_progress: Callable[[int], None] | None
) -> Generator[RecordedMessage, None, None]:
    """A first pass counts each partition's messages, which the merge needs to know when a
    partition has no more to come; the second reads them in order. A line that names no
    partition of its own (unreadable) is not counted: the merge hands it on as it meets it,
    where a last line cut short would otherwise hold the whole file back."""
    counts = Counter(
        (m.topic, m.partition) for m in _kcat_messages(path, None) if not _unplaced(m, path)
    )
    messages = _kcat_messages(path, on_progress)
    try:
        yield from merge_in_time_order(messages, counts)
    finally:
        messages.close()


def _put_bytes(fields: dict[str, Any], name: str, value: bytes | None) -> None:
    """Text when the bytes are UTF-8 (readable, and JSON keeps them exactly), else base64."""
    if value is None:
        fields[name] = None
        return
    try:
        fields[name] = value.decode()
    except UnicodeDecodeError:
        fields[name] = base64.b64encode(value).decode("ascii")
        fields[name + "_base64"] = True


def encode_envelope(message: RecordedMessage) -> bytes:
    """One line of a Kafka recording (without the newline)."""
    fields: dict[str, Any] = {
        "topic": message.topic,
        "partition": message.partition,
        "offset": message.offset,
        "timestamp_ms": message.timestamp_ms,
    }
    _put_bytes(fields, "key", message.key)
    _put_bytes(fields, "value", message.value)
    if message.headers:
        fields["headers"] = [_header_fields(name, value) for name, value in message.headers]
    return orjson.dumps(fields)


def _header_fields(name: str, value: bytes | None) -> dict[str, Any]:
    fields: dict[str, Any] = {"key": name}
    _put_bytes(fields, "value", value)
    return fields


class EnvelopeWriter:
    """Writes a Kafka recording: the header, then one envelope per message (gzip by name)."""

    def __init__(self, path: Path, header: RecordingHeader, *, gzipped: bool | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.count = 0
        self._handle = _open_binary(path, "w", gzipped=gzipped)
        self._handle.write(header.to_json() + b"\n")

    def write(self, message: RecordedMessage) -> None:
        self._handle.write(encode_envelope(message) + b"\n")
        self.count += 1

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> EnvelopeWriter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


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
