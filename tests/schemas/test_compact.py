"""Contracts and routed events cross processes in their compact forms, and come back equal."""

from __future__ import annotations

import importlib.util
import pickle
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from insession.operators.routing import Routed, pack_routed, unpack_routed
from insession.schemas import compact, events
from insession.schemas.codec import CONTRACTS
from insession.schemas.events import Contract, Event, OrderLine

from tests.schemas.strategies import valid_events

EVENTS = sorted(name for name, cls in CONTRACTS.items() if issubclass(cls, Event))


@settings(max_examples=300, deadline=None)
@given(valid_events())
def test_every_contract_pickles_back_to_an_equal_one(contract: Contract) -> None:
    again = pickle.loads(pickle.dumps(contract, protocol=pickle.HIGHEST_PROTOCOL))
    assert again == contract
    assert type(again) is type(contract)


@settings(max_examples=200, deadline=None)
@given(
    valid_events(EVENTS),
    st.text(max_size=12),
    st.booleans(),
    st.booleans(),
    st.integers(0, 10**6),
)
def test_a_routed_event_packs_into_plain_values_and_back(
    event: Event, person: str, replayed: bool, forget: bool, epoch: int
) -> None:
    item = Routed(event, (1, "clickstream", 0, 7), person, replayed, forget, epoch)
    packed = pack_routed(item)
    assert _plain(packed), "only built-in values cross: no import lookups when pickled"
    assert unpack_routed(pickle.loads(pickle.dumps(packed))) == item
    assert pickle.loads(pickle.dumps(item)) == item


def test_an_order_line_pickles_in_its_compact_form_as_contracts_do() -> None:
    line = OrderLine(product_id="p-1", quantity=2, unit_price=9.5)
    sent = pickle.dumps(line)
    assert b"from_state" in sent and b"dataclasses" not in sent
    assert pickle.loads(sent) == line


def _plain(value: object) -> bool:
    if isinstance(value, tuple):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, str | int | float | bool | OrderLine)


def test_every_registered_contract_has_a_compact_form_by_its_own_name() -> None:
    for name, cls in CONTRACTS.items():
        assert compact._plan_named(cls.__name__)[0] is cls, name


def test_an_unknown_name_is_refused_with_the_name() -> None:
    with pytest.raises(TypeError, match="no contract named 'Nothing'"):
        compact.from_state("Nothing", ())


def test_a_second_copy_of_the_contracts_module_changes_nothing_that_crosses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Loaded again under another name (a script run from the source tree), the module
    registers its own classes, which must not be built in place of the flow's."""
    source = Path(events.__file__)
    spec = importlib.util.spec_from_file_location("contracts_copy", source)
    assert spec is not None and spec.loader is not None
    copy = importlib.util.module_from_spec(spec)
    sys.modules["contracts_copy"] = copy  # dataclasses look their module up there
    try:
        spec.loader.exec_module(copy)
    finally:
        del sys.modules["contracts_copy"]
    assert copy.ProductView is not events.ProductView
    view = events.ProductView(
        event_id="e", event_time=1, channel="web", anonymous_id="d", product_id="p"
    )
    sent = pickle.dumps(view)
    monkeypatch.setattr(compact, "_PLANS", {})  # as in another process: names looked up anew
    again = pickle.loads(sent)
    assert type(again) is events.ProductView and again == view
