"""The personalisation dataflow: events in, per-customer state, next-best-offers out.

    read -> decode -+-> dead letters
                    +-> (device events) stitch identity, ordered per device -+
                    +-> (customer-only events) ----------------------------+-> customer step,
                                                                              ordered per person
                         -> offers, Redis mirror, outcomes
                         -> closed decisions, keyed by offer -> learn -> model store

Only wiring lives here; every step is a plain function from `operators/`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.outputs import Sink

from flows.learning import learn
from flows.ordering import Timer, ordered_stateful
from operators.customer_step import Outcome, apply_routed, close_windows, next_window_end
from operators.identity import stitch_identity
from operators.learning import ArmUpdate
from operators.personalise import Personaliser
from operators.routing import Inbound, Routed, decode_inbound, sort_key
from schemas.events import DeadLetter, Offer


class InputTaps(Protocol):
    """Called for each decoded event and each dead letter (metrics)."""

    def event_in(self, step: str, item: Routed) -> None: ...

    def dead_letter(self, step: str, letter: DeadLetter) -> None: ...


@dataclass(frozen=True, slots=True)
class FlowOutputs:
    """Where the flow writes; the mirror, outcomes and model sinks are optional."""

    offers: Sink[Offer]
    dead_letters: Sink[DeadLetter]
    mirror: Sink[Outcome] | None = None
    outcomes: Sink[Outcome] | None = None
    model: Sink[ArmUpdate] | None = None


def _is_routed(item: Routed | DeadLetter) -> bool:
    return isinstance(item, Routed)


def _has_device(item: Routed) -> bool:
    return item.event.anonymous_id is not None


def _device_key(item: Routed) -> str:
    return item.event.anonymous_id or ""


def _to_customer(item: Routed) -> Routed:
    item.person = item.event.customer_id or ""
    return item


def _event_time(item: Routed) -> int:
    return item.event.event_time


def _person_key(item: Routed) -> str:
    return item.person


def _value(keyed: tuple[str, Routed | Outcome]) -> Routed | Outcome:
    return keyed[1]


def _offer_of(outcome: Outcome) -> Offer | None:
    return outcome.offer


def build_flow(
    read: Callable[[Dataflow], Stream[Inbound]],
    outputs: FlowOutputs,
    engine: Personaliser,
    max_message_bytes: int,
    *,
    strict_order: bool = True,
    name: str = "insession",
    taps: InputTaps | None = None,
) -> Dataflow:
    """Wire the personalisation flow between an input (`read` adds it) and `outputs`.

    `strict_order` makes outputs independent of the worker count (replay); live traffic
    turns it off for latency.
    """
    flow = Dataflow(name)
    inbound = read(flow)
    decoded = op.map("decode", inbound, partial(decode_inbound, max_bytes=max_message_bytes))
    valid = op.branch("valid", decoded, _is_routed)
    if taps is not None:
        op.inspect("count_in", valid.trues, taps.event_in)
        op.inspect("count_dead", valid.falses, taps.dead_letter)
    op.output("dead_letters", valid.falses, outputs.dead_letters)

    routed = op.branch("has_device", valid.trues, _has_device)
    by_device = op.key_on("by_device", routed.trues, _device_key)
    # Each device's batch is stitched at once, in the epoch it came in, so that its events
    # reach the customer step together with the customer's other events of that epoch (held
    # back a batch, they would be sorted after the customer's later events). Deterministic as
    # long as one device's events come from one input partition, as in a recording.
    stitched = ordered_stateful("stitch", by_device, stitch_identity, sort_key, strict=False)
    customer_only = op.map("to_customer", routed.falses, _to_customer)
    people = op.merge("people", op.map("stitched", stitched, _value), customer_only)

    by_person = op.key_on("by_person", people, _person_key)
    windows = Timer(next_window_end, partial(close_windows, engine), _event_time)
    decided = ordered_stateful(
        "customer",
        by_person,
        partial(apply_routed, engine),
        sort_key,
        strict=strict_order,
        timer=windows if engine.model.learns else None,
    )
    outcomes: Stream[Outcome] = op.map("outcomes", decided, _value)
    op.output("offers", op.filter_map("chosen", outcomes, _offer_of), outputs.offers)
    if outputs.mirror is not None:
        op.output("mirror", outcomes, outputs.mirror)
    if outputs.outcomes is not None:
        op.output("outcomes_out", outcomes, outputs.outcomes)
    if engine.model.learns:
        updates = learn(outcomes, engine.model)
        if outputs.model is not None:
            op.output("model_out", updates, outputs.model)
    return flow
