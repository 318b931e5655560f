"""The msgspec fast path: it takes the valid messages, and it leaves the contracts as declared.

That it never changes a result (same contract, same rejection) is asserted by every codec test,
through `tests.schemas.decoders.decode`."""

from __future__ import annotations

import dataclasses
import typing

import orjson
from hypothesis import HealthCheck, given, settings
from insession.schemas.codec import TYPED_DECODERS, decode, decode_checked, encode
from insession.schemas.events import CONTRACTS, SCHEMA_MAJOR, Contract, ProductView
from insession.schemas.typed_decoders import FAST_MINORS, decode_typed, fast_versions

from tests.schemas.strategies import message, valid_events


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_events())
def test_every_valid_event_of_a_fast_version_takes_the_fast_path(event: Contract) -> None:
    fast = event.schema_version in typing.get_args(fast_versions(SCHEMA_MAJOR))
    assert decode_typed(encode(event), TYPED_DECODERS) == (event if fast else None)


def test_type_found_when_it_is_not_the_first_key() -> None:
    msg = message("product_view")
    reordered = {key: msg[key] for key in sorted(msg, key=lambda k: k == "type")}
    raw = orjson.dumps(reordered)
    assert not raw.startswith(b'{"type"')
    assert decode_typed(raw, TYPED_DECODERS) == decode_checked(raw)


def test_a_wrong_guess_of_the_type_is_refused_not_believed() -> None:
    """A nested object's `type` found first names the wrong decoder, which refuses."""
    msg = {"extra": {"type": "search"}, **message("product_view")}
    raw = orjson.dumps(msg)
    assert decode_typed(raw, TYPED_DECODERS) is None
    assert isinstance(decode(raw), ProductView)


def test_messages_without_type_or_version_are_left_to_the_checking_decoder() -> None:
    for name in ("type", "schema_version"):
        msg = message("product_view")
        del msg[name]
        raw = orjson.dumps(msg)
        assert decode_typed(raw, TYPED_DECODERS) is None
        assert decode(raw).field == name


def test_versions_beyond_the_fast_ones_are_still_accepted() -> None:
    for version, fast in (("1.0", True), (f"1.{FAST_MINORS - 1}", True), ("1.100", False)):
        raw = orjson.dumps(message("search", schema_version=version))
        assert (decode_typed(raw, TYPED_DECODERS) is not None) is fast, version
        assert decode(raw).schema_version == version


def test_unknown_fields_are_skipped_without_being_parsed() -> None:
    """The one change the fast path makes: what only an unknown field holds is not refused."""
    raw = orjson.dumps(message("product_view"))[:-1] + b',"later":[1e400]}'
    assert isinstance(decode(raw), ProductView)
    assert decode_checked(raw).reason == "invalid_json"


def test_bytes_that_are_not_utf8_are_refused_anywhere() -> None:
    raw = orjson.dumps(message("product_view"))[:-1] + b',"later":"\xff"}'
    assert decode_typed(raw, TYPED_DECODERS) is None
    assert decode(raw).reason == "invalid_json"


def test_the_contracts_keep_their_declared_annotations_and_defaults() -> None:
    for cls in CONTRACTS.values():
        hints = typing.get_type_hints(cls, include_extras=True)
        assert all(typing.get_origin(hint) is not typing.Annotated for hint in hints.values())
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        assert defaults["type"] == cls.__name__ or defaults["type"] in CONTRACTS
        assert defaults["schema_version"] == "1.0"
    assert (
        ProductView(
            event_id="e",
            event_time=1_764_000_000_000,
            channel="web",
            anonymous_id="d",
            product_id="p",
        ).type
        == "product_view"
    )
