"""The per-customer step: one routed event in, offers and mirror updates out."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from insession.models.items import Observation, Recommendation
from insession.operators.decide import Decision
from insession.operators.dormant import (
    dormant_record,
    evictable,
    eviction_due,
    revived,
)
from insession.operators.feedback_join import LearningExample
from insession.operators.personalise import Personaliser
from insession.operators.routing import Routed
from insession.operators.session import CustomerState
from insession.schemas.events import ErasureRequest, Offer, OfferWithdrawal

REWARD_WINDOW = "reward_window"
"""`event_type` of an outcome made by a reward window ending, not by an event."""
EVICTED = "evicted"
"""`event_type` of an outcome made by a person leaving memory, idle (`operators.dormant`)."""
DUPLICATE = "duplicate"
"""`decision_reason` of an event dropped as a redelivery of one the person already sent."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one event produced for one person: an offer, a state to mirror, an erasure, and
    the decisions it closed (learning examples)."""

    person: str
    event_type: str
    event_time: int
    offer: Offer | None = None
    decision_reason: str | None = None
    state: CustomerState | None = None
    erased: bool = False
    examples: tuple[LearningExample, ...] = ()
    candidates: tuple[str, ...] = ()
    """The action ids the offer was chosen among."""
    seconds: float = 0.0
    """Time the engine spent on the event (state, signals, decision), for the latency metric."""
    withdrawals: tuple[OfferWithdrawal, ...] = ()
    """Offers the event took back (a consent revoke), for the offers output and the mirror."""
    duplicate: bool = False
    """The event was a redelivery, dropped: nothing changed."""
    observations: tuple[Observation, ...] = ()
    """What the event taught the item knowledge (for processes that share it)."""
    shelf: tuple[Recommendation, ...] | None = None
    """The person's "for you" shelf when the event changed it (None: unchanged)."""
    evicted: bool = False
    """The person left memory, idle; their record waits in the dormant store."""


def apply_routed(
    engine: Personaliser, state: CustomerState | None, item: Routed, *, shelve: bool = True
) -> tuple[CustomerState | None, list[Outcome]]:
    """Update the person's state with the event; decide unless it is a replayed past event.

    Returns None as the state when the person must be forgotten (erasure, or an anonymous
    device that turned out to be a known customer). An erased customer's pending decisions
    are dropped: their context must not be learned from. An event the person already sent
    (same `event_id`, `operators.duplicates`) changes nothing; the check comes after the
    erasure and the forget, which must act whatever was seen before (the forget carries the
    device's last event again). `shelve` False leaves a product event's shelf due, for
    `shelve` to compute once after a batch of the person's events.
    """
    event = item.event
    if state is None and engine.dormant is not None:
        state = revived(engine.dormant, item.person)
    if isinstance(event, ErasureRequest):
        if engine.dormant is not None:
            engine.dormant.delete(item.person)
        forgot = engine.forget_items(state) if state is not None else ()
        return None, [
            Outcome(item.person, event.type, event.event_time, erased=True, observations=forgot)
        ]
    if item.forget:
        # Feedback to the device's offers now reaches the customer, who never made them:
        # they close now with the default outcome. The device's sessions leave the item
        # knowledge: its history is learned again as the customer's (replayed events).
        closed = engine.close_expired(state, None) if state is not None else []
        forgot = engine.forget_items(state, erasure=False) if state is not None else ()
        if engine.dormant is not None:
            engine.dormant.delete(item.person)
        return None, [
            Outcome(
                item.person,
                event.type,
                event.event_time,
                erased=True,
                examples=tuple(closed),
                observations=forgot,
            )
        ]
    if state is None:
        state = CustomerState(person=item.person)
    if not state.seen.first_time(event.event_id):
        # A replayed duplicate was already counted when the device's own person dropped it.
        reason = "replayed" if item.replayed else DUPLICATE
        return state, [
            Outcome(
                item.person, event.type, event.event_time, decision_reason=reason, duplicate=True
            )
        ]
    withdrawals: list[OfferWithdrawal] = []
    shelf = None
    if item.replayed:
        observations = engine.apply_only(state, event)
        decision = Decision(None, "replayed")
        examples: list[LearningExample] = []
        seconds = 0.0
    else:
        started = time.perf_counter()
        decision, observations, shelf = engine.handle(state, event, shelve=shelve)
        seconds = time.perf_counter() - started
        examples = engine.close_decisions(state, event, decision)
        withdrawals = engine.follow_offers(state, event, decision.offer)
    return state, [
        Outcome(
            item.person,
            event.type,
            event.event_time,
            decision.offer,
            decision.reason,
            state,
            examples=tuple(examples),
            candidates=decision.candidates,
            seconds=seconds,
            withdrawals=tuple(withdrawals),
            observations=observations,
            shelf=shelf,
        )
    ]


def shelve(
    engine: Personaliser, state: CustomerState | None, outcomes: list[Outcome]
) -> list[Outcome]:
    """After a batch of one person's events: their shelf, if a product event left it due,
    goes with the batch's last outcome that carries their state (for the mirror)."""
    if state is None or not state.shelf_due:
        return outcomes
    shelf = engine.refresh_shelf(state)
    for at in range(len(outcomes) - 1, -1, -1):
        if outcomes[at].state is not None:
            outcomes[at] = dataclasses.replace(outcomes[at], shelf=shelf)
            break
    return outcomes


def close_windows(
    engine: Personaliser, state: CustomerState, now_ms: int | None
) -> tuple[CustomerState | None, list[Outcome]]:
    """The step's timer: decisions whose reward window ended without an answer get the
    default outcome (`now_ms` None: the input ended, so every pending decision closes); then
    a person idle past the window leaves memory for the dormant store (None as the state),
    unless the store cannot keep them now."""
    examples = engine.close_expired(state, now_ms)
    out = []
    if examples:
        when = now_ms if now_ms is not None else max(e.closed_at for e in examples)
        out.append(Outcome(state.person, REWARD_WINDOW, when, examples=tuple(examples)))
    idle_ms = engine.config.idle_eviction_ms
    if now_ms is None or not engine.evicts or not evictable(state, now_ms, idle_ms):
        return state, out
    assert engine.dormant is not None
    if not engine.dormant.save(state.person, dormant_record(state)):
        return state, out
    engine.recs.drop_cached(state)
    out.append(Outcome(state.person, EVICTED, now_ms, evicted=True))
    return None, out


def next_window_end(engine: Personaliser, state: CustomerState) -> int | None:
    """When `close_windows` next has work for this person (epoch ms), if ever: a reward
    window's end, or the person's leaving memory."""
    due = [state.pending.next_expiry()] if state.pending is not None else []
    if engine.evicts:
        due.append(eviction_due(state, engine.config.idle_eviction_ms))
    return min((d for d in due if d is not None), default=None)
