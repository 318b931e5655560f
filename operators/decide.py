"""Choosing the next-best-offer: candidates, eligibility, contact policy, arbitration.

`choose_offer` is pure: the same state, event, catalogue and scorer give the same offer with
the same stable id, so a replayed or retried decision is recognised by the storefront.
"""

from __future__ import annotations

import functools
import hashlib
import time
from dataclasses import dataclass, field

from models.scorer import Scorer
from operators.catalogue import Catalogue, CatalogueOffer
from operators.control_group import ControlGroup
from operators.features import Features
from operators.session import CustomerState, ShownOffer
from schemas.events import Event, Offer

POLICY_EXEMPT_KINDS = frozenset({"service_recovery"})


@dataclass(frozen=True, slots=True)
class Decision:
    """The chosen offer, or why none was made, and what was considered."""

    offer: Offer | None
    reason: str
    rejected: dict[str, str] = field(default_factory=dict)


def stable_offer_id(person: str, session_number: int, action_id: str, trigger_id: str) -> str:
    """The same decision always gets the same id: storefronts drop repeats by it."""
    key = f"{person}\x1f{session_number}\x1f{action_id}\x1f{trigger_id}".encode()
    return "of-" + hashlib.blake2b(key, digest_size=10).hexdigest()


def contact_block(state: CustomerState, catalogue: Catalogue, now: int) -> str | None:
    """Why the session may not receive another (sales) offer now, if it may not."""
    session = state.session
    if session is None:
        return "no_session"
    policy = catalogue.policy
    offers = session.offers
    if len(offers) >= policy.max_offers_per_session:
        return "session_limit"
    if offers and now - offers[-1].decided_at < policy.min_gap_s * 1000:
        return "too_soon"
    for shown in reversed(offers):
        if (
            shown.outcome == "dismissed"
            and now - shown.decided_at < policy.dismissal_cooldown_s * 1000
        ):
            return "dismissal_cooldown"
    ignored = sum(1 for shown in offers if shown.outcome in (None, "shown"))
    if ignored >= policy.suppress_after_ignored:
        return "suppressed_ignored"
    return None


def ineligibility(
    offer: CatalogueOffer, scenario: str, state: CustomerState, now: int
) -> str | None:
    """Why this offer may not be made to this customer now, if it may not."""
    session = state.session
    assert session is not None
    if offer.requires_consent and state.consent is not True:
        return "no_consent"
    if not offer.in_stock:
        return "out_of_stock"
    if offer.items and all(i in session.cart or i in state.owned for i in offer.items):
        return "already_has_items"
    if session.cart_value < offer.min_cart_value:
        return "cart_below_minimum"
    if scenario == "complementary" and offer.complements:
        held = set(state.purchased_categories) | {
            line.category for line in session.cart.values() if line.category
        }
        if not any(c in held for c in offer.complements):
            return "nothing_to_complement"
    if not offer.fits_price(session.mean_price):
        return "outside_price_band"
    previous = [s for s in session.offers if s.action_id == offer.action_id]
    if len(previous) >= offer.max_per_session:
        return "offer_session_cap"
    if previous and now - previous[-1].decided_at < offer.cooldown_s * 1000:
        return "offer_cooldown"
    return None


@functools.lru_cache(maxsize=4096)
def _candidates(
    catalogue: Catalogue, signals: tuple[str, ...]
) -> tuple[tuple[CatalogueOffer, str], ...]:
    """Offers that answer one of the signals, each with the most important signal it answers.

    Cached: there are few distinct signal combinations, and this runs at every decision.
    """
    found = []
    for offer in catalogue.offers:
        scenario = next((s for s in signals if s in offer.scenarios), None)
        if scenario is not None:
            found.append((offer, scenario))
    return tuple(found)


