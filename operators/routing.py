"""What travels between the flow's steps: raw input, decoded events, and their order keys.

Every message is stamped with where it came from (source, partition, offset). That position
breaks ties between events with the same event time, so that ordered steps process a
customer's events in one total order whatever the worker count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from operators.dead_letters import to_dead_letter
from operators.sentiment import with_score
from schemas.codec import Rejection, decode
from schemas.events import Contract, DeadLetter, Event, SocialPost

OrderKey = tuple[int, str, int, int]
"""(event time, source, partition, offset): a total order over all input messages."""

SortKey = tuple[int, str, int, int, bool]


@dataclass(frozen=True, slots=True)
class Inbound:
    """One raw message as read, with its position in its source."""

    source: str
    partition: int
    offset: int
    raw: bytes | None
    key: bytes | None = None
    error: str | None = None


@dataclass(slots=True)
class Routed:
    """A decoded event on its way to a keyed step; `epoch` is set by the flow on arrival."""

    event: Event
    order: OrderKey
    person: str = ""
    replayed: bool = False
    forget: bool = False
    epoch: int = 0


def decode_inbound(
    inbound: Inbound, max_bytes: int, now_ms: int | None = None
) -> Routed | DeadLetter:
    """Decode and validate; a bad or non-event message becomes a dead letter with the reason."""
    decoded: Contract | Rejection = (
        decode(inbound.raw, max_bytes=max_bytes)
        if inbound.error is None
        else Rejection("consumer_error", None, inbound.error)
    )
    if isinstance(decoded, Event):
        if isinstance(decoded, SocialPost):
            decoded = with_score(decoded)
        order = (decoded.event_time, inbound.source, inbound.partition, inbound.offset)
        return Routed(decoded, order)
    if not isinstance(decoded, Rejection):
        decoded = Rejection(
            "not_an_input_event", "type", f"{decoded.type} is not an event the engine consumes"
        )
    return to_dead_letter(
        _truncated(inbound.raw, max_bytes),
        decoded,
        source=inbound.source,
        partition=inbound.partition,
        offset=inbound.offset,
        stage="decode",
        failed_at=now_ms if now_ms is not None else int(time.time() * 1000),
    )


def _truncated(raw: bytes | None, max_bytes: int) -> bytes | None:
    """Oversized originals are cut to the limit: the dead letter must fit a Kafka message."""
    return raw[:max_bytes] if raw is not None and len(raw) > max_bytes else raw


def sort_key(item: Routed) -> SortKey:
    """The sort key of ordered steps; a `forget` sorts after the event it follows."""
    return (*item.order, item.forget)
