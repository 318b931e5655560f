"""The devices linked to each customer, and the `forget` items an erasure sends them."""

from __future__ import annotations

import insession.operators.device_links
import pytest
from insession.operators.device_links import is_link_event, record_links
from insession.operators.routing import Routed
from insession.schemas.events import ErasureRequest, IdentityLink, ProductView

T0 = 1_764_000_000_000


def _link(n: int, device: str, customer: str = "c-1") -> Routed:
    event = IdentityLink(
        event_id=f"l{n}",
        event_time=T0 + n,
        channel="web",
        customer_id=customer,
        anonymous_id=device,
    )
    return Routed(event, (event.event_time, "identity", 0, n))


def _erasure(n: int, customer: str = "c-1") -> Routed:
    event = ErasureRequest(
        event_id=f"e{n}",
        event_time=T0 + n,
        channel="web",
        customer_id=customer,
        request_id=f"r{n}",
    )
    return Routed(event, (event.event_time, "erasure", 0, n))


def test_an_erasure_forgets_every_linked_device_and_the_customer() -> None:
    state = None
    for n, device in enumerate(["dev-a", "dev-b", "dev-a"]):
        state, out = record_links(state, _link(n, device))
        assert out == []
    state, out = record_links(state, _erasure(9))
    assert state is None
    assert [(r.event.anonymous_id, r.event.customer_id, r.forget) for r in out] == [
        ("dev-b", "c-1", True),
        ("dev-a", "c-1", True),
    ]
    assert all(r.order == _erasure(9).order for r in out), "ordered as the erasure"


def test_an_erasure_of_a_customer_without_devices_sends_nothing() -> None:
    assert record_links(None, _erasure(1)) == (None, [])


def test_linking_more_devices_than_the_limit_unlinks_the_oldest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(insession.operators.device_links, "LINKED_DEVICES_LIMIT", 2)
    state = None
    for n, device in enumerate(["dev-a", "dev-b"]):
        state, _ = record_links(state, _link(n, device))
    state, _ = record_links(state, _link(2, "dev-a"))  # dev-a linked again: now the newest
    state, out = record_links(state, _link(3, "dev-c"))
    assert [(r.event.anonymous_id, r.forget) for r in out] == [("dev-b", True)]
    assert state is not None and list(state.devices) == ["dev-a", "dev-c"]


def test_only_links_and_erasures_go_to_the_links_step() -> None:
    view = ProductView(
        event_id="v",
        event_time=T0,
        channel="web",
        customer_id="c-1",
        anonymous_id="dev-a",
        product_id="p",
    )
    assert is_link_event(_link(1, "dev-a")) and is_link_event(_erasure(1))
    assert not is_link_event(Routed(view, (T0, "clickstream", 0, 0)))
