"""Converters that turn the public data sets into storefront event contracts for replay; the
labelled tweets sentiment is learned from are read by `insession.datasets.tweets`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from insession.datasets.diginetica import read_diginetica
from insession.datasets.rees46 import read_rees46
from insession.datasets.yoochoose import read_yoochoose
from insession.schemas.events import Event

Converter = Callable[[Path], Iterator[Event]]

CONVERTERS: dict[str, Converter] = {
    "rees46": read_rees46,
    "diginetica": read_diginetica,
    "yoochoose": read_yoochoose,
}
"""Each data set's converter: source file or folder in, events out (streamed)."""

DATASETS: tuple[str, ...] = tuple(CONVERTERS)
"""The public data sets `insession replay --datasets` replays, in this order."""

_SOURCES: dict[str, str] = {
    "rees46": "rees46/2019-Oct-sample.csv",
    "diginetica": "diginetica",
    "yoochoose": "yoochoose-100k",
}


def default_source(name: str, data_dir: Path) -> Path:
    """Where a data set lives inside the shared data folder, so callers need only its name."""
    try:
        return data_dir / _SOURCES[name]
    except KeyError:
        raise ValueError(
            f"unknown data set {name!r}; known: {', '.join(sorted(_SOURCES))}"
        ) from None


__all__ = [
    "CONVERTERS",
    "Converter",
    "default_source",
    "read_diginetica",
    "read_rees46",
    "read_yoochoose",
]
