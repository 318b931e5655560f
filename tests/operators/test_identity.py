"""Identity stitching: a device's anonymous past follows the customer who logs in on it."""

from __future__ import annotations

import base64
import copy

import pytest
from insession.operators.identity import (
    DEAD_LETTER,
    PENDING_GAP_MS,
    IdentityTrust,
    drop_stale,
    stale_at,
    stitch_identity,
)
from insession.operators.routing import Routed
from insession.schemas.codec import decode
from insession.schemas.events import DeadLetter, ErasureRequest, IdentityLink, ProductView

T0 = 1_764_000_000_000


def _view(n: int, *, customer: str | None = None, at: int | None = None) -> Routed:
    event = ProductView(
        event_id=f"v{n}",
        event_time=at or T0 + n,
        channel="web",
        anonymous_id="dev-1",
        customer_id=customer,
        product_id=f"p{n}",
    )
    return Routed(event, (event.event_time, "test", 0, n))


def _login(n: int, at: int | None = None) -> Routed:
    event = IdentityLink(
        event_id=f"l{n}", event_time=at or T0 + n, channel="web", anonymous_id="dev-1",
        customer_id="c-7",
    )  # fmt: skip
    return Routed(event, (event.event_time, "test", 0, n))


def test_anonymous_events_belong_to_the_device_until_login() -> None:
    state, out = stitch_identity(None, _view(1))
    assert [r.person for r in out] == ["anon:dev-1"]
    assert len(state.pending) == 1


def test_login_replays_the_anonymous_past_to_the_customer_and_forgets_the_device() -> None:
    state, _ = stitch_identity(None, _view(1))
    state, _ = stitch_identity(state, _view(2))
    state, out = stitch_identity(state, _login(3))
    assert [(r.person, r.event.event_id, r.replayed, r.forget) for r in out] == [
        ("anon:dev-1", "v2", False, True),
        ("c-7", "v1", True, False),
        ("c-7", "v2", True, False),
        ("c-7", "l3", False, False),
    ]
    assert state.customer_id == "c-7" and state.pending == []


def test_after_login_anonymous_events_of_the_device_go_to_the_customer() -> None:
    state, _ = stitch_identity(None, _login(1))
    state, out = stitch_identity(state, _view(2))
    assert [(r.person, r.replayed) for r in out] == [("c-7", False)]


def test_an_old_anonymous_session_is_not_stitched() -> None:
    state, _ = stitch_identity(None, _view(1, at=T0))
    state, _ = stitch_identity(state, _view(2, at=T0 + PENDING_GAP_MS + 1))
    _, out = stitch_identity(state, _login(3))
    assert [r.event.event_id for r in out if r.replayed] == ["v2"]


def test_a_login_after_the_anonymous_session_ended_stitches_nothing() -> None:
    """The ended session stays the device's (as it would after another anonymous event)."""
    state, _ = stitch_identity(None, _view(1, at=T0))
    _, out = stitch_identity(state, _login(2, at=T0 + PENDING_GAP_MS + 1))
    assert [(r.person, r.event.event_id, r.replayed, r.forget) for r in out] == [
        ("c-7", "l2", False, False)
    ]


def test_an_unlinked_device_leaves_memory_when_its_session_ends_and_a_linked_one_stays() -> None:
    idle = 3 * 24 * 3600 * 1000
    state, _ = stitch_identity(None, _view(1, at=T0))
    state, _ = stitch_identity(state, _view(2, at=T0 + 60_000))
    due = stale_at(state, idle)
    assert due == T0 + 60_000 + PENDING_GAP_MS + 1, "the session's end, not the idle window's"
    assert stale_at(state, 0) is None, "0 keeps every device"
    assert drop_stale(state, due - 1, idle) == (state, [])
    assert drop_stale(state, None, idle) == (state, []), "the end of a replay drops nobody"
    assert drop_stale(state, due, idle) == (None, [])
    # Gone or kept, the device's next event, or its login, is handled the same way.
    for later in (_view(3, at=due), _login(3, at=due)):
        kept = copy.deepcopy(state)  # stitching changes the state it is given
        assert stitch_identity(None, later)[1] == stitch_identity(kept, later)[1]
    linked, _ = stitch_identity(None, _login(3))
    assert stale_at(linked, idle) is None


def _claim(n: int, customer: str, device: str = "dev-1") -> Routed:
    event = ProductView(
        event_id=f"x{n}",
        event_time=T0 + n,
        channel="web",
        anonymous_id=device,
        customer_id=customer,
        product_id=f"p{n}",
    )
    return Routed(event, (event.event_time, "clickstream", 0, n))


def test_an_event_carrying_both_ids_links_nothing() -> None:
    state, out = stitch_identity(None, _claim(1, "victim"))
    assert [(r.person, r.event.customer_id) for r in out] == [("anon:dev-1", None)]
    assert state is not None and state.customer_id is None
    state, out = stitch_identity(state, _view(2))
    assert [r.person for r in out] == ["anon:dev-1"], "the device is still a stranger"


def test_a_claimed_customer_the_device_is_not_linked_to_is_the_devices() -> None:
    state, _ = stitch_identity(None, _login(1))  # dev-1 -> c-7
    state, out = stitch_identity(state, _claim(2, "victim"))
    assert [(r.person, r.event.customer_id) for r in out] == [("c-7", None)]
    state, out = stitch_identity(state, _claim(3, "c-7"))
    assert [(r.person, r.event.customer_id) for r in out] == [("c-7", "c-7")]


def test_unlinked_claims_can_be_dead_lettered() -> None:
    trust = IdentityTrust(unlinked=DEAD_LETTER)
    state, out = stitch_identity(None, _claim(1, "victim"), trust)
    [letter] = out
    assert isinstance(letter, DeadLetter)
    assert (letter.reason, letter.field, letter.stage) == (
        "unlinked_customer_id",
        "customer_id",
        "stitch",
    )
    assert (letter.source_topic, letter.source_offset) == ("clickstream", 1)
    assert decode(base64.b64decode(letter.original)) == _claim(1, "victim").event
    assert state is not None and state.pending == [], "nothing of it is kept"


def test_an_unknown_unlinked_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="unlinked_customer"):
        IdentityTrust(unlinked="believe")


def _forget_link(customer: str) -> Routed:
    event = ErasureRequest(
        event_id="er",
        event_time=T0 + 50,
        channel="web",
        customer_id=customer,
        anonymous_id="dev-1",
        request_id="r-1",
    )
    return Routed(event, (event.event_time, "erasure", 0, 50), forget=True)


def test_forgetting_the_link_of_an_erased_customer_makes_the_device_a_stranger() -> None:
    state, _ = stitch_identity(None, _login(1))
    state, out = stitch_identity(state, _forget_link("c-7"))
    assert state is None and out == []
    _, out = stitch_identity(state, _view(60))
    assert [r.person for r in out] == ["anon:dev-1"]


def test_forgetting_another_customers_link_keeps_the_device_linked() -> None:
    state, _ = stitch_identity(None, _login(1))
    state, out = stitch_identity(state, _forget_link("someone-else"))
    assert state is not None and state.customer_id == "c-7" and out == []
