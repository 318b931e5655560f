"""Lines of kcat's JSON envelope (`kcat -C -J`) as kcat 1.7.1 writes them, for tests that
cannot run kcat itself."""

from __future__ import annotations

from insession.connectors.recorded_message import Headers


def _yajl_string(raw: bytes) -> bytes:
    """A JSON string as kcat's yajl writes it: quotes, backslashes and control characters
    escaped, every other byte copied as it is (UTF-8 or not)."""
    named = {b'"': b'\\"', b"\\": b"\\\\", b"\b": b"\\b", b"\f": b"\\f", b"\n": b"\\n",
             b"\r": b"\\r", b"\t": b"\\t"}  # fmt: skip
    out = bytearray(b'"')
    for byte in raw:
        char = bytes([byte])
        out += named.get(char) or (b"\\u%04X" % byte if byte < 0x20 else char)
    return bytes(out + b'"')


def kcat_line(
    topic: str,
    partition: int,
    offset: int,
    ts: int | None,
    key: bytes | None,
    payload: bytes | None,
    headers: Headers = (),
) -> bytes:
    """One line of `kcat -C -J`, field for field as kcat 1.7.1 writes it."""
    line = b'{"topic":%s,"partition":%d,"offset":%d,' % (
        _yajl_string(topic.encode()),
        partition,
        offset,
    )
    if ts is not None:
        line += b'"tstype":"create","ts":%d,' % ts
    line += b'"broker":1,'
    if headers:
        flat = [
            _yajl_string(part) if part is not None else b"null"
            for name, value in headers
            for part in (name.encode(), value)
        ]
        line += b'"headers":[' + b",".join(flat) + b"],"
    line += b'"key":' + (b"null" if key is None else _yajl_string(key))
    line += b',"payload":' + (b"null" if payload is None else _yajl_string(payload))
    return line + b"}"
