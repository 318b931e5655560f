"""Fixtures shared by the converter tests: a module names its data set in `DATA_SET`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from insession.schemas.events import Event

from insession.datasets import CONVERTERS, default_source


@pytest.fixture(scope="session")
def converted(shared_data: Path) -> Callable[[str], list[Event]]:
    """Each real data set's events by name, converted once per test session."""
    cache: dict[str, list[Event]] = {}

    def events_of(name: str) -> list[Event]:
        if name not in cache:
            cache[name] = list(CONVERTERS[name](default_source(name, shared_data)))
        return cache[name]

    return events_of


@pytest.fixture(scope="module")
def source(request: pytest.FixtureRequest, shared_data: Path) -> Path:
    """The real source file or folder of the module's `DATA_SET`."""
    return default_source(request.module.DATA_SET, shared_data)


@pytest.fixture(scope="module")
def folder(source: Path) -> Path:
    """`source`, for the data sets that come as a folder of files."""
    return source


@pytest.fixture(scope="module")
def events(
    request: pytest.FixtureRequest, source: Path, converted: Callable[[str], list[Event]]
) -> list[Event]:
    """The module's `DATA_SET` converted (`source` first, so a missing folder skips)."""
    return converted(request.module.DATA_SET)
