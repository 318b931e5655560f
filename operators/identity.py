"""Identity stitching: a device's anonymous activity follows the customer once they log in.

The state is kept per anonymous (device or cookie) id. Until the device is linked, its
events belong to the person `anon:<id>` and are also kept (a bounded, session-long buffer).
Only an `identity_link` links the device to a customer: the storefront's backend sends it at
a login, signed when the engine has an identity secret (`schemas.signatures`; the decoder
dead-letters a link without a valid signature). At the link, the buffered events of the
device's current anonymous session are sent again, now to the customer, marked `replayed` so
they update the customer's state without triggering decisions twice, and the anonymous person
is told to forget its state. An anonymous session that ended (`PENDING_GAP_MS` before the link
or before a later anonymous event) stays the device's own, so an unlinked device leaves memory
as soon as its session ends (`stale_at`, the step's timer): it then holds nothing of use.

Any other event is a client's word: a customer id it carries that its device is not linked
to is not believed. By `IdentityTrust.unlinked` the event is handled as the device's, without
the claimed id (the default), or dead-lettered (`unlinked_customer_id`). A `forget` item
(sent by `operators.device_links` when the customer is erased) drops the device's link, so
the device starts again as a stranger.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

from insession.operators.dead_letters import to_dead_letter
from insession.operators.routing import Routed
from insession.schemas.codec import Rejection, encode
from insession.schemas.events import DeadLetter, IdentityLink

PENDING_LIMIT = 100
PENDING_GAP_MS = 30 * 60 * 1000

AS_DEVICE = "device"
DEAD_LETTER = "dead_letter"
UNLINKED_POLICIES = (AS_DEVICE, DEAD_LETTER)
"""What becomes of a client event claiming a customer its device is not linked to."""


@dataclass(frozen=True, slots=True)
class IdentityTrust:
    """Who may link devices to customers: identity links, signed when `secret` is set, and
    what becomes of other events' unvouched customer ids (`unlinked`)."""

    secret: str = ""
    unlinked: str = AS_DEVICE

    def __post_init__(self) -> None:
        if self.unlinked not in UNLINKED_POLICIES:
            raise ValueError(
                f"unlinked_customer: {self.unlinked!r} is not one of {', '.join(UNLINKED_POLICIES)}"
            )


ANONYMOUS_PREFIX = "anon:"


DEFAULT_TRUST = IdentityTrust()
"""Unsigned identity links are believed; unlinked customer ids are dropped (the device's)."""


def anonymous_person(anonymous_id: str) -> str:
    """The person key of a device not yet linked to a customer."""
    return f"{ANONYMOUS_PREFIX}{anonymous_id}"


def is_anonymous(person: str) -> bool:
    """Whether `person` is a device's (`anon:<id>`) rather than a customer's."""
    return person.startswith(ANONYMOUS_PREFIX)


@dataclass(slots=True)
class DeviceState:
    """What one device id is known to be."""

    customer_id: str | None = None
    pending: list[Routed] = field(default_factory=list)


def stitch_identity(
    state: DeviceState | None, item: Routed, trust: IdentityTrust = DEFAULT_TRUST
) -> tuple[DeviceState | None, list[Routed | DeadLetter]]:
    """Route one event of a device to its person; on linking, hand its past to the customer."""
    event = item.event
    if item.forget:
        if state is not None and state.customer_id == event.customer_id:
            return None, []  # the customer is erased: the device is a stranger again
        return state, []
    state = state if state is not None else DeviceState()
    if isinstance(event, IdentityLink):
        return state, _link(state, item)
    if event.customer_id is not None and event.customer_id != state.customer_id:
        if trust.unlinked == DEAD_LETTER:
            return state, [unlinked_dead_letter(item)]
        item = _unclaimed(item)
    if state.customer_id is not None:
        return state, [_to(item, state.customer_id)]
    if state.pending and event.event_time - state.pending[-1].event.event_time > PENDING_GAP_MS:
        state.pending.clear()  # a new anonymous session: the old one will not be stitched
    if len(state.pending) < PENDING_LIMIT:
        state.pending.append(item)
    return state, [_to(item, anonymous_person(event.anonymous_id or ""))]


def _link(state: DeviceState, item: Routed) -> list[Routed]:
    customer = item.event.customer_id or ""
    out: list[Routed] = []
    if state.customer_id != customer and _current(state.pending, item.event.event_time):
        out.append(_forget(state.pending[-1], anonymous_person(item.event.anonymous_id or "")))
        for earlier in state.pending:
            out.append(_to(earlier, customer, replayed=True))
    state.customer_id = customer
    state.pending.clear()
    out.append(_to(item, customer))
    return out


def _current(pending: list[Routed], now_ms: int) -> bool:
    """Whether the buffered anonymous session is still going at `now_ms`."""
    return bool(pending) and now_ms - pending[-1].event.event_time <= PENDING_GAP_MS


def stale_at(state: DeviceState, idle_ms: int) -> int | None:
    """When an unlinked device holds nothing a later event needs: its anonymous session has
    ended (`PENDING_GAP_MS` without an event), so a login would stitch nothing of it and the
    device's next event starts a new one, as for a device never seen. `idle_ms` 0 keeps every
    device. A linked device is kept: it routes the device's events to its customer."""
    if idle_ms <= 0 or state.customer_id is not None or not state.pending:
        return None
    return state.pending[-1].event.event_time + PENDING_GAP_MS + 1


def drop_stale(
    state: DeviceState, now_ms: int | None, idle_ms: int
) -> tuple[DeviceState | None, list[Routed]]:
    """The stitch step's timer: an unlinked device whose anonymous session ended leaves
    memory (its next event is handled as it would be with the state kept)."""
    due = stale_at(state, idle_ms)
    if now_ms is None or due is None or now_ms < due:
        return state, []
    return None, []


def unlinked_dead_letter(item: Routed, now_ms: int | None = None) -> DeadLetter:
    """The dead letter of an event whose customer id its device is not linked to."""
    event = item.event
    _, source, partition, offset = item.order
    return to_dead_letter(
        encode(event),
        Rejection(
            "unlinked_customer_id",
            "customer_id",
            f"device {event.anonymous_id} is not linked to this customer; only an identity_link "
            "from the shop's backend links them",
        ),
        source=source,
        partition=partition,
        offset=offset,
        stage="stitch",
        failed_at=now_ms if now_ms is not None else int(time.time() * 1000),
    )


def _unclaimed(item: Routed) -> Routed:
    """The event as its device's, without the customer id nobody vouched for."""
    event = dataclasses.replace(item.event, customer_id=None)
    return Routed(event, item.order, item.person, item.replayed, item.forget)


def _to(item: Routed, person: str, *, replayed: bool = False) -> Routed:
    # A new object, not the buffered one: the flow stamps epochs on what it carries.
    return Routed(item.event, item.order, person, replayed or item.replayed, item.forget)


def _forget(item: Routed, person: str) -> Routed:
    return Routed(item.event, item.order, person, item.replayed, forget=True)
