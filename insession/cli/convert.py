"""`insession convert`: turn a public data set into a recording."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from insession.datasets import DATASETS
from insession.settings import Settings

if TYPE_CHECKING:
    pass


def _convert(args: argparse.Namespace, settings: Settings) -> int:
    from insession.connectors.recording import write_recording
    from insession.datasets import CONVERTERS, default_source
    from insession.schemas.signatures import signed_links

    source = Path(args.source) if args.source else default_source(args.dataset, settings.data_dir)
    events = signed_links(CONVERTERS[args.dataset](source), settings.identity_secret)
    count = write_recording(Path(args.output), events)
    print(f"{args.dataset}: {count:,} events from {source} -> {args.output}")
    return 0


def add_convert_command(commands: Any) -> argparse.ArgumentParser:
    """Register `insession convert`."""
    convert = commands.add_parser("convert", help="turn a public data set into a recording")
    convert.add_argument("dataset", choices=DATASETS)
    convert.add_argument("-o", "--output", required=True, help="recording to write")
    convert.add_argument("--source", help="input file or folder (default: in the data dir)")
    convert.set_defaults(run=_convert)
    return convert
