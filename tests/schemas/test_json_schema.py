"""The checked-in JSON Schema documents: up to date, valid draft 2020-12, and in agreement with
the decoder on valid and invalid messages."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from insession.schemas.codec import Rejection, decode, encode
from insession.schemas.events import CONTRACTS, Contract, Event, OrderLine
from insession.schemas.fields import field_specs
from insession.schemas.json_schema import (
    JSON_DIR,
    all_json_schemas,
    cross_field_rules,
    json_schema,
    main,
    render,
    stale_files,
    write_json_schemas,
)
from jsonschema import Draft202012Validator

from tests.schemas.strategies import DROP, EXAMPLES, T, message, valid_events
from tests.schemas.test_codec_properties import slots

SCHEMAS = all_json_schemas()
VALIDATORS = {name: Draft202012Validator(schema) for name, schema in SCHEMAS.items()}
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def schema_errors(msg: Any, name: str | None = None) -> list[str]:
    """What the JSON Schema of `name` (default: the message's own type) finds wrong."""
    if name is None:
        name = msg["type"] if isinstance(msg, dict) and msg.get("type") in SCHEMAS else "page_view"
    return [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATORS[name].iter_errors(msg)]


# --- (a) the checked-in documents ------------------------------------------------------------


def test_checked_in_documents_are_up_to_date() -> None:
    stale = stale_files(JSON_DIR)
    assert not stale, (
        f"schemas/json/ is out of date with schemas/events.py ({', '.join(stale)}); "
        "regenerate it with: python -m schemas.json_schema"
    )


def test_checked_in_documents_parse_to_the_generated_ones() -> None:
    on_disk = {
        p.name.removesuffix(".schema.json"): json.loads(p.read_text(encoding="utf-8"))
        for p in JSON_DIR.glob("*.schema.json")
    }
    assert on_disk == SCHEMAS


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_documents_are_valid_draft_2020_12(name: str) -> None:
    Draft202012Validator.check_schema(SCHEMAS[name])


def test_one_document_per_contract() -> None:
    assert sorted(SCHEMAS) == sorted(CONTRACTS)
    for name, cls in CONTRACTS.items():
        schema = SCHEMAS[name]
        assert schema["$id"] == f"https://insession.dev/schemas/{name}/1.json"
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["title"] == cls.__name__
        assert schema["description"] == cls.__doc__
        assert schema["additionalProperties"] is True
        assert list(schema["properties"]) == [f.name for f in field_specs(cls)]
        assert schema["required"][:2] == ["type", "schema_version"]
        assert schema["properties"]["type"]["const"] == name
        assert schema["properties"]["schema_version"]["pattern"] == "^1\\.[0-9]+$"


def test_document_details() -> None:
    purchase = SCHEMAS["purchase"]
    assert purchase["properties"]["lines"]["items"] == {"$ref": "#/$defs/OrderLine"}
    assert purchase["properties"]["lines"]["maxItems"] == 500
    line = purchase["$defs"]["OrderLine"]
    assert line["required"] == ["product_id"]
    assert line["description"] == OrderLine.__doc__
    assert line["properties"]["quantity"] == {
        "type": ["integer", "null"],
        "minimum": 1,
        "maximum": 10_000,
        "default": 1,
        "description": "Units bought.",
    }
    props = SCHEMAS["page_view"]["properties"]
    assert props["customer_id"]["type"] == ["string", "null"]
    assert props["event_time"] == {
        "type": "integer",
        "minimum": 946_684_800_000,
        "maximum": 4_102_444_800_000,
        "description": "When it happened, epoch milliseconds UTC.",
    }
    assert props["channel"]["enum"][0] == "web" and props["channel"]["type"] == "string"
    offer = SCHEMAS["offer"]["properties"]
    assert offer["reason_codes"]["items"] == {"type": "string", "minLength": 1, "maxLength": 64}
    assert offer["score"] == {
        "type": "number",
        "description": "Arbitration score of the chosen action.",
    }
    assert offer["probability"]["type"] == "number"
    method = SCHEMAS["identity_link"]["properties"]["method"]
    assert method["default"] == "login" and method["enum"][-1] is None
    assert SCHEMAS["consent"]["properties"]["granted"]["type"] == "boolean"


def test_a_product_update_document_describes_the_attributes_map() -> None:
    update = SCHEMAS["product_update"]
    assert update["required"] == ["type", "schema_version", "event_id", "event_time", "product_id"]
    assert "allOf" not in update, "no shopper rule: a product update names no customer"
    assert "customer_id" not in update["properties"]
    assert update["properties"]["attributes"] == {
        "type": ["object", "null"],
        "maxProperties": 20,
        "propertyNames": {"minLength": 1, "maxLength": 64},
        "additionalProperties": {"type": "string", "maxLength": 128},
        "default": None,
        "description": update["properties"]["attributes"]["description"],
    }
    assert update["properties"]["channel"]["default"] == "other"


def test_cross_field_rules_are_in_the_documents() -> None:
    assert "allOf" not in SCHEMAS["dead_letter"]
    [rule] = SCHEMAS["page_view"]["allOf"]
    assert rule["description"] == "customer_id or anonymous_id is required"
    assert [branch["required"] for branch in rule["anyOf"]] == [["customer_id"], ["anonymous_id"]]
    assert [r["description"] for r in SCHEMAS["identity_link"]["allOf"]] == [
        "anonymous_id is required for identity_link",
        "customer_id is required for identity_link",
    ]


def test_rules_are_declared_not_coded() -> None:
    # One violation(), on Event, reads RULES; subclasses only override RULES.
    for cls in CONTRACTS.values():
        assert [k for k in cls.__mro__ if "violation" in vars(k)] == (
            [Event] if issubclass(cls, Event) else []
        ), cls
        assert cross_field_rules(cls) is cls.RULES
        if not issubclass(cls, Event):
            assert cls.RULES == (), f"{cls.__name__}: only events have their RULES checked"
        names = {f.name for f in field_specs(cls)}
        for group in cls.RULES:
            assert group and set(group) <= names, (cls, group)
            assert all(not spec.required for spec in field_specs(cls) if spec.name in group), (
                cls,
                group,
            )
    assert cross_field_rules(OrderLine) == ()


def test_offer_may_go_to_an_anonymous_shopper() -> None:
    [rule] = SCHEMAS["offer"]["allOf"]
    assert rule == SCHEMAS["page_view"]["allOf"][0]
    msg = message("offer", customer_id=DROP, anonymous_id="a-1")
    assert schema_errors(msg) == []
    assert not isinstance(decode(orjson.dumps(msg)), Rejection)
    msg = message("offer", customer_id=None)
    assert schema_errors(msg) and isinstance(decode(orjson.dumps(msg)), Rejection)


def test_only_registered_contracts() -> None:
    with pytest.raises(ValueError, match="not a registered contract"):
        json_schema(Event)


def test_writer_and_check_mode(tmp_path: Path) -> None:
    (tmp_path / "retired.schema.json").write_text("{}\n")
    (tmp_path / "notes.txt").write_text("kept")
    paths = write_json_schemas(tmp_path)
    assert [p.name for p in paths] == sorted(f"{n}.schema.json" for n in CONTRACTS)
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert text.endswith("}\n") and text == render(SCHEMAS[path.name.split(".")[0]])
    assert not (tmp_path / "retired.schema.json").exists()
    assert (tmp_path / "notes.txt").read_text() == "kept"
    assert stale_files(tmp_path) == []
    assert main(["--check", str(tmp_path)]) == 0
    paths[0].write_text("{}\n")
    assert stale_files(tmp_path) == [paths[0].name]
    assert main(["--check", str(tmp_path)]) == 1
    assert main([str(tmp_path)]) == 0
    assert main(["--check", str(tmp_path)]) == 0


def test_render_is_stable() -> None:
    text = render(SCHEMAS["purchase"])
    assert text == render(json.loads(text))
    assert text.endswith("\n") and not text.endswith("\n\n")
    keys = json.loads(text, object_pairs_hook=lambda pairs: [k for k, _ in pairs])
    assert keys == sorted(keys)


# --- (b) valid events: both accept -----------------------------------------------------------


@PROPERTY_SETTINGS
@given(valid_events())
def test_valid_events_pass_the_schema_and_the_decoder(event: Contract) -> None:
    wire = encode(event)
    assert schema_errors(json.loads(wire)) == []
    assert decode(wire) == event


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_examples_pass_the_schema(name: str) -> None:
    assert schema_errors(EXAMPLES[name]) == []


def test_tolerated_variations_pass_both() -> None:
    for msg in (
        message("page_view", schema_version="1.42", utm_source="newsletter"),
        message("cart_add", quantity=None, currency=None),
        message("product_view", price=50),
        message("purchase", lines=[{"product_id": "p", "note": "gift"}]),
    ):
        assert schema_errors(msg) == []
        assert not isinstance(decode(orjson.dumps(msg)), Rejection)


# --- (c) invalid messages: both reject -------------------------------------------------------


def bad(case: str, name: str, reason: str, **changes: Any) -> tuple[str, str, dict[str, Any], str]:
    return case, name, message(name, **changes), reason


def _nested(field: str, value: Any) -> dict[str, Any]:
    msg = message("purchase")
    msg["lines"][1][field] = value
    return msg


def _without_nested(field: str) -> dict[str, Any]:
    msg = message("purchase")
    del msg["lines"][0][field]
    return msg


INVALID: list[tuple[str, str, dict[str, Any], str]] = [
    # wrong type
    bad("result_count as string", "search", "wrong_type", result_count="3"),
    bad("result_count as bool", "search", "wrong_type", result_count=True),
    bad("result_count fractional", "search", "wrong_type", result_count=2.5),
    bad("query as number", "search", "wrong_type", query=5),
    bad("granted as 1", "consent", "wrong_type", granted=1),
    bad("price as string", "product_view", "wrong_type", price="9.99"),
    bad("lines as object", "purchase", "wrong_type", lines={"product_id": "p"}),
    bad("line as string", "purchase", "wrong_type", lines=["p-1"]),
    ("nested quantity as string", "purchase", _nested("quantity", "2"), "wrong_type"),
    bad("list item as number", "offer", "wrong_type", items=["p-1", 2]),
    bad("list item null", "offer", "wrong_type", reason_codes=[None]),
    # missing
    bad("no event_id", "page_view", "missing_field", event_id=DROP),
    bad("null event_time", "page_view", "missing_field", event_time=None),
    bad("no lines", "purchase", "missing_field", lines=DROP),
    ("no nested product_id", "purchase", _without_nested("product_id"), "missing_field"),
    bad("no error", "dead_letter", "missing_field", error=DROP),
    bad("no type", "search", "unknown_type", type=DROP),
    bad("other type", "search", "missing_field", type="page_view"),
    bad("no version", "search", "unsupported_version", schema_version=DROP),
    bad("version 2", "search", "unsupported_version", schema_version="2.0"),
    bad("version not a string", "search", "unsupported_version", schema_version=1.0),
    bad("version with patch", "search", "unsupported_version", schema_version="1.0.1"),
    bad("unicode digit version", "search", "unsupported_version", schema_version="1.\u0660"),
    # cross-field rules
    bad("anonymous event", "search", "missing_field", anonymous_id=DROP),
    bad("consent without customer", "consent", "missing_field", customer_id=None, anonymous_id="a"),
    bad("link without device", "identity_link", "missing_field", anonymous_id=None),
    bad("post without author", "social_post", "missing_field", author_handle=DROP),
    bad("post without content", "social_post", "missing_field", text=None, score=DROP),
    # out of range
    bad("event_time in seconds", "page_view", "out_of_range", event_time=T // 1000),
    bad("event_time in microseconds", "page_view", "out_of_range", event_time=T * 1000),
    bad("quantity zero", "cart_remove", "out_of_range", quantity=0),
    bad("negative price", "product_view", "out_of_range", price=-0.5),
    bad("score above 1", "social_post", "out_of_range", score=1.5),
    bad("probability below 0", "offer", "out_of_range", probability=-0.1),
    bad("dwell over a day", "dwell", "out_of_range", dwell_ms=86_400_001),
    ("nested negative price", "purchase", _nested("unit_price", -1), "out_of_range"),
    # bad enum
    bad("channel fax", "page_view", "not_allowed", channel="fax"),
    bad("outcome maybe", "offer_feedback", "not_allowed", outcome="maybe"),
    bad("platform null", "social_post", "missing_field", platform=None),
    bad("method unknown", "identity_link", "not_allowed", method="sso"),
    # too long / too short
    bad("long product_id", "cart_add", "too_long", product_id="x" * 257),
    bad("long query", "search", "too_long", query="q" * 1025),
    bad("long currency", "checkout_start", "too_long", currency="EURO"),
    bad("long version", "search", "too_long", schema_version="1." + "0" * 15),
    bad("too many reason codes", "offer", "too_long", reason_codes=["r"] * 21),
    bad("too many product ids", "social_post", "too_long", product_ids=["p"] * 51),
    bad("long reason code", "offer", "too_long", reason_codes=["r" * 65]),
    bad("empty event_id", "page_view", "too_short", event_id=""),
    bad("short currency", "cart_add", "too_short", currency="EU"),
    bad("empty product id item", "social_post", "too_short", product_ids=[""]),
    # the catalogue feed's free attributes
    bad("attributes as list", "product_update", "wrong_type", attributes=["red"]),
    bad("attribute as number", "product_update", "wrong_type", attributes={"colour": 5}),
    bad("attribute null", "product_update", "wrong_type", attributes={"colour": None}),
    bad("long attribute", "product_update", "too_long", attributes={"colour": "r" * 129}),
    bad("long attribute name", "product_update", "too_long", attributes={"k" * 65: "x"}),
    bad("empty attribute name", "product_update", "too_short", attributes={"": "x"}),
    bad(
        "too many attributes",
        "product_update",
        "too_long",
        attributes={f"a{n}": "x" for n in range(21)},
    ),
    bad("stock as string", "product_update", "wrong_type", in_stock="yes"),
    bad("update without product", "product_update", "missing_field", product_id=DROP),
]


@pytest.mark.parametrize(("case", "name", "msg", "reason"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_messages_fail_both(case: str, name: str, msg: dict[str, Any], reason: str) -> None:
    result = decode(orjson.dumps(msg))
    assert isinstance(result, Rejection) and result.reason == reason, (case, result)
    assert schema_errors(msg, name), f"{case}: the JSON Schema of {name} accepts it"


# --- agreement beyond the examples -----------------------------------------------------------

RULE_FIELDS = ("customer_id", "anonymous_id", "author_handle", "text", "score")
FULL = {
    "customer_id": "c-1",
    "anonymous_id": "a-1",
    "author_handle": "@x",
    "text": "t",
    "score": 0.5,
}


@pytest.mark.parametrize("name", sorted(n for n, c in CONTRACTS.items() if issubclass(c, Event)))
def test_cross_field_rules_agree_for_every_combination(name: str) -> None:
    present = [f.name for f in field_specs(CONTRACTS[name]) if f.name in RULE_FIELDS]
    for count in range(len(present) + 1):
        for gone in itertools.combinations(present, count):
            for how in (DROP, None):
                msg = message(name, **{f: FULL[f] for f in present})
                msg.update({f: how for f in gone}) if how is None else [msg.pop(f) for f in gone]
                decoded = decode(orjson.dumps(msg))
                assert isinstance(decoded, Rejection) == bool(schema_errors(msg)), (gone, decoded)


def _agreeable_scalars() -> st.SearchStrategy[Any]:
    # JSON Schema's "integer" also matches 3.0 and orjson reads integers beyond 64 bits as
    # floats: leave those out, since there the two are known to differ.
    return (
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**63 - 1)
        | st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer())
        | st.text(max_size=6)
        | st.sampled_from(["1.0", "2.0", "web", "", "x" * 300])
    )


AGREEABLE = st.recursive(
    _agreeable_scalars(),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["product_id", "quantity", "x"]), inner, max_size=3)
    ),
    max_leaves=5,
)


@PROPERTY_SETTINGS
@given(valid_events(), st.data())
def test_schema_and_decoder_agree_on_changed_fields(event: Contract, data: st.DataObject) -> None:
    msg = orjson.loads(encode(event))
    for _ in range(data.draw(st.integers(1, 3), label="changes")):
        slot = data.draw(st.sampled_from(list(slots(type(event), msg))), label="slot")
        if data.draw(st.booleans(), label="drop") and isinstance(slot.key, str):
            del slot.container[slot.key]
        else:
            slot.container[slot.key] = data.draw(AGREEABLE, label="value")
    version = msg.get("schema_version")
    # Known differences: Python's `$` also matches before a final newline, and the decoder
    # reads the major version as a number ("01.0" is 1.0).
    assume(not (isinstance(version, str) and (version.endswith("\n") or version.startswith("0"))))
    decoded = decode(orjson.dumps(msg))
    errors = schema_errors(msg, event.type)
    assert isinstance(decoded, Rejection) == bool(errors), (decoded, errors)
