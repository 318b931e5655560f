"""Choosing the next-best-offer: candidates, eligibility, contact policy, arbitration.

`choose_offer` is pure: the same state, event, catalogue and policy (model) give the same offer
with the same stable id, so a replayed or retried decision is recognised by the storefront.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from insession.models.policy import Policy
from insession.operators.control_group import ControlGroup
from insession.operators.session import (
    SESSION_OFFERS,
    CustomerState,
    ShownOffer,
    push_bounded,
)
from insession.schemas.catalogue import Catalogue, CatalogueOffer
from insession.schemas.events import Event, Offer
from insession.schemas.features import Features

POLICY_EXEMPT_KINDS = frozenset({"service_recovery"})

ItemFiller = Callable[[CatalogueOffer], tuple[tuple[str, ...], tuple[str, ...]]]
"""The items a product offer shows to this shopper now, and the reason codes saying where
they came from (`strategy:<name>`, `seed:<product>`); no items: the offer is not made."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The chosen offer, or why none was made, and what was considered."""

    offer: Offer | None
    reason: str
    rejected: dict[str, str] = field(default_factory=dict)
    features: Features | None = None
    """The context the offer was chosen in, remembered until its outcome is known."""
    candidates: tuple[str, ...] = ()
    """The action ids the policy chose among (for regret against an oracle in simulations)."""


def stable_offer_id(person: str, session_number: int, action_id: str, trigger_id: str) -> str:
    """The same decision always gets the same id: storefronts drop repeats by it."""
    key = f"{person}\x1f{session_number}\x1f{action_id}\x1f{trigger_id}".encode()
    return "of-" + hashlib.blake2b(key, digest_size=10).hexdigest()


def decision_key(person: str, trigger_id: str) -> int:
    """A 64-bit number fixed by the decision, that seeds the policy's exploration."""
    digest = hashlib.blake2b(f"{person}\x1f{trigger_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


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
    offer: CatalogueOffer,
    scenario: str,
    state: CustomerState,
    now: int,
    consented: bool | None = None,
) -> str | None:
    """Why this offer may not be made to this customer now, if it may not (`consented`:
    whether the person counts as consenting; None reads `state.consent`)."""
    session = state.session
    assert session is not None
    if consented is None:
        consented = state.consent is True
    if offer.requires_consent and not consented:
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
    policy: Policy,
    *,
    time_budget_us: float | None = None,
    control: ControlGroup | None = None,
    consented: bool | None = None,
    fill: ItemFiller | None = None,
) -> Decision:
    """Pick the offer for this moment, or say why there is none.

    The policy chooses among the eligible offers, each ranked by the priority of the signal
    it answers (the baseline answers the most important situation first; a learning policy
    learns what shoppers take up). Customers in the control group get a uniformly random
    eligible offer (logged with its probability) or none, whatever the policy says: the
    baseline the policy is measured by. `fill` gives product offers their items (a strategy's
    recommendations, or the fixed items still on sale): one it gives none is not eligible.
    """
    now = event.event_time
    session = state.session
    if not signals or session is None:
        return Decision(None, "no_signal")
    policy_block = contact_block(state, catalogue, now)
    rejected: dict[str, str] = {}
    eligible: list[tuple[CatalogueOffer, str]] = []
    filled: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for offer, scenario in _candidates(catalogue, signals):
        why = ineligibility(offer, scenario, state, now, consented)
        if why is None and policy_block is not None and offer.kind not in POLICY_EXEMPT_KINDS:
            why = policy_block
        if why is None and fill is not None and (offer.strategy or offer.items):
            items = filled[offer.action_id] = fill(offer)
            if not items[0]:
                why = "no_recommendation" if offer.strategy else "out_of_stock"
        if why is None:
            eligible.append((offer, scenario))
        else:
            rejected[offer.action_id] = why
    if not eligible:
        return Decision(None, policy_block or "nothing_eligible", rejected)
    if control is not None and control.contains(state.customer_id or state.person):
        return _control(state, event, catalogue, control, eligible, rejected, features, filled)

    # An upset customer gets service recovery first, whatever the model has learned.
    pool = [(o, s) for o, s in eligible if o.kind in POLICY_EXEMPT_KINDS] or eligible
    offers = [offer for offer, _ in pool]
    ranks = [signals.index(scenario) for _, scenario in pool]
    started = time.perf_counter()
    picked = policy.pick(offers, features, decision_key(state.person, event.event_id), ranks)
    late = time_budget_us is not None and (time.perf_counter() - started) * 1e6 > time_budget_us
    if late:
        return _fallback(state, event, catalogue, policy, rejected, features)
    offer, scenario = pool[picked.index]
    items, why_items = filled.get(offer.action_id, (offer.items, ()))
    reasons = (
        f"scenario:{scenario}",
        f"kind:{offer.kind}",
        "consent:granted" if offer.requires_consent else "consent:not_needed",
        f"policy:{policy.name}",
        f"candidates:{len(offers)}",
        *why_items,
    )
    decision = _emit(
        state,
        event,
        catalogue,
        offer,
        picked.score,
        reasons,
        picked.version or policy.version,
        rejected,
        probability=picked.probability,
        items=items,
    )
    return Decision(
        decision.offer,
        decision.reason,
        rejected,
        features,
        tuple(o.action_id for o in offers),
    )


def _control(
    state: CustomerState,
    event: Event,
    catalogue: Catalogue,
    control: ControlGroup,
    eligible: list[tuple[CatalogueOffer, str]],
    rejected: dict[str, str],
    features: Features,
    filled: dict[str, tuple[tuple[str, ...], tuple[str, ...]]],
) -> Decision:
    """A uniformly random eligible offer; its outcome still teaches the model (and is the
    cleanest data there is for off-policy evaluation)."""
    if control.mode == "none":
        return Decision(None, "control_holdout", rejected)
    offer, scenario = eligible[control.pick(len(eligible), state.person, event.event_id)]
    items, why_items = filled.get(offer.action_id, (offer.items, ()))
    reasons = (
        f"scenario:{scenario}",
        f"kind:{offer.kind}",
        "consent:granted" if offer.requires_consent else "consent:not_needed",
        "control:random",
        *why_items,
    )
    made = _emit(
        state,
        event,
        catalogue,
        offer,
        0.0,
        reasons,
        "control-random",
        rejected,
        probability=1.0 / len(eligible),
        items=items,
    )
    candidates = tuple(o.action_id for o, _ in eligible)
    return Decision(made.offer, made.reason, rejected, features, candidates)


def _fallback(
    state: CustomerState,
    event: Event,
    catalogue: Catalogue,
    policy: Policy,
    rejected: dict[str, str],
    features: Features,
) -> Decision:
    """The catalogue's fallback offer when the policy took longer than its time budget.

    The features are kept so the fallback's outcome can still be learned from.
    """
    offer = catalogue.fallback
    made = _emit(
        state,
        event,
        catalogue,
        offer,
        0.0,
        ("fallback:time_budget", f"kind:{offer.kind}", "consent:not_needed"),
        f"fallback/{policy.version}",
        rejected,
    )
    return Decision(made.offer, made.reason, rejected, features, (offer.action_id,))


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
    items: tuple[str, ...] | None = None,
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
        items=offer.items if items is None else items,
        score=round(score, 6),
        probability=probability,
        reason_codes=reasons,
        model_version=model_version,
        decided_at=now,
        expires_at=now + catalogue.policy.offer_ttl_s * 1000,
    )
    push_bounded(
        session.offers, ShownOffer(offer_id, offer.action_id, offer.kind, now), SESSION_OFFERS
    )
    return Decision(made, "offer", rejected)
