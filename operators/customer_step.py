"""The per-customer step: one routed event in, offers and mirror updates out."""

from __future__ import annotations

from dataclasses import dataclass

from operators.decide import Decision
from operators.personalise import Personaliser
from operators.routing import Routed
from operators.session import CustomerState
from schemas.events import ErasureRequest, Offer


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one event produced for one person: an offer, a state to mirror, or an erasure."""

    person: str
    event_type: str
    event_time: int
    offer: Offer | None = None
    decision_reason: str | None = None
    state: CustomerState | None = None
    erased: bool = False


def apply_routed(
    engine: Personaliser, state: CustomerState | None, item: Routed
) -> tuple[CustomerState | None, list[Outcome]]:
    """Update the person's state with the event; decide unless it is a replayed past event.

    Returns None as the state when the person must be forgotten (erasure, or an anonymous
    device that turned out to be a known customer).
    """
    event = item.event
    if item.forget or isinstance(event, ErasureRequest):
        return None, [Outcome(item.person, event.type, event.event_time, erased=True)]
    if state is None:
        state = CustomerState(person=item.person)
    if item.replayed:
        engine.apply_only(state, event)
        decision = Decision(None, "replayed")
    else:
        decision = engine.on_event(state, event)
    return state, [
        Outcome(item.person, event.type, event.event_time, decision.offer, decision.reason, state)
    ]
