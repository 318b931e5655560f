"""Decode bytes into contracts (validating) and encode contracts into bytes.

Decoding never raises on bad input: it returns a `Rejection` that names the field and the
reason, so that a stream can dead-letter the message and go on. Messages are first decoded by
msgspec decoders compiled from the same declarations (`schemas.typed_decoders`); whatever they
refuse is decoded again by the checking decoder, which says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from insession.schemas.events import CONTRACTS, SCHEMA_MAJOR, Contract, Event
from insession.schemas.fields import ContractViolation, build
from insession.schemas.typed_decoders import compile_decoders, decode_typed

DEFAULT_MAX_BYTES = 1_048_576


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a message could not be decoded: a reason code, the field, and a readable detail."""

    reason: str
    field: str | None
    detail: str

    def __str__(self) -> str:
        return f"{self.field}: {self.detail}" if self.field else self.detail


def _version_rejection(version: Any) -> Rejection | None:
    if type(version) is not str:
        return Rejection(
            "unsupported_version",
            "schema_version",
            "schema_version is required as a 'MAJOR.MINOR' string",
        )
    major, _, minor = version.partition(".")
    # isdigit() alone also admits digits such as '²' that int() cannot parse.
    if not (major.isascii() and major.isdigit() and minor.isascii() and minor.isdigit()):
        return Rejection(
            "unsupported_version",
            "schema_version",
            f"{version[:20]!r} is not a 'MAJOR.MINOR' version",
        )
    if int(major) != SCHEMA_MAJOR:
        return Rejection(
            "unsupported_version",
            "schema_version",
            f"major version {major} is not supported (this reader speaks {SCHEMA_MAJOR}.x)",
        )
    return None


def decode_object(obj: Any) -> Contract | Rejection:
    """Validate an already-parsed JSON value and build its contract."""
    if type(obj) is not dict:
        return Rejection("not_an_object", None, f"expected a JSON object, got {type(obj).__name__}")
    kind = obj.get("type")
    cls = CONTRACTS.get(kind) if type(kind) is str else None
    if cls is None:
        shown = repr(kind)[:60] if kind is not None else "nothing"
        return Rejection("unknown_type", "type", f"{shown} is not a known event type")
    rejection = _version_rejection(obj.get("schema_version"))
    if rejection is not None:
        return rejection
    try:
        contract = build(cls, obj)
    except ContractViolation as bad:
        return Rejection(bad.reason, bad.path, bad.detail)
    if isinstance(contract, Event):
        broken = contract.violation()
        if broken is not None:
            return Rejection(broken.reason, broken.path, broken.detail)
    return contract


TYPED_DECODERS = compile_decoders(CONTRACTS, SCHEMA_MAJOR)


def decode(
    raw: bytes | bytearray | memoryview | str, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> Contract | Rejection:
    """Parse and validate one message."""
    if type(raw) is bytes and 0 < len(raw) <= max_bytes:
        contract = decode_typed(raw, TYPED_DECODERS)
        if contract is not None and (
            not isinstance(contract, Event) or contract.violation() is None
        ):
            return contract
    return decode_checked(raw, max_bytes=max_bytes)


def decode_checked(
    raw: bytes | bytearray | memoryview | str | None, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> Contract | Rejection:
    """`decode` without the msgspec fast path: the checking decoder alone, which says why a
    message is refused (and is the baseline of `bench/decode_bench.py`)."""
    if raw is None:
        return Rejection("empty", None, "message has no value")
    if isinstance(raw, str):
        # The limit is in bytes: measure (and parse) the UTF-8 form, not the characters.
        # A lone surrogate cannot be UTF-8; keep it, so that orjson rejects it as invalid JSON.
        raw = raw.encode("utf-8", "surrogatepass")
    size = raw.nbytes if isinstance(raw, memoryview) else len(raw)
    if size == 0:
        return Rejection("empty", None, "message is empty")
    if size > max_bytes:
        return Rejection(
            "too_large", None, f"message is {size} bytes, over the {max_bytes}-byte limit"
        )
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as bad:
        return Rejection("invalid_json", None, f"not valid JSON: {bad}")
    return decode_object(obj)


def encode(contract: Contract) -> bytes:
    """Serialise a contract to its wire form (compact JSON, UTF-8)."""
    return orjson.dumps(contract)
