"""What travels between the flow's steps: raw input, decoded events, and their order keys.

Every message is stamped with where it came from (source, partition, offset). That position
breaks ties between events with the same event time, so that ordered steps process a
customer's events in one total order whatever the worker count. Shoppers' events travel as
`Routed`; the catalogue's product updates, which name no shopper, as `FeedItem`, so that no
step keyed by person or device ever receives one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from insession.models.sentiment import TextScorer
from insession.operators.dead_letters import to_dead_letter
from insession.operators.sentiment import with_score
from insession.schemas import compact
from insession.schemas.codec import Rejection, decode
from insession.schemas.events import (
    Contract,
    DeadLetter,
    ErasureRequest,
    Event,
    IdentityLink,
    ProductUpdate,
    SocialPost,
    Stamped,
)
from insession.schemas.signatures import signature_valid

OrderKey = tuple[int, str, int, int]
"""(event time, source, partition, offset): a total order over all input messages."""

SortKey = tuple[int, str, int, int, bool]


@dataclass(frozen=True, slots=True)
class Inbound:
    """One raw message as read, with its position in its source; `error` (with its reason
    code) when the source could not read the message itself."""

    source: str
    partition: int
    offset: int
    raw: bytes | None
    key: bytes | None = None
    error: str | None = None
    error_reason: str = "consumer_error"


@dataclass(slots=True)
class Routed:
    """A decoded event on its way to a keyed step; `epoch` is set by the flow on arrival."""

    event: Event
    order: OrderKey
    person: str = ""
    replayed: bool = False
    forget: bool = False
    epoch: int = 0

    def __reduce__(self) -> tuple[Callable[[Packed], Routed], tuple[Packed]]:
        """Pickled in its packed form (snapshots): one global instead of one per class."""
        return unpack_routed, (pack_routed(self),)


Packed = tuple[str, tuple[Any, ...], OrderKey, str, bool, bool, int]
"""A `Routed` as plain values: its event's contract name and values (`schemas.compact`), then
its order, person, flags and epoch."""


def pack_routed(item: Routed) -> Packed:
    """The form an event crosses to another worker in: Bytewax pickles every crossing item
    twice (once to size it) and unpickles it once, and a tuple of plain values pickles
    without a single import lookup; a `Routed` pickled as objects cost about 20 µs."""
    name, values = compact.state_of(item.event)
    return name, values, item.order, item.person, item.replayed, item.forget, item.epoch


def unpack_routed(packed: Packed) -> Routed:
    """The `Routed` that `pack_routed` packed, equal to the original."""
    name, values, order, person, replayed, forget, epoch = packed
    return Routed(compact.from_state(name, values), order, person, replayed, forget, epoch)


@dataclass(slots=True)
class FeedItem:
    """A decoded product update on its way to the products step (it names no shopper)."""

    event: ProductUpdate
    order: OrderKey


def decode_inbound(
    inbound: Inbound,
    max_bytes: int,
    now_ms: int | None = None,
    *,
    sentiment: TextScorer,
    ahead_tolerance_ms: int | None = None,
    identity_secret: str = "",
) -> Routed | FeedItem | DeadLetter:
    """Decode and validate; a bad or non-input message becomes a dead letter with the reason.

    A social post that came without a score gets `sentiment`'s score of its text.

    With `ahead_tolerance_ms` (live flows), an event dated further than that ahead of the wall
    clock is refused too: a wrong clock must not stand for the stream's time. With an
    `identity_secret`, an identity link without its valid signature is refused
    (`unverified_identity_link`): it must not link a device to a customer.
    """
    decoded: Contract | Rejection = (
        decode(inbound.raw, max_bytes=max_bytes)
        if inbound.error is None
        else Rejection(inbound.error_reason, None, inbound.error)
    )
    if ahead_tolerance_ms is not None and isinstance(decoded, Stamped):
        decoded = _not_ahead(decoded, now_ms, ahead_tolerance_ms)
    if identity_secret and isinstance(decoded, IdentityLink):
        decoded = _verified(decoded, identity_secret)
    if isinstance(decoded, Event):
        if isinstance(decoded, SocialPost):
            decoded = with_score(decoded, sentiment)
        order = (decoded.event_time, inbound.source, inbound.partition, inbound.offset)
        return Routed(decoded, order)
    if isinstance(decoded, ProductUpdate):
        order = (decoded.event_time, inbound.source, inbound.partition, inbound.offset)
        return FeedItem(decoded, order)
    if not isinstance(decoded, Rejection):
        decoded = Rejection(
            "not_an_input_event", "type", f"{decoded.type} is not an event the engine consumes"
        )
    return to_dead_letter(
        inbound.raw,
        decoded,
        source=inbound.source,
        partition=inbound.partition,
        offset=inbound.offset,
        stage="decode",
        failed_at=now_ms if now_ms is not None else int(time.time() * 1000),
        max_bytes=max_bytes,
    )


def _not_ahead(event: Stamped, now_ms: int | None, tolerance_ms: int) -> Stamped | Rejection:
    wall_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    ahead_ms = event.event_time - wall_ms
    if ahead_ms <= tolerance_ms:
        return event
    return Rejection(
        "event_time_ahead",
        "event_time",
        f"{ahead_ms / 1000:.0f} s ahead of the wall clock (tolerance {tolerance_ms / 1000:.0f} s)",
    )


def _verified(link: IdentityLink, secret: str) -> IdentityLink | Rejection:
    if signature_valid(link, secret):
        return link
    why = "has no signature" if link.signature is None else "has a signature that does not match"
    return Rejection(
        "unverified_identity_link", "signature", f"identity link {why} (identity secret set)"
    )


def sort_key(item: Routed) -> SortKey:
    """The sort key of ordered steps; a `forget` sorts after the event it follows."""
    return (*item.order, item.forget)


# Where each event goes: the flow's keyed steps and the closed loop route with these.


def has_device(item: Routed) -> bool:
    """Whether the event is stitched under its device first. An erasure goes to its customer
    (and the links step), never through a device's stitch."""
    return item.event.anonymous_id is not None and not isinstance(item.event, ErasureRequest)


def device_key(item: Routed) -> str:
    """The key of the stitch step: the device (or cookie) id."""
    return item.event.anonymous_id or ""


def customer_key(item: Routed) -> str:
    """The key of the links step: the customer id."""
    return item.event.customer_id or ""


def to_customer(item: Routed) -> Routed:
    """An event without a device goes to its customer as it is."""
    item.person = item.event.customer_id or ""
    return item


def person_key(item: Routed) -> str:
    """The key of the customer step: the person the event was routed to."""
    return item.person


def event_time(item: Routed) -> int:
    return item.event.event_time


def input_partition(item: Routed | FeedItem) -> tuple[str, int]:
    """The (source, partition) the item was read from: what the flow's clocks keep per."""
    return item.order[1], item.order[2]
