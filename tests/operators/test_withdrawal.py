"""Consent revokes withdraw the live personalised offers, also when the revoke arrives late."""

from __future__ import annotations

import dataclasses

from insession.models.policy import build_policy
from insession.operators.customer_step import apply_routed, close_windows
from insession.operators.personalise import Personaliser
from insession.operators.routing import Routed
from insession.operators.withdrawal import (
    LIVE_OFFERS,
    WITHDRAWN,
    LiveOffer,
    forget_answered,
    remember_live,
    withdraw_on_revoke,
    withdrawal_of,
)
from insession.schemas.catalogue import load_catalogue
from insession.schemas.events import Consent, Event, Offer, OfferFeedback, ProductView

from tests.operators.scenario import CATALOGUE, T0, Shopper


def _offer(n: int, at: int, ttl_ms: int = 1_800_000) -> Offer:
    return Offer(
        event_id=f"of-{n}",
        event_time=at,
        channel="app",
        customer_id="c-1",
        session_id="s-9",
        offer_id=f"of-{n}",
        action_id="cart-save-10",
        kind="discount",
        score=0.5,
        probability=0.7,
        reason_codes=("scenario:cart_abandonment",),
        model_version="m-1",
        decided_at=at,
        expires_at=at + ttl_ms,
    )


def _revoke(at: int) -> Consent:
    return Consent(
        event_id=f"r{at}", event_time=at, channel="web", customer_id="c-1", granted=False
    )


def _personal_and_help_offers(she: Shopper) -> tuple[Offer, Offer]:
    """A hesitation offer (needs consent), then a help offer (needs none)."""
    personal = she.hesitate("boots-12")
    she.search("boots delivery", results=0, after_s=30)
    helped = she.search("shipping", results=0).offer
    assert personal.action_id == "variant-cheaper" and helped is not None
    assert helped.kind == "help"
    return personal, helped


def test_a_revoke_withdraws_the_live_personalised_offers_only() -> None:
    she = Shopper()
    she.consent()
    personal, helped = _personal_and_help_offers(she)
    she.consent(False, after_s=5)

    assert [w.offer_id for w in she.withdrawals] == [personal.offer_id]
    withdrawal = she.withdrawals[0]
    assert (withdrawal.customer_id, withdrawal.channel, withdrawal.session_id) == (
        personal.customer_id,
        personal.channel,
        personal.session_id,
    )
    assert withdrawal.reason == "consent_revoked" and withdrawal.partition_key() == "c-1"
    assert withdrawal.withdrawn_at == withdrawal.event_time == she.now
    session = she.state.session
    assert session is not None
    outcomes = {o.offer_id: o.outcome for o in session.offers}
    assert outcomes == {personal.offer_id: WITHDRAWN, helped.offer_id: None}
    assert she.state.live_offers == []


def test_no_personalised_offer_follows_a_revoke() -> None:
    she = Shopper()
    she.consent()
    she.hesitate("boots-12")
    she.consent(False, after_s=30)
    made = len(she.offers)
    for n in range(6):
        she.view(f"shoe-{n % 2}", after_s=40)
        she.add(f"shoe-{n}", price=80.0, after_s=40)
    after = she.offers[made:]
    assert after, "contextual offers go on"
    assert all("consent:not_needed" in o.reason_codes for o in after)
    assert she.state.live_offers == []


def _personal(she: Shopper) -> list[str]:
    return [o.offer_id for o in she.offers if o.action_id in she.engine.personal]


def test_a_late_revoke_withdraws_offers_made_after_its_time() -> None:
    she = Shopper()
    she.consent()
    revoked_at = she.now + 5_000  # before anything below was decided
    she.hesitate("boots-12")
    she.add("boots-12", price=90.0, after_s=30)
    she.remove("boots-12", after_s=30)
    made = _personal(she)
    assert len(made) >= 2

    she.consent(False, at=revoked_at)  # arrives now, dated earlier

    assert [w.offer_id for w in she.withdrawals] == made
    decided = {o.offer_id: o.decided_at for o in she.offers}
    assert [w.withdrawn_at for w in she.withdrawals] == [decided[i] for i in made]
    assert all(w.event_time == revoked_at for w in she.withdrawals)
    assert she.state.consent is False
    for _ in range(3):
        she.view("boots-12", after_s=40)
    assert _personal(she) == made, "no personalised offer after"


def test_a_late_revoke_older_than_a_later_grant_does_not_end_consent() -> None:
    she = Shopper()
    she.consent()
    revoked_at = she.now + 5_000
    she.hesitate("boots-12")  # made after the revoke's time: without consent
    before = _personal(she)
    she.consent(True, after_s=60)  # granted again: what follows has consent
    she.add("coat-1", price=90.0, after_s=30)
    she.remove("coat-1", after_s=30)
    after = _personal(she)[len(before) :]
    assert before and after

    she.consent(False, at=revoked_at)

    assert [w.offer_id for w in she.withdrawals] == before
    assert she.state.consent is True, "the newer grant stands"
    assert [o.offer_id for o in she.state.live_offers] == after


