"""JSON Schema (draft 2020-12) documents for the contracts, generated from their field declarations.

The decoder (`schemas.codec`) and these documents come from one source: `field_specs(cls)` for
each field, and each contract's `RULES` for the rules across fields that `Event.violation()`
checks. The documents are checked in under `schemas/json/`; regenerate them after changing a
contract with

    python -m schemas.json_schema            # rewrite schemas/json/
    python -m schemas.json_schema --check    # exit 1 if the checked-in files are stale

Where JSON Schema and the decoder differ (both reject the message, or this schema is looser):

* JSON Schema's "integer" also matches numbers written with a zero fraction (`3.0`, `1e2`); the
  decoder wants an integer literal.
* The decoder treats `null` in an optional field as "absent, use the default", so every optional
  field admits `null` here, whether or not its Python annotation says `| None`.
* orjson reads integers beyond 64 bits as floats, so the decoder rejects them in integer fields
  that have no maximum (`result_count`, `source_partition`, `source_offset`); this schema does not.
* The decoder reads the major version as a number, so it also takes "01.0"; the pattern does not.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from insession.schemas.events import CONTRACTS, SCHEMA_MAJOR, Contract
from insession.schemas.fields import MAX_ITEMS, MAX_KEY, Constraints, field_specs

DIALECT = "https://json-schema.org/draft/2020-12/schema"
ID_BASE = "https://insession.dev/schemas"
JSON_DIR = Path(__file__).resolve().with_name("json")
SUFFIX = ".schema.json"

ENVELOPE = ("type", "schema_version")
"""Fields the decoder requires of every message even though the dataclasses default them."""

VERSION_PATTERN = rf"^{SCHEMA_MAJOR}\.[0-9]+$"


def contract_name(cls: type) -> str:
    """The `type` name of a contract class."""
    return cls.__dataclass_fields__["type"].default  # type: ignore[attr-defined]


def cross_field_rules(cls: type) -> tuple[tuple[str, ...], ...]:
    """The rule groups of `cls.RULES` (empty for classes without rules, such as `OrderLine`)."""
    return getattr(cls, "RULES", ())


def _json_default(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _allow_null(schema: dict[str, Any]) -> dict[str, Any]:
    schema = dict(schema)
    if "$ref" in schema:
        return {"anyOf": [{"$ref": schema.pop("$ref")}, {"type": "null"}], **schema}
    schema["type"] = [schema["type"], "null"]
    if "const" in schema:
        schema["enum"] = [schema.pop("const")]
    if "enum" in schema:
        schema["enum"] = [*schema["enum"], None]
    return schema


def _value_schema(annotation: Any, c: Constraints, defs: dict[str, Any]) -> dict[str, Any]:
    """The schema of one non-null value; mirrors `schemas.fields.checker_for`."""
    schema: dict[str, Any]
    if annotation is str:
        schema = {"type": "string"}
        if c.choices is not None:
            if len(c.choices) == 1:
                schema["const"] = c.choices[0]
            else:
                schema["enum"] = list(c.choices)
        if c.min_length is not None:
            schema["minLength"] = c.min_length
        if c.max_length is not None:
            schema["maxLength"] = c.max_length
    elif annotation is int or annotation is float:
        schema = {"type": "integer" if annotation is int else "number"}
        if c.minimum is not None:
            schema["minimum"] = c.minimum
        if c.maximum is not None:
            schema["maximum"] = c.maximum
    elif annotation is bool:
        schema = {"type": "boolean"}
    elif typing.get_origin(annotation) is tuple:
        item_type = typing.get_args(annotation)[0]
        item_constraints = (
            Constraints(choices=c.choices, min_length=c.min_length, max_length=c.max_length)
            if item_type is str
            else Constraints()
        )
        schema = {
            "type": "array",
            "maxItems": c.max_items if c.max_items is not None else MAX_ITEMS,
            "items": _value_schema(item_type, item_constraints, defs),
        }
    elif typing.get_origin(annotation) is dict:
        value_constraints = Constraints(min_length=c.min_length, max_length=c.max_length)
        schema = {
            "type": "object",
            "maxProperties": c.max_items if c.max_items is not None else MAX_ITEMS,
            "propertyNames": {"minLength": 1, "maxLength": MAX_KEY},
            "additionalProperties": _value_schema(str, value_constraints, defs),
        }
    elif dataclasses.is_dataclass(annotation):
        name = annotation.__name__
        if name not in defs:
            defs[name] = {}  # reserve the name first, in case of recursion
            defs[name] = _object_schema(annotation, defs, envelope=False)
        schema = {"$ref": f"#/$defs/{name}"}
    else:
        raise TypeError(f"no JSON Schema for field type {annotation!r}")
    return schema


def _present(field: str) -> dict[str, Any]:
    return {"required": [field], "properties": {field: {"not": {"type": "null"}}}}


def _rules_schema(cls: type) -> list[dict[str, Any]]:
    rules = []
    for group in cross_field_rules(cls):
        if len(group) == 1:
            rule = {
                "description": f"{group[0]} is required for {contract_name(cls)}",
                **_present(group[0]),
            }
        else:
            rule = {
                "description": f"{' or '.join(group)} is required",
                "anyOf": [_present(f) for f in group],
            }
        rules.append(rule)
    return rules


def _object_schema(cls: type, defs: dict[str, Any], *, envelope: bool) -> dict[str, Any]:
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    properties: dict[str, Any] = {}
    required: list[str] = []
    for f in field_specs(cls):
        must = f.required or (envelope and f.name in ENVELOPE)
        prop = _value_schema(f.annotation, f.constraints, defs)
        if envelope and f.name == "schema_version":
            prop["pattern"] = VERSION_PATTERN
        if must:
            required.append(f.name)
        else:
            # The decoder reads null as "absent": optional fields accept null.
            prop = _allow_null(prop)
            if defaults[f.name] is not dataclasses.MISSING:
                prop["default"] = _json_default(defaults[f.name])
        if f.constraints.description:
            prop["description"] = f.constraints.description
        properties[f.name] = prop
    schema: dict[str, Any] = {
        "title": cls.__name__,
        "description": inspect.cleandoc(cls.__doc__ or cls.__name__),
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": True,
    }
    rules = _rules_schema(cls)
    if rules:
        schema["allOf"] = rules
    return schema


def json_schema(cls: type[Contract]) -> dict[str, Any]:
    """The JSON Schema document of one contract class."""
    name = contract_name(cls)
    if CONTRACTS.get(name) is not cls:
        raise ValueError(f"{cls.__name__} is not a registered contract")
    defs: dict[str, Any] = {}
    body = _object_schema(cls, defs, envelope=True)
    schema: dict[str, Any] = {
        "$schema": DIALECT,
        "$id": f"{ID_BASE}/{name}/{SCHEMA_MAJOR}.json",
        "$comment": "Generated from schemas/events.py by `python -m schemas.json_schema`; "
        "do not edit by hand.",
        **body,
    }
    if defs:
        schema["$defs"] = defs
    return schema


def all_json_schemas() -> dict[str, dict[str, Any]]:
    """Every contract's JSON Schema document, by `type` name."""
    return {name: json_schema(cls) for name, cls in CONTRACTS.items()}


