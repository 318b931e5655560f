"""The devices each customer is linked to, so that an erasure can unlink every one of them.

Keyed by customer id and fed copies of the identity links and erasure requests, this step
remembers which devices were linked to the customer. At an erasure it sends each of them a
`forget` item for the stitch step (`operators.identity`), which drops that device's link, so
the device's next event starts as a stranger's and no device state names the customer; then
it forgets the customer itself. Bytewax only snapshots a key again when an item reaches it:
the `forget` items are what make the devices' snapshots drop the customer too.

>>> from insession.operators.routing import Routed
>>> from insession.schemas.events import ErasureRequest, IdentityLink
>>> link = IdentityLink(event_id="l1", event_time=1, channel="web", customer_id="c-1",
...                     anonymous_id="dev-1")
>>> state, _ = record_links(None, Routed(link, (1, "identity", 0, 0)))
>>> erase = ErasureRequest(event_id="e1", event_time=2, channel="web", customer_id="c-1",
...                        request_id="r-1")
>>> state, out = record_links(state, Routed(erase, (2, "erasure", 0, 0)))
>>> state, [(r.event.anonymous_id, r.event.customer_id, r.forget) for r in out]
(None, [('dev-1', 'c-1', True)])
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from insession.operators.routing import Routed
from insession.schemas.events import ErasureRequest, IdentityLink

LINKED_DEVICES_LIMIT = 1000
"""Devices remembered per customer; linking one more unlinks the one linked longest ago."""


@dataclass(slots=True)
class CustomerDevices:
    """The devices linked to one customer, the most recently linked last."""

    devices: dict[str, int] = field(default_factory=dict)
    """Device id -> time of its latest link (epoch ms)."""


def is_link_event(item: Routed) -> bool:
    """Whether the links step needs the event: an identity link or an erasure request."""
    return isinstance(item.event, IdentityLink | ErasureRequest)


def record_links(
    state: CustomerDevices | None, item: Routed
) -> tuple[CustomerDevices | None, list[Routed]]:
    """Remember a link; at an erasure, a `forget` for each device linked and no state."""
    event = item.event
    if isinstance(event, ErasureRequest):
        devices = state.devices if state is not None else {}
        return None, [_forget_link(item, device) for device in devices]
    state = state if state is not None else CustomerDevices()
    device = event.anonymous_id or ""
    state.devices.pop(device, None)
    state.devices[device] = event.event_time
    out = []
    while len(state.devices) > LINKED_DEVICES_LIMIT:
        oldest = next(iter(state.devices))
        del state.devices[oldest]
        out.append(_forget_link(item, oldest))
    return state, out


def _forget_link(item: Routed, device: str) -> Routed:
    """An item for the stitch step: drop `device`'s link to this event's customer."""
    event = dataclasses.replace(item.event, anonymous_id=device)
    return Routed(event, item.order, forget=True)
