"""Hypothesis strategies and example messages for the event contracts.

`valid_events()` draws valid contract objects of any type (or of the given types). It is
derived from the same declarations as the decoder (`field_specs`) and the JSON Schema
documents (each contract's `RULES`), so it follows the contracts as they change.
"""

from __future__ import annotations

import copy
import dataclasses
import typing
from collections.abc import Iterable
from typing import Any

from hypothesis import strategies as st
from insession.schemas.events import CONTRACTS, SCHEMA_MAJOR, SCHEMA_VERSION, Contract, Event
from insession.schemas.fields import MAX_ITEMS, MAX_KEY, MAX_TEXT, Constraints, field_specs

SHORT = 24
"""Longest string drawn below a field's limit; strings at the exact limit are drawn too."""
EXACT_LIMIT_UP_TO = 256
"""Draw strings of exactly `max_length` characters for limits up to this."""
MAX_DRAWN_ITEMS = 4

INT64 = (-(2**63), 2**63 - 1)
"""orjson writes integers in this range (and reads them back as integers)."""


def _strings(c: Constraints) -> st.SearchStrategy[str]:
    if c.choices is not None:
        return st.sampled_from(c.choices)
    low = c.min_length or 0
    high = c.max_length if c.max_length is not None else MAX_TEXT
    strategy = st.text(min_size=low, max_size=max(low, min(high, SHORT)))
    if high <= EXACT_LIMIT_UP_TO:
        strategy |= st.text(min_size=high, max_size=high)
    return strategy


def value_strategy(annotation: Any, c: Constraints) -> st.SearchStrategy[Any]:
    """Valid non-null values for a field with this (non-optional) annotation."""
    if annotation is str:
        return _strings(c)
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        low = int(c.minimum) if c.minimum is not None else INT64[0]
        high = int(c.maximum) if c.maximum is not None else INT64[1]
        return st.integers(low, high)
    if annotation is float:
        return st.floats(c.minimum, c.maximum, allow_nan=False, allow_infinity=False)
    if typing.get_origin(annotation) is tuple:
        item_type = typing.get_args(annotation)[0]
        item_constraints = (
            Constraints(choices=c.choices, min_length=c.min_length, max_length=c.max_length)
            if item_type is str
            else Constraints()
        )
        limit = c.max_items if c.max_items is not None else MAX_ITEMS
        items = value_strategy(item_type, item_constraints)
        return st.lists(items, max_size=min(limit, MAX_DRAWN_ITEMS)).map(tuple)
    if typing.get_origin(annotation) is dict:
        limit = c.max_items if c.max_items is not None else MAX_ITEMS
        keys = st.text(min_size=1, max_size=SHORT) | st.text(min_size=MAX_KEY, max_size=MAX_KEY)
        values = _strings(Constraints(min_length=c.min_length, max_length=c.max_length))
        return st.dictionaries(keys, values, max_size=min(limit, MAX_DRAWN_ITEMS))
    if dataclasses.is_dataclass(annotation):
        return _instances(annotation, forced=frozenset())
    raise TypeError(f"no strategy for {annotation!r}")


def _instances(cls: type, forced: frozenset[str]) -> st.SearchStrategy[Any]:
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for f in field_specs(cls):
        if f.name == "schema_version":
            values = st.just(SCHEMA_VERSION) | st.integers(0, 10**6).map(
                lambda minor: f"{SCHEMA_MAJOR}.{minor}"
            )
        else:
            values = value_strategy(f.annotation, f.constraints)
        if f.required or f.name in forced:
            required[f.name] = values
        else:
            optional[f.name] = st.none() | values if f.nullable else values
    return st.fixed_dictionaries(required, optional=optional).map(lambda kw: cls(**kw))


def _satisfied(contract: Contract) -> bool:
    return not isinstance(contract, Event) or contract.violation() is None


@st.composite
def _contract_events(draw: st.DrawFn, cls: type[Contract]) -> Contract:
    # Make one field of every cross-field rule group present, so no draws are wasted.
    forced = frozenset(draw(st.sampled_from(group)) for group in cls.RULES)
    return draw(_instances(cls, forced).filter(_satisfied))


def contract_events(cls: type[Contract]) -> st.SearchStrategy[Contract]:
    """Valid instances of one contract class."""
    return _contract_events(cls)


def valid_events(types: Iterable[str] | None = None) -> st.SearchStrategy[Contract]:
    """Valid contract objects of any registered type (or of the named `types`)."""
    names = sorted(CONTRACTS) if types is None else list(types)
    return st.one_of([contract_events(CONTRACTS[name]) for name in names])


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Arbitrary JSON values (as Python objects orjson can write)."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(*INT64)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=12)
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


# --- hand-written examples -------------------------------------------------------------------

T = 1_732_450_000_000  # 2024-11-24, epoch milliseconds