def render(schema: dict[str, Any]) -> str:
    """The stable text form of a document: indented, sorted keys, trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def file_name(name: str) -> str:
    return f"{name}{SUFFIX}"


def write_json_schemas(folder: Path) -> list[Path]:
    """Write `<type>.schema.json` for every contract into `folder`; return the paths.

    Files that are already up to date are left untouched, and `*.schema.json` files of
    contracts that no longer exist are removed.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in sorted(all_json_schemas().items()):
        path = folder / file_name(name)
        text = render(schema)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    for stale in sorted(set(folder.glob(f"*{SUFFIX}")) - set(written)):
        stale.unlink()
    return written


def stale_files(folder: Path) -> list[str]:
    """Names of files in `folder` that differ from, lack, or are not in the generated set."""
    folder = Path(folder)
    expected = {file_name(name): render(s) for name, s in all_json_schemas().items()}
    present = {p.name for p in folder.glob(f"*{SUFFIX}")}
    stale = sorted(present - set(expected))
    for name, text in sorted(expected.items()):
        path = folder / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    return stale


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m schemas.json_schema",
        description="Regenerate the JSON Schema documents of the event contracts.",
    )
    parser.add_argument(
        "folder",
        nargs="?",
        type=Path,
        default=JSON_DIR,
        help=f"where to write them (default: {JSON_DIR})",
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the files there are stale"
    )
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(args.folder)
        for name in stale:
            print(f"stale: {args.folder / name}", file=sys.stderr)
        if stale:
            print("run: python -m schemas.json_schema", file=sys.stderr)
        return 1 if stale else 0
    for path in write_json_schemas(args.folder):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
