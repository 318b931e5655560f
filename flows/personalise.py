"""The personalisation dataflow: events in, per-customer state, next-best-offers out.

    read -> decode -+-> dead letters (and the stitch step's: unlinked customer ids)
                    +-> (product updates; and what events show of products) product store
                    +-> (identity links, erasures) devices per customer --forget links--+
                    +-> (device events) -----------------------------------------------+
                          -> stitch identity, ordered per device --+
                    +-> (customer-only events, erasures) ----------+-> customer step,
                                                                     ordered per person
                         (live, with Redis: dormant records read first, a batch at a time)
                         -> offers, Redis mirror, outcomes
                         -> closed decisions, keyed by offer -> learn -> model store

Only wiring lives here; every step is a plain function from `operators/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Protocol

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import Source
from bytewax.outputs import Sink
from insession.flows.learning import learn
from insession.flows.ordering import Crossing, Timer, Watermarked, ordered_stateful
from insession.models.items import Observation
from insession.models.sentiment import TextScorer
from insession.operators.customer_step import (
    Outcome,
    apply_routed,
    close_windows,
    next_window_end,
    shelve,
)
from insession.operators.device_links import is_link_event, record_links
from insession.operators.dormant import PrefetchingStore
from insession.operators.event_clock import EventClock, HeldBack
from insession.operators.identity import (
    DEFAULT_TRUST,
    IdentityTrust,
    drop_stale,
    stale_at,
    stitch_identity,
)
from insession.operators.learning import ArmUpdate
from insession.operators.personalise import Personaliser
from insession.operators.products import ProductStore
from insession.operators.routing import (
    FeedItem,
    Inbound,
    Routed,
    customer_key,
    decode_inbound,
    device_key,
    event_time,
    has_device,
    input_partition,
    pack_routed,
    person_key,
    sort_key,
    to_customer,
    unpack_routed,
)
from insession.schemas.events import DeadLetter, Offer, OfferWithdrawal


class InputTaps(Protocol):
    """Called for each decoded event and each dead letter (metrics)."""

    def event_in(self, step: str, item: Routed | FeedItem) -> None: ...

    def dead_letter(self, step: str, letter: DeadLetter) -> None: ...


@dataclass(frozen=True, slots=True)
class LiveTime:
    """How a live flow keeps time: the stream's watermark (`EventClock`), how far ahead of the
    wall clock an event may be dated, and how long a key's items may wait for the watermark."""

    clock: EventClock
    ahead_tolerance_ms: int
    max_hold_ms: int


@dataclass(frozen=True, slots=True)
class FlowOutputs:
    """Where the flow writes; the mirror, outcomes and model sinks are optional."""

    offers: Sink[Offer | OfferWithdrawal]
    """Offers, and withdrawals of offers (after a consent revoke), in the order made."""
    dead_letters: Sink[DeadLetter]
    mirror: Sink[Outcome] | None = None
    outcomes: Sink[Outcome] | None = None
    model: Sink[ArmUpdate] | None = None
    items: Sink[Observation] | None = None
    """What the flow's events taught the item knowledge, for the other processes
    (`insession.connectors.item_log`)."""


PACKED = Crossing(pack_routed, unpack_routed)
"""Events cross to the worker that owns their key as plain values, not as objects."""


def _is_decoded(item: Routed | FeedItem | DeadLetter) -> bool:
    return not isinstance(item, DeadLetter)


def _is_routed(item: Routed | FeedItem | DeadLetter) -> bool:
    return isinstance(item, Routed)


def _learn_update(store: ProductStore, _step: str, item: FeedItem) -> None:
    store.learn_update(item.event)


def _link_copy(item: Routed) -> Routed | None:
    """A copy for the links step (the original goes on: the flow stamps what it carries)."""
    return Routed(item.event, item.order) if is_link_event(item) else None


def _value(keyed: tuple[str, Routed | Outcome]) -> Routed | Outcome:
    return keyed[1]


def _offer_messages(outcome: Outcome) -> list[Offer | OfferWithdrawal]:
    """Withdrawals first: an offer made by the same event is never among them."""
    messages: list[Offer | OfferWithdrawal] = list(outcome.withdrawals)
    if outcome.offer is not None:
        messages.append(outcome.offer)
    return messages


def _observations_of(outcome: Outcome) -> tuple[Observation, ...]:
    return outcome.observations


def _prefetch(store: PrefetchingStore, items: list[Routed]) -> list[Routed]:
    store.prefetch(item.person for item in items)
    return items


def _tick_clock(clock: EventClock, _step: str, item: Routed | FeedItem) -> None:
    clock.saw(input_partition(item), item.event.event_time)


