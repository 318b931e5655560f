"""Property tests: whatever bytes arrive, the decoder returns a contract or a well-formed
`Rejection` (known reason code, a field path that exists) and never raises; and its msgspec
fast path returns exactly what the checking decoder alone returns."""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from insession.schemas.codec import Rejection, decode_object, encode
from insession.schemas.events import CONTRACTS, Contract
from insession.schemas.fields import field_specs

from tests.schemas.decoders import decode
from tests.schemas.strategies import json_values, valid_events

KNOWN_REASONS = frozenset(
    {
        "empty",
        "too_large",
        "invalid_json",
        "not_an_object",
        "unknown_type",
        "unsupported_version",
        "missing_field",
        "wrong_type",
        "out_of_range",
        "too_long",
        "too_short",
        "not_allowed",
    }
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_SEGMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[[0-9]+\])*)")


def is_field_path(cls: type, path: str) -> bool:
    """Whether `path` (like `lines[1].product_id`) names a field, list or item of `cls`; in a
    map (`attributes.colour`), all that follows the map's name and a dot is a key."""
    annotation: Any = cls
    rest = path
    while True:
        segment, dot, rest = rest.partition(".")
        match = _SEGMENT.fullmatch(segment)
        if match is None or not dataclasses.is_dataclass(annotation):
            return False
        spec = next((f for f in field_specs(annotation) if f.name == match[1]), None)
        if spec is None:
            return False
        annotation = spec.annotation
        for _ in range(match[2].count("[")):
            if typing.get_origin(annotation) is not tuple:
                return False
            annotation = typing.get_args(annotation)[0]
        if not dot:
            return True
        if typing.get_origin(annotation) is dict:
            return bool(rest) and not match[2]


def test_is_field_path() -> None:
    purchase = CONTRACTS["purchase"]
    for good in ("type", "lines", "lines[0]", "lines[12].product_id", "customer_id"):
        assert is_field_path(purchase, good), good
    update = CONTRACTS["product_update"]
    for good in ("attributes", "attributes.colour", "attributes.a.b[0]"):
        assert is_field_path(update, good), good
    for bad in ("attributes.", "attributes[0]", "attributes[0].colour", "title.x"):
        assert not is_field_path(update, bad), bad
    for bad in (
        "",
        "line",
        "lines.product_id",
        "lines[0].nope",
        "total[0]",
        "lines[x]",
        "type.x",
        "lines[0][1]",
    ):
        assert not is_field_path(purchase, bad), bad


def check(result: Any, sent: Any = None) -> Any:
    """Assert that a decode result is well formed; `sent` is the parsed message, if any."""
    if isinstance(result, Rejection):
        assert result.reason in KNOWN_REASONS, result
        assert isinstance(result.detail, str) and result.detail, result
        if result.field is not None:
            kind = sent.get("type") if isinstance(sent, dict) else None
            known = CONTRACTS.get(kind) if type(kind) is str else None
            candidates = [known] if known is not None else list(CONTRACTS.values())
            assert any(is_field_path(cls, result.field) for cls in candidates), result
        assert str(result)
    else:
        assert isinstance(result, Contract), result
        assert type(result) is CONTRACTS[result.type]
        if isinstance(sent, dict):
            assert sent["type"] == result.type
        assert decode(encode(result)) == result
    return result


# --- garbage ---------------------------------------------------------------------------------


@FAST
@given(st.binary(max_size=300))
@example(b"\xef\xbb\xbf{}")  # UTF-8 byte order mark
@example(b"\x00")
@example(b'{"type": "page_view", "schema_version": "\xff"}')
def test_random_bytes(data: bytes) -> None:
    check(decode(data))


@FAST
@given(st.text(alphabet=st.characters(codec=None), max_size=100))
@example('{"type": "search", "query": "\ud800"}')  # a lone surrogate cannot be UTF-8
def test_random_text(text: str) -> None:
    check(decode(text))


@FAST
@given(json_values(max_leaves=20))
def test_random_json(value: Any) -> None:
    check(decode(orjson.dumps(value)), value)


@pytest.mark.parametrize(
    "wire",
    [
        b"[" * 100_000,
        b"[" * 5_000 + b"]" * 5_000,
        b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
        b"1" * 5_000,
        b"-" + b"9" * 400,
        b"0." + b"0" * 400 + b"1e-400",
    ],
)
def test_pathological_json(wire: bytes) -> None:
    check(decode(wire))


VERSIONS = st.sampled_from(["1.0", "1.3", "2.0", "0.1", "1", "1.x", "", "\u00b2.0", "1.\u0660"])
TYPES = st.sampled_from(sorted(CONTRACTS))


@st.composite
def random_objects(draw: st.DrawFn) -> dict[str, Any]:
    """Objects with a known `type` and that contract's keys, holding arbitrary values."""
    name = draw(TYPES)
    names = [f.name for f in field_specs(CONTRACTS[name])]
    obj = draw(
        st.dictionaries(
            st.sampled_from(names) | st.text(max_size=6),
            json_values(max_leaves=6),
            max_size=len(names),
        )
    )
    obj["type"] = name
    if draw(st.booleans()):
        obj["schema_version"] = draw(VERSIONS | json_values(max_leaves=2))
    else:
        obj["schema_version"] = "1.0"
    return obj


@FAST
@given(random_objects())
def test_random_objects_of_a_known_type(obj: dict[str, Any]) -> None:
    check(decode(orjson.dumps(obj)), obj)
    check(decode_object(obj), obj)


# --- damaged valid messages ------------------------------------------------------------------


