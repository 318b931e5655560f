"""What holds for every converter: the registry, and codec round trips on the real data."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from insession.schemas.codec import decode, encode
from insession.schemas.events import Event

from insession.datasets import CONVERTERS
from insession.datasets.diginetica import read_diginetica
from insession.datasets.rees46 import read_rees46
from insession.datasets.yoochoose import read_yoochoose

real = pytest.mark.data  # needs ../shared/data


def test_registry_maps_each_name_to_its_reader() -> None:
    assert dict(CONVERTERS) == {
        "rees46": read_rees46,
        "diginetica": read_diginetica,
        "yoochoose": read_yoochoose,
    }


@real
@pytest.mark.parametrize("name", ["rees46", "diginetica", "yoochoose"])
def test_every_event_round_trips_through_the_codec(
    name: str, converted: Callable[[str], list[Event]]
) -> None:
    for event in converted(name):
        assert decode(encode(event)) == event
