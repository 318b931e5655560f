"""msgspec decoders compiled from the contracts' field declarations: the fast path for messages
that keep their contract.

`schemas.codec.decode` tries these first and falls back to the checking decoder
(`fields.build`) whenever msgspec refuses a message, so a refused message still gets the
checking decoder's `Rejection` (its reason, its field path and its detail) and the dead letter
stays the same. A message is only taken here when both would build the same contract:

* every constraint of a field (`Constraints`) becomes msgspec's own (`Meta` bounds and lengths,
  `Literal` choices), and a field is nullable here only when null means its default anyway
  (None): a null for any other field goes to the checking decoder, which applies the default or
  refuses it;
* `type` and `schema_version` are required (the checking decoder refuses a message without
  them), the `type` must be the decoder's own contract, and the version one the checking
  decoder accepts (`fast_versions`: others it decodes itself);
* bytes that are not valid UTF-8 go there too: msgspec checks only the strings it keeps.

What changes for a producer: a field the engine does not know is skipped, not converted, so a
number too large for a double (`1e400`) there no longer makes the message invalid JSON: it is
accepted without that field, as with any unknown field. Everything the engine reads is checked
as before.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import re
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

import msgspec
from insession.schemas.fields import MAX_ITEMS, MAX_KEY, Constraints, field_specs

REQUIRED = ("type", "schema_version")
"""Fields the checking decoder refuses to leave out (though the contracts give them defaults)."""

FAST_MINORS = 100
"""Versions `MAJOR.0` to `MAJOR.99` take the fast path; any other the checking decoder accepts
(`1.100`, `01.2`) is decoded there, as surely but slower."""


def fast_versions(major: int) -> Any:
    """The versions the fast path takes, as a `Literal`: a set lookup, where a pattern would
    cost a regular expression per message."""
    return Literal[tuple(f"{major}.{minor}" for minor in range(FAST_MINORS))]  # type: ignore[valid-type]


_TYPE = re.compile(rb'"type"\s*:\s*"([a-z_]{1,40})"')


def _str_type(c: Constraints) -> Any:
    if c.choices is not None:
        fitting = tuple(
            choice
            for choice in c.choices
            if (c.min_length is None or len(choice) >= c.min_length)
            and (c.max_length is None or len(choice) <= c.max_length)
        )
        return Literal[fitting]  # type: ignore[valid-type]
    return Annotated[str, msgspec.Meta(min_length=c.min_length, max_length=c.max_length)]


def _bounded(kind: type, c: Constraints) -> Any:
    return Annotated[kind, msgspec.Meta(ge=c.minimum, le=c.maximum)]


def typed(annotation: Any, c: Constraints) -> Any:
    """The msgspec type of one (non-optional) field: what `fields.checker_for` checks."""
    if annotation is str:
        return _str_type(c)
    if annotation is int or annotation is float:
        return _bounded(annotation, c)
    if annotation is bool:
        return bool
    limit = c.max_items if c.max_items is not None else MAX_ITEMS
    origin = typing.get_origin(annotation)
    if origin is tuple:
        item_type = typing.get_args(annotation)[0]
        item_constraints = (
            Constraints(choices=c.choices, min_length=c.min_length, max_length=c.max_length)
            if item_type is str
            else Constraints()
        )
        item = typed(item_type, item_constraints)
        return Annotated[tuple[item, ...], msgspec.Meta(max_length=limit)]  # type: ignore[valid-type]
    if origin is dict:
        key = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_KEY)]
        value = _str_type(Constraints(min_length=c.min_length, max_length=c.max_length))
        return Annotated[dict[key, value], msgspec.Meta(max_length=limit)]  # type: ignore[valid-type]
    if dataclasses.is_dataclass(annotation):
        return annotation
    raise TypeError(f"unsupported field type {annotation!r}")


def _field_types(cls: type, major: int) -> dict[str, Any]:
    """Each field's msgspec type, nullable only where null means the default (None)."""
    types = {}
    for f in field_specs(cls):
        kind = typed(f.annotation, f.constraints)
        if f.name == "schema_version":
            kind = fast_versions(major)
        types[f.name] = kind | None if f.nullable and f.default is None else kind
    return types