@SLOW
@given(valid_events())
def test_every_prefix_of_a_valid_message_is_rejected(event: Contract) -> None:
    wire = encode(event)
    assert decode(wire) == event
    for end in range(len(wire)):
        result = check(decode(wire[:end]))
        assert isinstance(result, Rejection)
        assert result.reason == ("empty" if end == 0 else "invalid_json"), (end, result)


@FAST
@given(valid_events(), st.data())
def test_corrupted_valid_message(event: Contract, data: st.DataObject) -> None:
    wire = bytearray(encode(event))
    position = data.draw(st.integers(0, len(wire) - 1))
    operation = data.draw(st.sampled_from(["flip", "insert", "delete", "duplicate"]))
    byte = data.draw(st.integers(0, 255))
    if operation == "flip":
        wire[position] = byte
    elif operation == "insert":
        wire.insert(position, byte)
    elif operation == "delete":
        del wire[position]
    else:
        wire[position:position] = wire[position:]
    result = decode(bytes(wire))
    try:
        sent = orjson.loads(bytes(wire))
    except orjson.JSONDecodeError:
        sent = None
    check(result, sent)


@SLOW
@given(valid_events(), st.integers(1, 64))
def test_oversized_message_is_rejected_before_parsing(event: Contract, extra: int) -> None:
    wire = encode(event)
    assert check(decode(wire, max_bytes=len(wire))) == event
    result = check(decode(wire + b" " * extra, max_bytes=len(wire)))
    assert (result.reason, result.field) == ("too_large", None)
    result = check(decode(wire[:-1] + b"x" * extra + b"}", max_bytes=len(wire)))
    assert (result.reason, result.field) == ("too_large", None)


# --- wrongly typed fields --------------------------------------------------------------------

JSON_KINDS: dict[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "boolean": st.booleans(),
    "integer": st.integers(-(2**63), 2**63 - 1),
    "number": st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer()),
    "string": st.text(max_size=8),
    "array": st.lists(json_values(max_leaves=3), max_size=3),
    "object": st.dictionaries(st.text(max_size=5), json_values(max_leaves=3), max_size=3),
}


def accepted_kinds(annotation: Any) -> set[str]:
    if annotation is str:
        return {"string"}
    if annotation is bool:
        return {"boolean"}
    if annotation is int:
        return {"integer"}
    if annotation is float:
        return {"integer", "number"}
    if typing.get_origin(annotation) is tuple:
        return {"array"}
    assert typing.get_origin(annotation) is dict or dataclasses.is_dataclass(annotation)
    return {"object"}


@dataclasses.dataclass(frozen=True)
class Slot:
    """One place in a message: its path, its container and key, and what it must hold."""

    path: str
    container: Any
    key: Any
    annotation: Any
    required: bool
    item: bool = False
    """A list's item or a map's value (where null is a wrong type, not "absent")."""


def slots(cls: type, obj: dict[str, Any], prefix: str = "") -> Iterator[Slot]:
    for f in field_specs(cls):
        if f.name not in obj:
            continue
        path = prefix + f.name
        yield Slot(path, obj, f.name, f.annotation, f.required)
        value = obj[f.name]
        if typing.get_origin(f.annotation) is tuple and isinstance(value, list):
            item_type = typing.get_args(f.annotation)[0]
            for i, item in enumerate(value):
                yield Slot(f"{path}[{i}]", value, i, item_type, True, item=True)
                if dataclasses.is_dataclass(item_type) and isinstance(item, dict):
                    yield from slots(item_type, item, f"{path}[{i}].")
        if typing.get_origin(f.annotation) is dict and isinstance(value, dict):
            value_type = typing.get_args(f.annotation)[1]
            for key in value:
                yield Slot(f"{path}.{key}", value, key, value_type, True, item=True)


@FAST
@given(valid_events(), st.data())
def test_wrongly_typed_field_is_named(event: Contract, data: st.DataObject) -> None:
    msg = orjson.loads(encode(event))
    slot = data.draw(st.sampled_from(list(slots(type(event), msg))), label="slot")
    kind = data.draw(
        st.sampled_from(sorted(set(JSON_KINDS) - accepted_kinds(slot.annotation))), label="kind"
    )
    slot.container[slot.key] = data.draw(JSON_KINDS[kind], label="value")
    result = check(decode(orjson.dumps(msg)), msg)
    if slot.path == "type":
        expected = ("unknown_type", "type")
    elif slot.path == "schema_version":
        expected = ("unsupported_version", "schema_version")
    elif kind == "null" and slot.item:
        expected = ("wrong_type", slot.path)  # a list item or a map value cannot be null
    elif kind == "null" and not slot.required:
        return  # null means "absent": accepted, or a cross-field rule now fails
    elif kind == "null":
        expected = ("missing_field", slot.path)
    else:
        expected = ("wrong_type", slot.path)
    assert isinstance(result, Rejection), (slot.path, kind, result)
    assert (result.reason, result.field) == expected, result


@FAST
@given(valid_events(), st.data())
def test_any_value_in_any_field(event: Contract, data: st.DataObject) -> None:
    msg = orjson.loads(encode(event))
    slot = data.draw(st.sampled_from(list(slots(type(event), msg))), label="slot")
    slot.container[slot.key] = data.draw(json_values(max_leaves=4), label="value")
    check(decode(orjson.dumps(msg)), msg)


@FAST
@given(valid_events(), st.data())
def test_dropped_fields(event: Contract, data: st.DataObject) -> None:
    msg = orjson.loads(encode(event))
    names = sorted(msg)
    for name in data.draw(st.lists(st.sampled_from(names), unique=True), label="dropped"):
        del msg[name]
    result = check(decode(orjson.dumps(msg)), msg)
    if isinstance(result, Rejection) and result.reason == "missing_field":
        assert result.field not in msg or msg[result.field] is None
