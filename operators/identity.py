"""Identity stitching: a device's anonymous activity follows the customer once they log in.

The state is kept per anonymous (device or cookie) id. Until the device is linked, its
events belong to the person `anon:<id>` and are also kept (a bounded, session-long buffer).
When an event links the device to a customer (an identity_link, or any event carrying both
ids), the buffered events are sent again, now to the customer, marked `replayed` so they
update the customer's state without triggering decisions twice, and the anonymous person
is told to forget its state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from operators.routing import Routed

PENDING_LIMIT = 100
PENDING_GAP_MS = 30 * 60 * 1000


def anonymous_person(anonymous_id: str) -> str:
    """The person key of a device not yet linked to a customer."""
    return f"anon:{anonymous_id}"


@dataclass(slots=True)
class DeviceState:
    """What one device id is known to be."""

    customer_id: str | None = None
    pending: list[Routed] = field(default_factory=list)


def stitch_identity(state: DeviceState | None, item: Routed) -> tuple[DeviceState, list[Routed]]:
    """Route one event of a device to its person; on linking, hand its past to the customer."""
    state = state if state is not None else DeviceState()
    event = item.event
    if event.customer_id is not None:
        out: list[Routed] = []
        if state.customer_id != event.customer_id and state.pending:
            out.append(_forget(state.pending[-1], anonymous_person(event.anonymous_id or "")))
            for earlier in state.pending:
                out.append(_to(earlier, event.customer_id, replayed=True))
        state.customer_id = event.customer_id
        state.pending.clear()
        out.append(_to(item, event.customer_id))
        return state, out
    if state.customer_id is not None:
        return state, [_to(item, state.customer_id)]
    if state.pending and event.event_time - state.pending[-1].event.event_time > PENDING_GAP_MS:
        state.pending.clear()  # a new anonymous session: the old one will not be stitched
    if len(state.pending) < PENDING_LIMIT:
        state.pending.append(item)
    return state, [_to(item, anonymous_person(event.anonymous_id or ""))]


def _to(item: Routed, person: str, *, replayed: bool = False) -> Routed:
    # A new object, not the buffered one: the flow stamps epochs on what it carries.
    return Routed(item.event, item.order, person, replayed or item.replayed, item.forget)


def _forget(item: Routed, person: str) -> Routed:
    return Routed(item.event, item.order, person, item.replayed, forget=True)