def choose_offer(
    state: CustomerState,
    event: Event,
    signals: tuple[str, ...],
    features: Features,
    catalogue: Catalogue,
    scorer: Scorer,
    *,
    time_budget_us: float | None = None,
    control: ControlGroup | None = None,
) -> Decision:
    """Pick the best eligible offer for this moment, or say why there is none.

    Customers in the control group get a uniformly random eligible offer (logged with its
    probability) or none, whatever the scorer says: the baseline the policy is measured by.
    """
    now = event.event_time
    session = state.session
    if not signals or session is None:
        return Decision(None, "no_signal")
    policy_block = contact_block(state, catalogue, now)
    rejected: dict[str, str] = {}
    eligible: list[tuple[CatalogueOffer, str]] = []
    for offer, scenario in _candidates(catalogue, signals):
        why = ineligibility(offer, scenario, state, now)
        if why is None and policy_block is not None and offer.kind not in POLICY_EXEMPT_KINDS:
            why = policy_block
        if why is None:
            eligible.append((offer, scenario))
        else:
            rejected[offer.action_id] = why
    if not eligible:
        return Decision(None, policy_block or "nothing_eligible", rejected)
    if control is not None and control.contains(state.customer_id or state.person):
        return _control(state, event, catalogue, control, eligible, rejected)

    started = time.perf_counter()
    offers = [offer for offer, _ in eligible]
    propensities = scorer.predict(features, offers)
    late = time_budget_us is not None and (time.perf_counter() - started) * 1e6 > time_budget_us
    if late:
        return _fallback(state, event, catalogue, scorer, rejected)

    # The most important situation is answered first; within it, expected value decides.
    priority = {signal: rank for rank, signal in enumerate(signals)}
    ranked = sorted(
        zip(eligible, propensities, strict=True),
        key=lambda item: (
            priority[item[0][1]],
            -item[1] * item[0][0].value * item[0][0].lever,
            item[0][0].action_id,
        ),
    )
    (offer, scenario), propensity = ranked[0]
    reasons = (
        f"scenario:{scenario}",
        f"kind:{offer.kind}",
        "consent:granted" if offer.requires_consent else "consent:not_needed",
        f"arbitration:rank1_of_{len(ranked)}",
    )
    return _emit(
        state,
        event,
        catalogue,
        offer,
        propensity * offer.value * offer.lever,
        reasons,
        scorer.version,
        rejected,
    )


def _control(
    state: CustomerState,
    event: Event,
    catalogue: Catalogue,
    control: ControlGroup,
    eligible: list[tuple[CatalogueOffer, str]],
    rejected: dict[str, str],
) -> Decision:
    if control.mode == "none":
        return Decision(None, "control_holdout", rejected)
    offer, scenario = eligible[control.pick(len(eligible), state.person, event.event_id)]
    reasons = (
        f"scenario:{scenario}",
        f"kind:{offer.kind}",
        "consent:granted" if offer.requires_consent else "consent:not_needed",
        "control:random",
    )
    return _emit(state, event, catalogue, offer, 0.0, reasons, "control-random", rejected,
                 probability=1.0 / len(eligible))


def _fallback(
    state: CustomerState,
    event: Event,
    catalogue: Catalogue,
    scorer: Scorer,
    rejected: dict[str, str],
) -> Decision:
    offer = catalogue.fallback
    return _emit(
        state,
        event,
        catalogue,
        offer,
        0.0,
        ("fallback:time_budget", f"kind:{offer.kind}", "consent:not_needed"),
        f"fallback/{scorer.version}",
        rejected,
    )


def _emit(
    state: CustomerState,
    event: Event,
    catalogue: Catalogue,
    offer: CatalogueOffer,
    score: float,
    reasons: tuple[str, ...],
    model_version: str,
    rejected: dict[str, str],
    *,
    probability: float = 1.0,
) -> Decision:
    session = state.session
    assert session is not None
    now = event.event_time
    offer_id = stable_offer_id(state.person, session.number, offer.action_id, event.event_id)
    made = Offer(
        event_id=offer_id,
        event_time=now,
        channel=event.channel,
        customer_id=state.customer_id,
        anonymous_id=None if state.customer_id else state.anonymous_id,
        session_id=event.session_id,
        offer_id=offer_id,
        action_id=offer.action_id,
        kind=offer.kind,
        items=offer.items,
        score=round(score, 6),
        probability=probability,
        reason_codes=reasons,
        model_version=model_version,
        decided_at=now,
        expires_at=now + catalogue.policy.offer_ttl_s * 1000,
    )
    session.offers.append(ShownOffer(offer_id, offer.action_id, offer.kind, now))
    return Decision(made, "offer", rejected)
