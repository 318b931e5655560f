"""Example-based tests of the decoder: what it accepts, and the reason, field and message of
every rejection."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import orjson
import pytest
from insession.schemas.codec import DEFAULT_MAX_BYTES, Rejection, decode_object, encode
from insession.schemas.events import (
    CONTRACTS,
    MAX_ATTRIBUTES,
    Event,
    OrderLine,
    PageView,
    ProductUpdate,
    Purchase,
    Stamped,
)
from insession.schemas.fields import MAX_EPOCH_MS, MIN_EPOCH_MS

from tests.schemas.decoders import decode
from tests.schemas.strategies import DROP, EXAMPLES, T, message


def raw(msg: Any) -> bytes:
    return orjson.dumps(msg)


def rejected(result: Any, reason: str, field: str | None) -> Rejection:
    assert isinstance(result, Rejection), f"expected a {reason} rejection, got {result!r}"
    assert (result.reason, result.field) == (reason, field), result
    return result


# --- accepted messages ----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_every_example_decodes_to_its_contract(name: str) -> None:
    result = decode(raw(EXAMPLES[name]))
    assert isinstance(result, CONTRACTS[name])


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_round_trip_of_every_contract(name: str) -> None:
    contract = decode(raw(EXAMPLES[name]))
    wire = encode(contract)
    assert decode(wire) == contract
    assert encode(decode(wire)) == wire
    written = orjson.loads(wire)
    # encode writes every declared field (absent optionals as null), then the example's values.
    assert list(written) == [f.name for f in dataclasses.fields(CONTRACTS[name])]
    assert {k: v for k, v in written.items() if k in EXAMPLES[name] and k != "lines"} == {
        k: v for k, v in EXAMPLES[name].items() if k != "lines"
    }


def test_decoded_values_are_typed() -> None:
    purchase = decode(raw(message("purchase")))
    assert isinstance(purchase, Purchase)
    assert purchase.lines == (
        OrderLine(product_id="p-1", quantity=2, unit_price=49.5, category="apparel"),
        OrderLine(product_id="p-2", quantity=1),
    )
    assert isinstance(purchase.lines, tuple)


def test_integer_is_accepted_for_a_float_field_and_becomes_a_float() -> None:
    result = decode(raw(message("product_view", price=50)))
    assert result.price == 50.0 and type(result.price) is float


def test_optional_fields_may_be_absent_or_null() -> None:
    result = decode(raw(message("cart_add", unit_price=None, currency=DROP, quantity=None)))
    assert (result.unit_price, result.currency, result.quantity) == (None, None, 1)


@pytest.mark.parametrize("version", ["1.0", "1.7", "1.10", "1.999"])
def test_newer_minor_version_is_accepted(version: str) -> None:
    result = decode(raw(message("page_view", schema_version=version)))
    assert isinstance(result, PageView)
    assert result.schema_version == version


def test_unknown_fields_are_tolerated_at_top_level_and_nested() -> None:
    msg = message("purchase", coupon={"code": "X"}, loyalty_tier="gold")
    msg["lines"][0]["gift_wrap"] = True
    result = decode(raw(msg))
    assert result == decode(raw(message("purchase")))


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview, lambda b: b.decode()])
def test_accepts_bytes_like_and_str(kind: Any) -> None:
    assert isinstance(decode(kind(raw(EXAMPLES["search"]))), CONTRACTS["search"])


def test_message_at_the_size_limit_is_accepted() -> None:
    wire = raw(EXAMPLES["search"])
    assert isinstance(decode(wire, max_bytes=len(wire)), CONTRACTS["search"])


def test_boundaries_are_inclusive() -> None:
    assert not isinstance(decode(raw(message("page_view", event_time=MIN_EPOCH_MS))), Rejection)
    assert not isinstance(decode(raw(message("page_view", event_time=MAX_EPOCH_MS))), Rejection)
    for score in (-1, 1, -1.0, 1.0):
        assert not isinstance(decode(raw(message("social_post", score=score))), Rejection)
    long_id = "x" * 256
    assert decode(raw(message("cart_add", product_id=long_id))).product_id == long_id


# --- empty, too_large, invalid_json, not_an_object ------------------------------------------


@pytest.mark.parametrize("value", [b"", bytearray(), "", None])
def test_empty(value: Any) -> None:
    result = rejected(decode(value), "empty", None)
    assert "message" in result.detail


def test_too_large() -> None:
    wire = raw(EXAMPLES["search"])
    result = rejected(decode(wire, max_bytes=len(wire) - 1), "too_large", None)
    assert result.detail == (f"message is {len(wire)} bytes, over the {len(wire) - 1}-byte limit")


def test_size_limit_of_a_str_counts_utf8_bytes_not_characters() -> None:
    text = raw(message("search", query="ä€😀" * 20)).decode()
    size = len(text.encode())
    assert size > len(text)
    assert isinstance(decode(text, max_bytes=size), CONTRACTS["search"])
    result = rejected(decode(text, max_bytes=len(text)), "too_large", None)
    assert result.detail == f"message is {size} bytes, over the {len(text)}-byte limit"


def test_size_limit_of_a_memoryview_counts_bytes_not_items() -> None:
    wire = raw(EXAMPLES["search"])
    wire += b" " * (-len(wire) % 4)
    view = memoryview(wire).cast("I")
    assert view.nbytes == len(wire) and len(view) == len(wire) // 4
    assert isinstance(decode(view, max_bytes=len(wire)), CONTRACTS["search"])
    result = rejected(decode(view, max_bytes=len(wire) - 1), "too_large", None)
    assert result.detail == (f"message is {len(wire)} bytes, over the {len(wire) - 1}-byte limit")


def test_too_large_by_default_limit() -> None:
    padded = raw(EXAMPLES["search"]) + b" " * DEFAULT_MAX_BYTES
    rejected(decode(padded), "too_large", None)


@pytest.mark.parametrize(
    "wire",
    [
        b"{",
        b"{'type': 'search'}",
        b'{"type": "search",}',
        b"not json",
        b'{"a": 1} {"b": 2}',
        b"\xff\xfe{}",
        b'{"type": "search", "result_count": NaN}',
        b'{"type": "search", "result_count": Infinity}',
        b'{"type": "search", "result_count": 1e400}',
        b'{"text": "\\ud800"}',
    ],
)
def test_invalid_json(wire: bytes) -> None:
    result = rejected(decode(wire), "invalid_json", None)
    assert result.detail.startswith("not valid JSON: ")


@pytest.mark.parametrize(
    ("wire", "got"),
    [
        (b"[]", "list"),
        (b"1", "int"),
        (b"1.5", "float"),
        (b'"x"', "str"),
        (b"null", "NoneType"),
        (b"true", "bool"),
    ],
)
def test_not_an_object(wire: bytes, got: str) -> None:
    result = rejected(decode(wire), "not_an_object", None)
    assert result.detail == f"expected a JSON object, got {got}"


# --- unknown_type, unsupported_version -------------------------------------------------------


@pytest.mark.parametrize(
    ("type_value", "shown"),
    [
        (DROP, "nothing"),
        (None, "nothing"),
        ("click", "'click'"),
        ("PAGE_VIEW", "'PAGE_VIEW'"),
        (5, "5"),
        (["page_view"], "['page_view']"),
        ("OrderLine", "'OrderLine'"),
    ],
)
def test_unknown_type(type_value: Any, shown: str) -> None:
    result = rejected(decode(raw(message("page_view", type=type_value))), "unknown_type", "type")
    assert result.detail == f"{shown} is not a known event type"
    assert str(result) == f"type: {shown} is not a known event type"


def test_unknown_type_detail_is_truncated() -> None:
    result = rejected(decode(raw(message("page_view", type="x" * 500))), "unknown_type", "type")
    assert len(result.detail) < 100


@pytest.mark.parametrize(
    ("version", "detail"),
    [
        (DROP, "schema_version is required as a 'MAJOR.MINOR' string"),
        (None, "schema_version is required as a 'MAJOR.MINOR' string"),
        (1.0, "schema_version is required as a 'MAJOR.MINOR' string"),
        (1, "schema_version is required as a 'MAJOR.MINOR' string"),
        ("2.0", "major version 2 is not supported (this reader speaks 1.x)"),
        ("0.9", "major version 0 is not supported (this reader speaks 1.x)"),
        ("1", "'1' is not a 'MAJOR.MINOR' version"),
        ("1.", "'1.' is not a 'MAJOR.MINOR' version"),
        ("v1.0", "'v1.0' is not a 'MAJOR.MINOR' version"),
        ("1.0.0", "'1.0.0' is not a 'MAJOR.MINOR' version"),
        ("1.0-beta", "'1.0-beta' is not a 'MAJOR.MINOR' version"),
        ("", "'' is not a 'MAJOR.MINOR' version"),
        # Unicode digits pass str.isdigit() but are not versions (the first used to crash).
        ("\u00b2.0", "'².0' is not a 'MAJOR.MINOR' version"),
        ("1.\u0660", "'1.٠' is not a 'MAJOR.MINOR' version"),
    ],
)
def test_unsupported_version(version: Any, detail: str) -> None:
    msg = message("page_view", schema_version=version)
    result = rejected(decode(raw(msg)), "unsupported_version", "schema_version")
    assert result.detail == detail


def test_type_is_checked_before_version() -> None:
    msg = message("page_view", type="nope", schema_version="9.0")
    rejected(decode(raw(msg)), "unknown_type", "type")


# --- missing_field ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("page_view", "event_id"),
        ("page_view", "event_time"),
        ("page_view", "channel"),
        ("page_view", "page_type"),
        ("search", "query"),
        ("search", "result_count"),
        ("purchase", "lines"),
        ("purchase", "order_id"),
        ("consent", "granted"),
        ("offer", "reason_codes"),
        ("dead_letter", "failed_at"),
        ("dead_letter", "error"),
    ],
)
def test_missing_required_field(name: str, field: str) -> None:
    result = rejected(decode(raw(message(name, **{field: DROP}))), "missing_field", field)
    assert result.detail == "is required"
    assert str(result) == f"{field}: is required"


def test_null_required_field() -> None:
    result = rejected(decode(raw(message("search", query=None))), "missing_field", "query")
    assert result.detail == "must not be null"


def test_missing_nested_field() -> None:
    msg = message("purchase")
    del msg["lines"][1]["product_id"]
    result = rejected(decode(raw(msg)), "missing_field", "lines[1].product_id")
    assert str(result) == "lines[1].product_id: is required"


@pytest.mark.parametrize(
    ("name", "changes", "field", "detail"),
    [
        (
            "page_view",
            {"anonymous_id": DROP},
            "customer_id",
            "customer_id or anonymous_id is required",
        ),
        (
            "page_view",
            {"anonymous_id": None, "customer_id": None},
            "customer_id",
            "customer_id or anonymous_id is required",
        ),
        (
            "consent",
            {"customer_id": DROP, "anonymous_id": "a-1"},
            "customer_id",
            "is required for consent",
        ),
        (
            "erasure_request",
            {"customer_id": DROP, "anonymous_id": "a-1"},
            "customer_id",
            "is required for erasure_request",
        ),
        (
            "offer_feedback",
            {"customer_id": DROP, "anonymous_id": "a-1"},
            "customer_id",
            "is required for offer_feedback",
        ),
        ("offer", {"customer_id": DROP}, "customer_id", "customer_id or anonymous_id is required"),
        (
            "offer",
            {"customer_id": None, "anonymous_id": None},
            "customer_id",
            "customer_id or anonymous_id is required",
        ),
        ("identity_link", {"anonymous_id": DROP}, "anonymous_id", "is required for identity_link"),
        ("identity_link", {"customer_id": DROP}, "customer_id", "is required for identity_link"),
        (
            "social_post",
            {"author_handle": DROP},
            "customer_id",
            "customer_id or author_handle is required",
        ),
        ("social_post", {"text": DROP, "score": None}, "text", "text or score is required"),
    ],
)
def test_cross_field_rules(name: str, changes: dict[str, Any], field: str, detail: str) -> None:
    result = rejected(decode(raw(message(name, **changes))), "missing_field", field)
    assert result.detail == detail


def test_cross_field_alternatives_are_accepted() -> None:
    assert not isinstance(
        decode(raw(message("page_view", anonymous_id=DROP, customer_id="c-1"))), Rejection
    )
    # A social post needs no customer_id or anonymous_id when it names its author.
    assert not isinstance(decode(raw(message("social_post"))), Rejection)
    assert not isinstance(
        decode(raw(message("social_post", author_handle=DROP, customer_id="c-1", text=DROP))),
        Rejection,
    )
    # The engine makes help and content offers to shoppers not yet identified.
    offer = decode(raw(message("offer", customer_id=DROP, anonymous_id="a-1", kind="help")))
    assert not isinstance(offer, Rejection)
    assert (offer.customer_id, offer.anonymous_id) == (None, "a-1")


def test_field_errors_come_before_cross_field_rules() -> None:
    msg = message("page_view", anonymous_id=DROP, channel="fax")
    rejected(decode(raw(msg)), "not_allowed", "channel")


# --- wrong_type ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "field", "value", "detail"),
    [
        ("search", "result_count", "3", "expected an integer, got str"),
        ("search", "result_count", 3.5, "expected an integer, got float"),
        ("search", "result_count", 3.0, "expected an integer, got float"),
        ("search", "result_count", True, "expected an integer, got bool"),
        ("search", "result_count", False, "expected an integer, got bool"),
        ("page_view", "event_time", [T], "expected an integer, got list"),
        ("search", "query", 5, "expected a string, got int"),
        ("search", "query", {"q": "x"}, "expected a string, got dict"),
        ("page_view", "event_id", True, "expected a string, got bool"),
        ("product_view", "price", "9.99", "expected a number, got str"),
        ("product_view", "price", True, "expected a number, got bool"),
        ("consent", "granted", 1, "expected true or false, got int"),
        ("consent", "granted", "true", "expected true or false, got str"),
        ("purchase", "lines", {"product_id": "p"}, "expected a list, got dict"),
        ("purchase", "lines", "p-1", "expected a list, got str"),
        ("offer", "reason_codes", "why", "expected a list, got str"),
    ],
)
def test_wrong_type(name: str, field: str, value: Any, detail: str) -> None:
    result = rejected(decode(raw(message(name, **{field: value}))), "wrong_type", field)
    assert result.detail == detail
    assert str(result) == f"{field}: {detail}"


def test_bool_is_not_an_integer_even_in_range() -> None:
    # bool is a subclass of int in Python; on the wire true is not 1.
    rejected(decode(raw(message("cart_add", quantity=True))), "wrong_type", "quantity")


@pytest.mark.parametrize(
    ("path", "mutate", "detail"),
    [
        ("lines[1]", lambda m: m["lines"].__setitem__(1, "p-2"), "expected an object, got str"),
        ("lines[0]", lambda m: m["lines"].__setitem__(0, None), "expected an object, got null"),
        (
            "lines[1].quantity",
            lambda m: m["lines"][1].__setitem__("quantity", "2"),
            "expected an integer, got str",
        ),
        (
            "lines[1].product_id",
            lambda m: m["lines"][1].__setitem__("product_id", 7),
            "expected a string, got int",
        ),
    ],
)
def test_wrong_type_nested(path: str, mutate: Any, detail: str) -> None:
    msg = message("purchase")
    mutate(msg)
    result = rejected(decode(raw(msg)), "wrong_type", path)
    assert result.detail == detail


def test_wrong_type_of_list_item() -> None:
    msg = message("social_post", product_ids=["p-1", 2])
    result = rejected(decode(raw(msg)), "wrong_type", "product_ids[1]")
    assert result.detail == "expected a string, got int"
    msg = message("offer", items=["p-1", None])
    rejected(decode(raw(msg)), "wrong_type", "items[1]")


# --- out_of_range ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "field", "value", "detail"),
    [
        # Seconds instead of milliseconds: the message shows the exact bound, not 9.46685e+11.
        ("page_view", "event_time", T // 1000, f"{T // 1000} is below the minimum 946684800000"),
        ("page_view", "event_time", T * 1000, f"{T * 1000} is above the maximum 4102444800000"),
        (
            "page_view",
            "event_time",
            MIN_EPOCH_MS - 1,
            "946684799999 is below the minimum 946684800000",
        ),
        ("cart_add", "quantity", 0, "0 is below the minimum 1"),
        ("cart_add", "quantity", 10_001, "10001 is above the maximum 10000"),
        ("search", "result_count", -1, "-1 is below the minimum 0"),
        ("dwell", "dwell_ms", 86_400_001, "86400001 is above the maximum 86400000"),
        ("product_view", "price", -0.01, "-0.01 is below the minimum 0"),
        ("social_post", "score", 1.5, "1.5 is above the maximum 1"),
        ("social_post", "score", -1.01, "-1.01 is below the minimum -1"),
        ("offer", "probability", 1.0001, "1.0001 is above the maximum 1"),
        ("dead_letter", "source_offset", -5, "-5 is below the minimum 0"),
    ],
)
def test_out_of_range(name: str, field: str, value: Any, detail: str) -> None:
    result = rejected(decode(raw(message(name, **{field: value}))), "out_of_range", field)
    assert result.detail == detail


def test_out_of_range_nested() -> None:
    msg = message("purchase")
    msg["lines"][1]["unit_price"] = -1
    result = rejected(decode(raw(msg)), "out_of_range", "lines[1].unit_price")
    assert result.detail == "-1 is below the minimum 0"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_rejected(value: float) -> None:
    # JSON text cannot carry NaN or infinity (see test_invalid_json); a parsed object can.
    result = rejected(decode_object(message("offer", score=value)), "out_of_range", "score")
    assert result.detail == "must be a finite number"
    result = rejected(
        decode_object(message("offer", probability=value)), "out_of_range", "probability"
    )
    assert result.detail == "must be a finite number"


def test_not_an_object_from_decode_object() -> None:
    rejected(decode_object([1]), "not_an_object", None)


# --- too_long, too_short, not_allowed --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "field", "value", "detail"),
    [
        ("cart_add", "product_id", "x" * 257, "has 257 characters, at most 256 allowed"),
        ("search", "query", "q" * 1025, "has 1025 characters, at most 1024 allowed"),
        ("product_view", "currency", "EURO", "has 4 characters, at most 3 allowed"),
        ("page_view", "schema_version", "1." + "0" * 15, "has 17 characters, at most 16 allowed"),
        ("social_post", "text", "é" * 4097, "has 4097 characters, at most 4096 allowed"),
        ("social_post", "product_ids", ["p"] * 51, "has 51 items, at most 50 allowed"),
        ("offer", "reason_codes", ["r"] * 21, "has 21 items, at most 20 allowed"),
        ("purchase", "lines", [{"product_id": "p"}] * 501, "has 501 items, at most 500 allowed"),
    ],
)
def test_too_long(name: str, field: str, value: Any, detail: str) -> None:
    result = rejected(decode(raw(message(name, **{field: value}))), "too_long", field)
    assert result.detail == detail


def test_too_long_counts_characters_not_bytes() -> None:
    assert not isinstance(decode(raw(message("cart_add", product_id="é" * 256))), Rejection)


def test_too_long_list_item() -> None:
    msg = message("offer", reason_codes=["ok", "r" * 65])
    result = rejected(decode(raw(msg)), "too_long", "reason_codes[1]")
    assert result.detail == "has 65 characters, at most 64 allowed"


@pytest.mark.parametrize(
    ("name", "field", "value", "detail"),
    [
        ("page_view", "event_id", "", "must have at least 1 character"),
        ("page_view", "customer_id", "", "must have at least 1 character"),
        ("page_view", "page_type", "", "must have at least 1 character"),
        ("product_view", "currency", "EU", "must have at least 3 characters"),
        ("dead_letter", "stage", "", "must have at least 1 character"),
    ],
)
def test_too_short(name: str, field: str, value: Any, detail: str) -> None:
    result = rejected(decode(raw(message(name, **{field: value}))), "too_short", field)
    assert result.detail == detail


def test_too_short_list_item_and_nested() -> None:
    rejected(
        decode(raw(message("social_post", product_ids=["p-1", ""]))), "too_short", "product_ids[1]"
    )
    msg = message("purchase")
    msg["lines"][1]["product_id"] = ""
    rejected(decode(raw(msg)), "too_short", "lines[1].product_id")


@pytest.mark.parametrize(
    ("name", "field", "value", "detail"),
    [
        (
            "page_view",
            "channel",
            "fax",
            "'fax' is not one of web, app, whatsapp, instagram, tiktok, store, email, "
            "call_center, other",
        ),
        (
            "page_view",
            "channel",
            "WEB",
            "'WEB' is not one of web, app, whatsapp, instagram, tiktok, store, email, "
            "call_center, other",
        ),
        (
            "offer_feedback",
            "outcome",
            "maybe",
            "'maybe' is not one of shown, clicked, accepted, dismissed",
        ),
        (
            "consent",
            "purpose",
            "sales",
            "'sales' is not one of personalisation, marketing, analytics",
        ),
        (
            "identity_link",
            "method",
            "",
            "'' is not one of login, signup, email_link, loyalty_card, checkout, other",
        ),
    ],
)
def test_not_allowed(name: str, field: str, value: Any, detail: str) -> None:
    result = rejected(decode(raw(message(name, **{field: value}))), "not_allowed", field)
    assert result.detail == detail


def test_not_allowed_detail_is_truncated() -> None:
    result = rejected(
        decode(raw(message("page_view", channel="z" * 200))), "not_allowed", "channel"
    )
    assert result.detail.startswith("'" + "z" * 40 + "' is not one of")


# --- Rejection -------------------------------------------------------------------------------


def test_rejection_str_without_a_field() -> None:
    assert str(Rejection("empty", None, "message is empty")) == "message is empty"
    assert str(Rejection("too_long", "a.b", "too long")) == "a.b: too long"


# --- product_update: the catalogue feed -------------------------------------------------------


def test_a_product_update_names_no_shopper_and_states_only_what_it_carries() -> None:
    update = decode(raw(message("product_update")))
    assert isinstance(update, ProductUpdate) and not isinstance(update, Event)
    assert isinstance(update, Stamped) and update.partition_key() == "p-1"
    assert update.attributes == {"colour": "red", "size": "M"}
    # A stock change alone: the rest is not stated (None), the channel defaults to "other".
    only_stock = message("product_update", in_stock=False, channel=DROP, withdrawn=DROP)
    for name in ("title", "price", "currency", "category", "brand", "url", "image", "attributes"):
        only_stock.pop(name)
    small = decode(raw(only_stock))
    assert isinstance(small, ProductUpdate)
    assert (small.channel, small.in_stock, small.withdrawn, small.price, small.attributes) == (
        "other",
        False,
        None,
        None,
        None,
    )
    # Shopper fields on it are unknown fields: ignored, never a customer.
    assert decode(raw(message("product_update", customer_id="c-1"))) == update


@pytest.mark.parametrize(
    ("changes", "reason", "field", "detail"),
    [
        ({"product_id": DROP}, "missing_field", "product_id", "is required"),
        ({"price": -1}, "out_of_range", "price", "-1 is below the minimum 0"),
        ({"in_stock": "yes"}, "wrong_type", "in_stock", "expected true or false, got str"),
        ({"withdrawn": 1}, "wrong_type", "withdrawn", "expected true or false, got int"),
        ({"title": ""}, "too_short", "title", "must have at least 1 character"),
        ({"attributes": ["red"]}, "wrong_type", "attributes", "expected an object, got list"),
        (
            {"attributes": {"colour": 5}},
            "wrong_type",
            "attributes.colour",
            "expected a string, got int",
        ),
        (
            {"attributes": {"size": "M", "colour": None}},
            "wrong_type",
            "attributes.colour",
            "expected a string, got null",
        ),
        (
            {"attributes": {"material": "m" * 129}},
            "too_long",
            "attributes.material",
            "has 129 characters, at most 128 allowed",
        ),
        (
            {"attributes": {"k" * 65: "x"}},
            "too_long",
            "attributes",
            f"key {'k' * 40!r} has 65 characters, at most 64 allowed",
        ),
        (
            {"attributes": {"": "x"}},
            "too_short",
            "attributes",
            "keys must have at least 1 character",
        ),
        (
            {"attributes": {f"a{n}": "x" for n in range(MAX_ATTRIBUTES + 1)}},
            "too_long",
            "attributes",
            f"has {MAX_ATTRIBUTES + 1} entries, at most {MAX_ATTRIBUTES} allowed",
        ),
    ],
)
def test_a_bad_product_update_is_rejected_naming_the_field(
    changes: dict[str, Any], reason: str, field: str, detail: str
) -> None:
    result = rejected(decode(raw(message("product_update", **changes))), reason, field)
    assert result.detail == detail


def test_attributes_at_their_limits_are_accepted() -> None:
    attributes = {f"{n:064d}": "v" * 128 for n in range(MAX_ATTRIBUTES)}
    update = decode(raw(message("product_update", attributes=attributes)))
    assert isinstance(update, ProductUpdate) and update.attributes == attributes
