"""kcat's JSON envelope (`kcat -C -J`): one consumed message a line, read as a recorded message.

kcat writes `{"topic", "partition", "offset", "tstype", "ts", "broker", "headers", "key",
"payload"}` a message. `key` and `payload` are the message's bytes as a JSON string, or null;
kcat copies bytes that are not UTF-8 into the string unescaped. `ts` (epoch ms, of the kind
`tstype` names) is there only when the broker gave a timestamp, and `headers` only when the
message has some: a flat array of names and values, `["k1", "v1", "k2", null]`. With a schema
registry (`-s avro`) key and payload are decoded JSON instead, or null beside a `key_error` /
`payload_error` saying why decoding failed.

A line that holds no message as the engine would have read it from Kafka is not dropped: it
comes back with `error` set, so that a replay dead-letters it and reads on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson

from insession.connectors.recorded_message import Headers, RecordedMessage

KCAT_FIELDS = frozenset(("topic", "partition", "offset", "payload"))
"""Fields every kcat envelope has and no message of the engine's contracts does."""


class _NotAMessage(ValueError):
    """Why an envelope holds no message the engine can read."""


def loads_line(raw: bytes) -> Any:
    """A line as JSON (`ValueError` when it is none)."""
    return _parse(raw)[0]


def _parse(raw: bytes) -> tuple[Any, str]:
    """The line as JSON, and the error handler that turns its strings back into the bytes kcat
    was given. Strict parsers refuse the bytes that are not UTF-8 which kcat copies into its
    strings, so such a line is read again with them kept as surrogate escapes."""
    try:
        return orjson.loads(raw), "strict"
    except orjson.JSONDecodeError:
        pass
    try:
        text, handler = raw.decode(), "strict"
    except UnicodeDecodeError:
        text, handler = raw.decode("utf-8", "surrogateescape"), "surrogateescape"
    try:
        return json.loads(text), handler
    except RecursionError:
        raise ValueError("nested too deeply") from None


def is_kcat_envelope(fields: object) -> bool:
    """Whether a parsed line has the shape of kcat's envelope."""
    return type(fields) is dict and fields.keys() >= KCAT_FIELDS


def kcat_message(path: Path, line_no: int, raw: bytes) -> RecordedMessage:
    """The message of one line of a kcat recording, or (`error` set, the line as its value)
    why there is none: where the line names its topic, partition and offset, so does the
    message, else it stands at the file's name, partition 0, offset the line number."""
    where = f"{path}:{line_no}"

    def unreadable(why: str) -> RecordedMessage:
        error = f"{where}: not a kcat message envelope: {why}"
        return RecordedMessage(path.name, 0, line_no, None, None, raw, line_no, error=error)

    try:
        fields, handler = _parse(raw)
    except ValueError as bad:
        return unreadable(f"not JSON ({bad})")
    if type(fields) is not dict:
        return unreadable("not a JSON object")
    topic, partition, offset = fields.get("topic"), fields.get("partition"), fields.get("offset")
    if not (type(topic) is str and type(partition) is int and type(offset) is int):
        return unreadable("topic must be text, partition and offset whole numbers")
    try:
        return RecordedMessage(
            topic,
            partition,
            offset,
            _timestamp(fields),
            _bytes(fields, "key", handler),
            _bytes(fields, "payload", handler),
            line_no,
            _headers(fields.get("headers"), handler),
        )
    except _NotAMessage as why:
        stamp = fields.get("ts")
        return RecordedMessage(
            topic,
            partition,
            offset,
            stamp if type(stamp) is int and stamp >= 0 else None,
            None,
            raw,
            line_no,
            error=f"{where}: {why} ({topic} partition {partition} offset {offset})",
        )


def _timestamp(fields: dict[str, Any]) -> int | None:
    stamp = fields.get("ts")
    if stamp is None:
        return None
    if type(stamp) is not int:
        raise _NotAMessage("ts must be whole epoch milliseconds")
    return stamp if stamp >= 0 else None


def _encoded(text: str, handler: str) -> bytes:
    try:
        return text.encode("utf-8", handler)
    except UnicodeEncodeError:
        raise _NotAMessage("a string holds an escaped surrogate, which is no text") from None


def _bytes(fields: dict[str, Any], name: str, handler: str) -> bytes | None:
    """The key's or payload's bytes as they were on the broker."""
    what = "key" if name == "key" else "value"
    failed = fields.get(f"{name}_error")
    if failed is not None:
        raise _NotAMessage(f"kcat could not deserialise the {what}: {failed}")
    if name not in fields:
        if name == "key":
            return None  # kcat always writes one; a line made by hand may leave it out
        raise _NotAMessage("the envelope has no payload")
    value = fields[name]
    if value is None:
        return None
    if type(value) is not str:
        raise _NotAMessage(
            f"the {what} is decoded JSON, not the bytes sent (kcat -s): the engine reads the "
            "bytes, so record without -s"
        )
    return _encoded(value, handler)


def _headers(listed: object, handler: str) -> Headers:
    """kcat's flat array of names and values; the {name: value or [values]} map that its
    help text shows is read too."""
    if listed is None:
        return ()
    pairs: list[tuple[object, object]]
    if type(listed) is list and len(listed) % 2 == 0:
        pairs = list(zip(listed[::2], listed[1::2], strict=True))
    elif type(listed) is dict:
        pairs = [
            (name, value)
            for name, values in listed.items()
            for value in (values if type(values) is list else [values])
        ]
    else:
        raise _NotAMessage("headers must be kcat's array of names and values")
    headers: list[tuple[str, bytes | None]] = []
    for name, value in pairs:
        if type(name) is not str or not (value is None or type(value) is str):
            raise _NotAMessage("a header's name must be text and its value text or null")
        headers.append((name, None if value is None else _encoded(value, handler)))
    return tuple(headers)