def test_an_older_grant_arriving_late_does_not_undo_a_revoke() -> None:
    she = Shopper()
    she.consent()
    granted_at = she.now
    she.consent(False)
    she.consent(True, at=granted_at - 1)
    assert she.state.consent is False


def test_accepted_and_dismissed_offers_are_not_withdrawn_but_clicked_ones_are() -> None:
    live: list[LiveOffer] = []
    for n in range(3):
        remember_live(live, _offer(n, T0 + n))
    for n, outcome in enumerate(("accepted", "dismissed", "clicked")):
        forget_answered(
            live,
            OfferFeedback(
                event_id=f"f{n}",
                event_time=T0 + 10,
                channel="web",
                customer_id="c-1",
                offer_id=f"of-{n}",
                outcome=outcome,
            ),
        )
    assert [w.offer_id for w in withdraw_on_revoke(live, _revoke(T0 + 20), None)] == ["of-2"]


def test_the_person_keeps_what_withdrawing_needs_and_old_snapshots_still_withdraw() -> None:
    live: list[LiveOffer] = []
    remember_live(live, _offer(1, T0))
    assert live == [LiveOffer("of-1", "app", "c-1", None, "s-9", T0, T0 + 1_800_000)]
    # A state snapshotted before kept the whole offers: they are withdrawn the same way.
    snapshotted: list[LiveOffer] = [_offer(1, T0)]  # type: ignore[list-item]
    assert withdraw_on_revoke(snapshotted, _revoke(T0 + 5), None) == withdraw_on_revoke(
        live, _revoke(T0 + 5), None
    )
    assert live == snapshotted == []


def test_expired_offers_are_not_withdrawn_and_not_kept() -> None:
    live: list[LiveOffer] = []
    remember_live(live, _offer(1, T0, ttl_ms=1000))
    assert withdraw_on_revoke(live, _revoke(T0 + 1000), None) == []
    remember_live(live, _offer(2, T0 + 5000))
    assert [o.offer_id for o in live] == ["of-2"], "of-1 expired before of-2 was made"


def test_live_offers_are_bounded_oldest_forgotten_first() -> None:
    live: list[LiveOffer] = []
    for n in range(LIVE_OFFERS + 10):
        remember_live(live, _offer(n, T0 + n))
    assert len(live) == LIVE_OFFERS
    assert live[0].offer_id == "of-10" and live[-1].offer_id == f"of-{LIVE_OFFERS + 9}"


def test_a_withdrawal_is_addressed_as_its_offer_was() -> None:
    offer = dataclasses.replace(_offer(1, T0), customer_id=None, anonymous_id="dev-1")
    withdrawal = withdrawal_of(offer, T0 - 60_000)
    assert withdrawal.anonymous_id == "dev-1" and withdrawal.customer_id is None
    assert withdrawal.partition_key() == offer.partition_key() == "dev-1"
    assert withdrawal.event_id == "of-1:withdrawn"
    assert withdrawal.withdrawn_at == T0, "never before the offer was made"


def _hesitation_then_revoke() -> list[Event]:
    who = {"channel": "web", "customer_id": "c-1", "session_id": "s1"}
    views = [
        ProductView(
            event_id=f"v{n}",
            event_time=T0 + 10_000 * n,
            product_id="boots-12",
            price=120.0,
            category="apparel.jacket",
            **who,
        )
        for n in range(1, 4)
    ]
    return [
        Consent(event_id="g", event_time=T0, granted=True, **who),
        *views,
        Consent(event_id="r", event_time=T0 + 60_000, granted=False, **who),
    ]


def test_withdrawn_decisions_are_dropped_unlearned() -> None:
    catalogue = load_catalogue(CATALOGUE)
    engine = Personaliser(catalogue, build_policy("thompson", catalogue.offers))
    state = None
    outcomes = []
    for n, event in enumerate(_hesitation_then_revoke()):
        state, out = apply_routed(engine, state, Routed(event, (event.event_time, "t", 0, n)))
        outcomes.extend(out)
    offers = [o.offer for o in outcomes if o.offer is not None]
    withdrawn = [w.offer_id for o in outcomes for w in o.withdrawals]
    assert offers and withdrawn == [o.offer_id for o in offers if o.action_id in engine.personal]
    assert state is not None
    assert state.pending is None or not set(withdrawn) & set(state.pending.pending)
    assert engine.joins.withdrawn == len(withdrawn)
    _, closing = close_windows(engine, state, None)
    assert not any(e.offer_id in withdrawn for o in closing for e in o.examples)
