"""`insession schemas`: write the JSON Schema documents."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from insession.settings import Settings

if TYPE_CHECKING:
    pass


def _schemas(args: argparse.Namespace, _: Settings) -> int:
    from insession.schemas.json_schema import write_json_schemas

    for path in write_json_schemas(Path(args.output)):
        print(path)
    return 0


def add_schemas_command(commands: Any) -> argparse.ArgumentParser:
    """Register `insession schemas`."""
    schemas = commands.add_parser("schemas", help="write the JSON Schema documents")
    schemas.add_argument("-o", "--output", default="schemas/json")
    schemas.set_defaults(run=_schemas)
    return schemas
