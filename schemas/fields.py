"""Field declarations for contracts, and the checkers compiled from them.

A contract is a frozen dataclass; each field's constraints live in its metadata so that the
Python decoder and the checked-in JSON Schema documents are generated from one declaration.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_TEXT = 4096
MAX_ID = 256
MAX_ITEMS = 500
MAX_KEY = 64
"""Longest key of a map field (e.g. a product's attribute name)."""
# Epoch milliseconds between 2000-01-01 and 2100-01-01: anything else is a unit mistake
# (seconds or microseconds) and would silently break sessionisation downstream.
MIN_EPOCH_MS = 946_684_800_000
MAX_EPOCH_MS = 4_102_444_800_000


class ContractViolation(Exception):
    """A value breaks its contract: `path` names the field, `reason` is a short code."""

    def __init__(self, path: str, reason: str, detail: str) -> None:
        super().__init__(f"{path}: {detail}")
        self.path = path
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Constraints:
    """What a field's value may be, beyond its Python type. For lists of strings the lengths
    (and choices) apply to each item; for maps (`dict[str, str]`) the lengths apply to each
    value and `max_items` to the entries."""

    choices: tuple[str, ...] | None = None
    min_length: int | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_items: int | None = None
    description: str = ""


def spec(
    description: str,
    *,
    default: Any = dataclasses.MISSING,
    choices: tuple[str, ...] | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    max_items: int | None = None,
) -> Any:
    """Declare a contract field with its constraints and a description for the JSON Schema."""
    constraints = Constraints(
        choices, min_length, max_length, minimum, maximum, max_items, description
    )
    if isinstance(default, list):
        raise TypeError("use default=() style immutables; lists are built by the decoder")
    return dataclasses.field(default=default, metadata={"constraints": constraints})


def ident(description: str, *, optional: bool = False) -> Any:
    """An opaque identifier: non-empty, at most MAX_ID characters."""
    return spec(
        description,
        default=None if optional else dataclasses.MISSING,
        min_length=1,
        max_length=MAX_ID,
    )


def epoch_ms(description: str, *, optional: bool = False) -> Any:
    """A point in time as integer milliseconds since the Unix epoch (UTC)."""
    return spec(
        description,
        default=None if optional else dataclasses.MISSING,
        minimum=MIN_EPOCH_MS,
        maximum=MAX_EPOCH_MS,
    )


Checker = Callable[[Any, str], Any]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One compiled field: how to check it, whether it may be left out, how to store it."""

    name: str
    annotation: Any
    required: bool
    nullable: bool
    constraints: Constraints
    check: Checker
    default: Any
    store: Callable[[Any, Any], None]


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _wrong_type(path: str, expected: str, value: Any) -> ContractViolation:
    return ContractViolation(path, "wrong_type", f"expected {expected}, got {_type_name(value)}")


def _check_str(c: Constraints) -> Checker:
    def check(value: Any, path: str) -> str:
        if type(value) is not str:
            raise _wrong_type(path, "a string", value)
        if c.min_length is not None and len(value) < c.min_length:
            plural = "" if c.min_length == 1 else "s"
            raise ContractViolation(
                path, "too_short", f"must have at least {c.min_length} character{plural}"
            )
        if c.max_length is not None and len(value) > c.max_length:
            raise ContractViolation(
                path, "too_long", f"has {len(value)} characters, at most {c.max_length} allowed"
            )
        if c.choices is not None and value not in c.choices:
            raise ContractViolation(
                path, "not_allowed", f"{value[:40]!r} is not one of {', '.join(c.choices)}"
            )
        return value

    return check


def _check_bounds(value: float, path: str, c: Constraints) -> None:
    if c.minimum is not None and value < c.minimum:
        raise ContractViolation(path, "out_of_range", f"{value} is below the minimum {c.minimum}")
    if c.maximum is not None and value > c.maximum:
        raise ContractViolation(path, "out_of_range", f"{value} is above the maximum {c.maximum}")


def _check_int(c: Constraints) -> Checker:
    def check(value: Any, path: str) -> int:
        if type(value) is not int:
            raise _wrong_type(path, "an integer", value)
        _check_bounds(value, path, c)
        return value

    return check


def _check_float(c: Constraints) -> Checker:
    def check(value: Any, path: str) -> float:
        kind = type(value)
        if kind is not float and kind is not int:
            raise _wrong_type(path, "a number", value)
        if kind is float and not math.isfinite(value):
            raise ContractViolation(path, "out_of_range", "must be a finite number")
        _check_bounds(value, path, c)
        return float(value)

    return check


def _check_bool(_: Constraints) -> Checker:
    def check(value: Any, path: str) -> bool:
        if type(value) is not bool:
            raise _wrong_type(path, "true or false", value)
        return value

    return check


def _check_tuple(item: Checker, c: Constraints) -> Checker:
    limit = c.max_items if c.max_items is not None else MAX_ITEMS

    def check(value: Any, path: str) -> tuple[Any, ...]:
        if type(value) is not list:
            raise _wrong_type(path, "a list", value)
        if len(value) > limit:
            raise ContractViolation(
                path, "too_long", f"has {len(value)} items, at most {limit} allowed"
            )
        return tuple(item(v, f"{path}[{i}]") for i, v in enumerate(value))

    return check


def _check_map(value_check: Checker, c: Constraints) -> Checker:
    """A JSON object of string keys (1 to `MAX_KEY` characters) to checked values. A bad key
    is named by the map's path; a bad value by the path, a dot and its key
    (`attributes.colour`): maps hold only scalars, so what follows the map's name is its key."""
    limit = c.max_items if c.max_items is not None else MAX_ITEMS

    def check(value: Any, path: str) -> dict[str, Any]:
        if type(value) is not dict:
            raise _wrong_type(path, "an object", value)
        if len(value) > limit:
            raise ContractViolation(
                path, "too_long", f"has {len(value)} entries, at most {limit} allowed"
            )
        checked = {}
        for key, item in value.items():
            if not key:
                raise ContractViolation(path, "too_short", "keys must have at least 1 character")
            if len(key) > MAX_KEY:
                raise ContractViolation(
                    path,
                    "too_long",
                    f"key {key[:40]!r} has {len(key)} characters, at most {MAX_KEY} allowed",
                )
            checked[key] = value_check(item, f"{path}.{key}")
        return checked

    return check


def _check_nested(cls: type) -> Checker:
    def check(value: Any, path: str) -> Any:
        if type(value) is not dict:
            raise _wrong_type(path, "an object", value)
        return build(cls, value, path + ".")

    return check


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"unsupported union {annotation!r}")
        return args[0], True
    return annotation, False