EXAMPLES: dict[str, dict[str, Any]] = {
    "page_view": {
        "type": "page_view",
        "schema_version": "1.0",
        "event_id": "e-1",
        "event_time": T,
        "channel": "web",
        "anonymous_id": "a-1",
        "session_id": "s-1",
        "page_type": "category",
        "url": "/c/jackets",
        "category": "apparel.jacket",
    },
    "product_view": {
        "type": "product_view",
        "schema_version": "1.0",
        "event_id": "e-2",
        "event_time": T,
        "channel": "app",
        "customer_id": "c-1",
        "product_id": "p-1",
        "price": 49.5,
        "currency": "EUR",
        "category": "apparel.jacket",
        "brand": "Acme",
    },
    "search": {
        "type": "search",
        "schema_version": "1.0",
        "event_id": "e-3",
        "event_time": T,
        "channel": "web",
        "anonymous_id": "a-1",
        "query": "rain jacket",
        "result_count": 0,
    },
    "dwell": {
        "type": "dwell",
        "schema_version": "1.0",
        "event_id": "e-4",
        "event_time": T,
        "channel": "web",
        "customer_id": "c-1",
        "dwell_ms": 12_000,
        "product_id": "p-1",
    },
    "cart_add": {
        "type": "cart_add",
        "schema_version": "1.0",
        "event_id": "e-5",
        "event_time": T,
        "channel": "web",
        "customer_id": "c-1",
        "product_id": "p-1",
        "quantity": 2,
        "unit_price": 49.5,
        "currency": "EUR",
        "category": "apparel.jacket",
    },
    "cart_remove": {
        "type": "cart_remove",
        "schema_version": "1.0",
        "event_id": "e-6",
        "event_time": T,
        "channel": "web",
        "customer_id": "c-1",
        "product_id": "p-1",
        "quantity": 1,
    },
    "checkout_start": {
        "type": "checkout_start",
        "schema_version": "1.0",
        "event_id": "e-7",
        "event_time": T,
        "channel": "web",
        "customer_id": "c-1",
        "cart_value": 99.0,
        "currency": "EUR",
    },
    "purchase": {
        "type": "purchase",
        "schema_version": "1.0",
        "event_id": "e-8",
        "event_time": T,
        "channel": "store",
        "customer_id": "c-1",
        "order_id": "o-1",
        "lines": [
            {"product_id": "p-1", "quantity": 2, "unit_price": 49.5, "category": "apparel"},
            {"product_id": "p-2"},
        ],
        "total": 99.0,
        "currency": "EUR",
    },
    "social_post": {
        "type": "social_post",
        "schema_version": "1.0",
        "event_id": "e-9",
        "event_time": T,
        "channel": "instagram",
        "author_handle": "@someone",
        "platform": "instagram",
        "text": "love the new jacket",
        "score": 0.8,
        "product_ids": ["p-1"],
        "brand": "Acme",
    },
    "identity_link": {
        "type": "identity_link",
        "schema_version": "1.0",
        "event_id": "e-10",
        "event_time": T,
        "channel": "web",
        "customer_id": "c-1",
        "anonymous_id": "a-1",
        "method": "login",
    },
    "consent": {
        "type": "consent",
        "schema_version": "1.0",
        "event_id": "e-11",
        "event_time": T,
        "channel": "web",
        "customer_id": "c-1",
        "granted": True,
        "purpose": "marketing",
    },
    "erasure_request": {
        "type": "erasure_request",
        "schema_version": "1.0",
        "event_id": "e-12",
        "event_time": T,
        "channel": "email",
        "customer_id": "c-1",
        "request_id": "r-1",
    },
    "offer_feedback": {
        "type": "offer_feedback",
        "schema_version": "1.0",
        "event_id": "e-13",
        "event_time": T,
        "channel": "web",
        "customer_id": "c-1",
        "offer_id": "of-1",
        "outcome": "accepted",
        "value": 49.5,
    },
    "offer": {
        "type": "offer",
        "schema_version": "1.0",
        "event_id": "e-14",
        "event_time": T,
        "channel": "web",
        "customer_id": "c-1",
        "offer_id": "of-1",
        "action_id": "act-1",
        "kind": "discount",
        "items": ["p-1", "p-2"],
        "score": 1.25,
        "probability": 0.9,
        "reason_codes": ["cart_abandon_risk"],
        "model_version": "m-1",
        "decided_at": T,
        "expires_at": T + 600_000,
    },
    "offer_withdrawal": {
        "type": "offer_withdrawal",
        "schema_version": "1.0",
        "event_id": "of-1:withdrawn",
        "event_time": T,
        "channel": "web",
        "customer_id": "c-1",
        "session_id": "s-1",
        "offer_id": "of-1",
        "reason": "consent_revoked",
        "withdrawn_at": T,
    },
    "product_update": {
        "type": "product_update",
        "schema_version": "1.0",
        "event_id": "u-1",
        "event_time": T,
        "channel": "web",
        "product_id": "p-1",
        "title": "Rain jacket",
        "price": 49.5,
        "currency": "EUR",
        "category": "apparel.jacket",
        "brand": "Acme",
        "in_stock": True,
        "url": "/p/rain-jacket",
        "image": "https://img.example.com/p-1.jpg",
        "attributes": {"colour": "red", "size": "M"},
        "withdrawn": False,
    },
    "dead_letter": {
        "type": "dead_letter",
        "schema_version": "1.0",
        "original": "e30=",
        "source_topic": "clickstream",
        "source_partition": 0,
        "source_offset": 42,
        "stage": "decode",
        "reason": "missing_field",
        "field": "event_id",
        "error": "event_id: is required",
        "failed_at": T,
    },
}
"""One valid wire message (as a dict) per contract."""

DROP = object()
"""Pass as a value to `message()` to leave a key out."""


def message(type_name: str, **changes: Any) -> dict[str, Any]:
    """A fresh copy of `EXAMPLES[type_name]` with keys changed (or dropped with `DROP`)."""
    msg = copy.deepcopy(EXAMPLES[type_name])
    for key, value in changes.items():
        if value is DROP:
            msg.pop(key, None)
        else:
            msg[key] = value
    return msg