def _required(fields: dict[str, dataclasses.Field[Any]]) -> dict[str, dataclasses.Field[Any]]:
    """The fields, with the ones in `REQUIRED` stripped of their defaults."""
    required = dict(fields)
    for name in REQUIRED:
        if name in required:
            required[name] = copy.copy(required[name])
            required[name].default = dataclasses.MISSING
    return required


def _contract_types(annotation: Any) -> Iterator[type]:
    """The contract classes an annotation holds: itself, its fields' and their items'."""
    if dataclasses.is_dataclass(annotation):
        yield typing.cast(type, annotation)
        for f in field_specs(annotation):
            yield from _contract_types(f.annotation)
    elif typing.get_origin(annotation) is tuple:
        yield from _contract_types(typing.get_args(annotation)[0])


@contextmanager
def _decoder_view(classes: list[type], contracts: list[type], major: int) -> Iterator[None]:
    """While msgspec reads the classes, they show it the checking decoder's view of them.

    msgspec reads a dataclass's `__annotations__` (along its bases) and its
    `__dataclass_fields__` when a decoder is made. For that moment the fields are annotated with
    their msgspec types (each on the base that declares it: a subclass that declares a field
    again, as every contract does `type`, has its own), and the contracts' `REQUIRED` fields
    lose their defaults. Both are put back after: the contracts stay as declared for everyone
    else.
    """
    annotations: dict[type, dict[str, Any]] = {}
    fields: dict[type, dict[str, dataclasses.Field[Any]]] = {}
    try:
        for cls in classes:
            for klass in cls.__mro__:
                own = inspect.get_annotations(klass)
                if klass in annotations or not own or not dataclasses.is_dataclass(klass):
                    continue
                annotations[klass] = own
                field_types = _field_types(klass, major)
                klass.__annotations__ = {
                    name: field_types.get(name, hint) for name, hint in own.items()
                }
        for cls in contracts:
            fields[cls] = cls.__dict__["__dataclass_fields__"]
            cls.__dataclass_fields__ = _required(fields[cls])  # type: ignore[attr-defined]
        yield
    finally:
        for klass, own in annotations.items():
            klass.__annotations__ = own
        for cls, own_fields in fields.items():
            cls.__dataclass_fields__ = own_fields  # type: ignore[attr-defined]


def compile_decoders(contracts: dict[str, type], major: int) -> dict[bytes, msgspec.json.Decoder]:
    """One msgspec decoder per contract, by its name (UTF-8)."""
    classes = [held for cls in contracts.values() for held in _contract_types(cls)]
    with _decoder_view(classes, list(contracts.values()), major):
        return {name.encode(): msgspec.json.Decoder(cls) for name, cls in contracts.items()}


_REFUSED = (msgspec.DecodeError, RecursionError, UnicodeDecodeError)


def decode_typed(raw: bytes, decoders: dict[bytes, msgspec.json.Decoder]) -> Any | None:
    """The contract, when msgspec builds what the checking decoder would; else None.

    The decoder is the one of the `type` the message names first, as producers write it, or
    found further in: a wrong guess (a nested object's `type`) costs only time, since that
    decoder then refuses the message.
    """
    if not raw.isascii():
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return None  # msgspec checks only the strings it keeps
    if raw.startswith(b'{"type":"'):
        decoder = decoders.get(raw[9 : raw.find(b'"', 9)])
    else:
        named = _TYPE.search(raw)
        decoder = decoders.get(named[1]) if named is not None else None
    if decoder is None:
        return None
    try:
        return decoder.decode(raw)
    except _REFUSED:
        return None
