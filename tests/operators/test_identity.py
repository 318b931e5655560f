"""Identity stitching: a device's anonymous past follows the customer who logs in on it."""

from __future__ import annotations

from operators.identity import PENDING_GAP_MS, stitch_identity
from operators.routing import Routed
from schemas.events import IdentityLink, ProductView

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


def _login(n: int) -> Routed:
    event = IdentityLink(
        event_id=f"l{n}", event_time=T0 + n, channel="web", anonymous_id="dev-1", customer_id="c-7"
    )
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