def build_flow(
    source: Source[Inbound],
    outputs: FlowOutputs,
    engine: Personaliser,
    max_message_bytes: int,
    *,
    sentiment: TextScorer,
    name: str = "insession",
    taps: InputTaps | None = None,
    live: LiveTime | None = None,
    trust: IdentityTrust = DEFAULT_TRUST,
    one_worker: bool = False,
) -> Dataflow:
    """Wire the personalisation flow between a Bytewax source (Kafka, recordings) and sinks.

    `sentiment` scores the posts that arrive without a score, from their text. Replays
    (`live` None) order each key's items per epoch, so outputs are independent of the
    worker count; live flows order them by the stream's watermark (`live.clock`). `trust` says
    which identity links to believe and what becomes of unlinked customer ids. `one_worker`
    (one worker in one process) skips packing the events that keyed steps would otherwise
    send to other workers (`PACKED`).
    """
    packed = None if one_worker else PACKED
    flow = Dataflow(name)
    inbound = op.input("read", flow, source)
    ahead_ms = live.ahead_tolerance_ms if live is not None else None
    decode = partial(
        decode_inbound,
        max_bytes=max_message_bytes,
        sentiment=sentiment,
        ahead_tolerance_ms=ahead_ms,
        identity_secret=trust.secret,
    )
    decoded = op.map("decode", inbound, decode)
    valid = op.branch("valid", decoded, _is_decoded)
    if live is not None:
        op.inspect("clock", valid.trues, partial(_tick_clock, live.clock))
    if taps is not None:
        op.inspect("count_in", valid.trues, taps.event_in)
    # Product updates name no shopper: they teach the process's product store, and nothing
    # keyed by person or device sees them. Shoppers' events teach it what they show too, in
    # the customer step (`Personaliser.handle`).
    shoppers = op.branch("shoppers", valid.trues, _is_routed)
    op.inspect("products", shoppers.falses, partial(_learn_update, engine.products))
    events = shoppers.trues

    # Live, each ordered step waits for the watermark and for what the step before it holds.
    links_held, devices_held = HeldBack(), HeldBack()
    at_links, at_devices, at_people = (
        (
            Watermarked(live.clock, event_time, live.max_hold_ms, holds=links_held),
            Watermarked(
                live.clock, event_time, live.max_hold_ms, holds=devices_held, after=links_held
            ),
            Watermarked(live.clock, event_time, live.max_hold_ms, after=devices_held),
        )
        if live is not None
        else (None, None, None)
    )
    # Per customer, the devices linked to them: an erasure unlinks each (`forget` items).
    link_events = op.filter_map("link_events", events, _link_copy)
    by_customer = op.key_on("by_customer", link_events, customer_key)
    unlinks = ordered_stateful(
        "links",
        by_customer,
        record_links,
        sort_key,
        strict=False,
        watermarked=at_links,
        crossing=packed,
    )
    routed = op.branch("has_device", events, has_device)
    device_items = op.merge("device_items", routed.trues, op.map("unlinks", unlinks, _value))
    by_device = op.key_on("by_device", device_items, device_key)
    # Each device's batch is stitched at once, in the epoch it came in, so that its events
    # reach the customer step together with the customer's other events of that epoch (held
    # back a batch, they would be sorted after the customer's later events). Deterministic as
    # long as one device's events come from one input partition, as in a recording. An
    # unlinked device leaves memory when its anonymous session ends (`stale_at`).
    stitch = partial(stitch_identity, trust=trust)
    idle_ms = engine.config.idle_eviction_ms
    stitched = ordered_stateful(
        "stitch",
        by_device,
        stitch,
        sort_key,
        strict=False,
        timer=Timer(
            partial(stale_at, idle_ms=idle_ms),
            partial(drop_stale, idle_ms=idle_ms),
            event_time,
            idle=True,
        ),
        watermarked=at_devices,
        crossing=packed,
    )
    stitch_out = op.branch("believed", op.map("stitched", stitched, _value), _is_routed)
    dead = op.merge("dead", valid.falses, stitch_out.falses)
    if taps is not None:
        op.inspect("count_dead", dead, taps.dead_letter)
    op.output("dead_letters", dead, outputs.dead_letters)
    customer_only = op.map("to_customer", routed.falses, to_customer)
    people = op.merge("people", stitch_out.trues, customer_only)

    if isinstance(engine.dormant, PrefetchingStore):
        # Live with Redis: the records of a batch's people not in memory, in one round trip.
        people = op.flat_map_batch("prefetch", people, partial(_prefetch, engine.dormant))
    by_person = op.key_on("by_person", people, person_key)
    windows = Timer(partial(next_window_end, engine), partial(close_windows, engine), event_time)
    # Each person's shelf is computed once per release of their events, after the last
    # product event: what the mirror writes of them (their latest) is the same, for less.
    decided = ordered_stateful(
        "customer",
        by_person,
        partial(apply_routed, engine, shelve=False),
        sort_key,
        strict=live is None,
        timer=windows if engine.model.learns or engine.evicts else None,
        watermarked=at_people,
        finish=partial(shelve, engine),
        crossing=packed,
    )
    outcomes: Stream[Outcome] = op.map("outcomes", decided, _value)
    op.output("offers", op.flat_map("offer_messages", outcomes, _offer_messages), outputs.offers)
    if outputs.mirror is not None:
        op.output("mirror", outcomes, outputs.mirror)
    if outputs.outcomes is not None:
        op.output("outcomes_out", outcomes, outputs.outcomes)
    if outputs.items is not None:
        observed = op.flat_map("observations", outcomes, _observations_of)
        op.output("items_out", observed, outputs.items)
    if engine.model.learns:
        updates = learn("learn", outcomes, engine.model)
        if outputs.model is not None:
            op.output("model_out", updates, outputs.model)
    return flow