def checker_for(annotation: Any, c: Constraints) -> Checker:
    """Build the checker for one (non-optional) annotation."""
    if annotation is str:
        return _check_str(c)
    if annotation is int:
        return _check_int(c)
    if annotation is float:
        return _check_float(c)
    if annotation is bool:
        return _check_bool(c)
    if typing.get_origin(annotation) is tuple:
        item_type = typing.get_args(annotation)[0]
        item_constraints = (
            Constraints(choices=c.choices, min_length=c.min_length, max_length=c.max_length)
            if item_type is str
            else Constraints()
        )
        return _check_tuple(checker_for(item_type, item_constraints), c)
    if typing.get_origin(annotation) is dict:
        key_type, value_type = typing.get_args(annotation)
        if key_type is not str or value_type is not str:
            raise TypeError(f"maps must be dict[str, str], not {annotation!r}")
        value_constraints = Constraints(min_length=c.min_length, max_length=c.max_length)
        return _check_map(_check_str(value_constraints), c)
    if dataclasses.is_dataclass(annotation):
        return _check_nested(annotation)
    raise TypeError(f"unsupported field type {annotation!r}")


_COMPILED: dict[type, tuple[FieldSpec, ...]] = {}


def field_specs(cls: type) -> tuple[FieldSpec, ...]:
    """The compiled fields of a contract class (computed once per class)."""
    compiled = _COMPILED.get(cls)
    if compiled is None:
        if hasattr(cls, "__post_init__"):
            raise TypeError(f"{cls.__name__}: build() skips __init__, so no __post_init__")
        hints = typing.get_type_hints(cls)
        specs = []
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            annotation, nullable = _unwrap_optional(hints[f.name])
            constraints = f.metadata.get("constraints", Constraints())
            if f.default_factory is not dataclasses.MISSING:
                raise TypeError(f"{cls.__name__}.{f.name}: contracts take plain defaults")
            specs.append(
                FieldSpec(
                    f.name,
                    annotation,
                    f.default is dataclasses.MISSING,
                    nullable,
                    constraints,
                    checker_for(annotation, constraints),
                    f.default,
                    slot_setter(cls, f.name),
                )
            )
        compiled = _COMPILED[cls] = tuple(specs)
    return compiled


def slot_setter(cls: type, name: str) -> Callable[[Any, Any], None]:
    """The slot's own setter: fills a frozen instance without the cost of its __init__."""
    for klass in cls.__mro__:
        descriptor = klass.__dict__.get(name)
        if descriptor is not None and hasattr(descriptor, "__set__"):
            return descriptor.__set__
    raise TypeError(f"{cls.__name__}.{name} is not a slot: contracts must use slots=True")


_new_instance = object.__new__


def build(cls: type, obj: dict[str, Any], prefix: str = "") -> Any:
    """Check every declared field of `obj` and build `cls`; unknown keys are ignored.

    Builds the frozen instance slot by slot: the same object `cls(**fields)` would give
    (there is no __post_init__), at about half the cost, which matters per event.
    """
    instance = _new_instance(cls)
    for f in field_specs(cls):
        value = obj.get(f.name)
        if value is None:
            if f.required:
                detail = "is required" if f.name not in obj else "must not be null"
                raise ContractViolation(prefix + f.name, "missing_field", detail)
            value = f.default
        else:
            value = f.check(value, prefix + f.name)
        f.store(instance, value)
    return instance
