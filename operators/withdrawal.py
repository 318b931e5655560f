"""Withdrawing personalised offers when the shopper revokes consent, also when the revoke is late.

An offer that needed consent (`requires_consent` in the catalogue) may only show while consent
holds. Each person keeps the personalised offers that may still be showing (`live_offers`:
not expired, not accepted or dismissed); a revoke takes back those live at its event time and
those made after it. The second part matters when the revoke arrives late: its event time is
before offers the engine made while consent still seemed granted, and those offers were made
without consent. A grant later than the revoke (in event time) ends that span: offers made
after it had consent.

Plain functions on the person's state; the customer step sends the withdrawals to the offers
output, and the Redis mirror takes the offers out of the person's list.

>>> from insession.schemas.events import Consent, Offer
>>> def offer(n, at):
...     return Offer(event_id=f"of-{n}", event_time=at, channel="web", customer_id="c1",
...                  offer_id=f"of-{n}", action_id="ten-off", kind="discount", score=0.5,
...                  probability=1.0, reason_codes=("r",), model_version="m", decided_at=at,
...                  expires_at=at + 6_000)
>>> live = []
>>> for n, at in ((1, 0), (2, 5_000), (3, 9_000)):
...     remember_live(live, offer(n, at))
>>> [o.offer_id for o in live]  # of-1 expired before of-3 was made
['of-2', 'of-3']
>>> late = Consent(event_id="r", event_time=8_000, channel="web", customer_id="c1",
...                granted=False)
>>> [(w.offer_id, w.withdrawn_at) for w in withdraw_on_revoke(live, late, regranted_at=None)]
[('of-2', 8000), ('of-3', 9000)]
>>> live  # of-2 was live at the revoke's time, of-3 made after it: both taken back
[]
"""

from __future__ import annotations

from dataclasses import dataclass

from insession.operators.feedback_join import FINAL_OUTCOMES
from insession.schemas.events import Consent, Offer, OfferFeedback, OfferWithdrawal

LIVE_OFFERS = 16
"""Personalised offers remembered per person for withdrawal. The contact policy allows a few
offers a session, each live for the offer lifetime (30 minutes), so a handful at most are
live at once; beyond this the oldest, the first to expire, is forgotten first."""

CONSENT_REVOKED = "consent_revoked"
WITHDRAWN = "withdrawn"
"""The outcome a withdrawn offer shows in the session summary."""


@dataclass(slots=True, frozen=True)
class LiveOffer:
    """What withdrawing an offer needs of it: its id, its address and its times.

    A person keeps this, not the `Offer`: the offer's reason codes, items and scores are
    most of its kilobyte and are never read again. An `Offer` has the same attributes, so
    states snapshotted when they kept whole offers withdraw them alike.
    """

    offer_id: str
    channel: str
    customer_id: str | None
    anonymous_id: str | None
    session_id: str | None
    decided_at: int
    expires_at: int

    @classmethod
    def of(cls, offer: Offer) -> LiveOffer:
        return cls(
            offer.offer_id,
            offer.channel,
            offer.customer_id,
            offer.anonymous_id,
            offer.session_id,
            offer.decided_at,
            offer.expires_at,
        )


def remember_live(live: list[LiveOffer], offer: Offer) -> None:
    """Keep a personalised offer while it may be showing; forget those expired by its time."""
    live[:] = [o for o in live if o.expires_at > offer.decided_at]
    live.append(LiveOffer.of(offer))
    del live[:-LIVE_OFFERS]


def forget_answered(live: list[LiveOffer], feedback: OfferFeedback) -> None:
    """An accepted offer was used and a dismissed one is gone: neither is withdrawn later."""
    if feedback.outcome in FINAL_OUTCOMES:
        live[:] = [o for o in live if o.offer_id != feedback.offer_id]


def withdraw_on_revoke(
    live: list[LiveOffer], revoke: Consent, regranted_at: int | None
) -> list[OfferWithdrawal]:
    """Take out of `live` and withdraw the offers the revoke covers: live at its event time or
    made after it, up to `regranted_at` (a later grant that is now the person's consent)."""
    start = revoke.event_time
    end = regranted_at if regranted_at is not None and regranted_at > start else None
    covered = [o for o in live if o.expires_at > start and (end is None or o.decided_at < end)]
    taken = {o.offer_id for o in covered}
    live[:] = [o for o in live if o.offer_id not in taken]
    return [withdrawal_of(o, start) for o in covered]


def withdrawal_of(
    offer: LiveOffer | Offer, cause_at: int, reason: str = CONSENT_REVOKED
) -> OfferWithdrawal:
    """The message withdrawing `offer`, addressed as the offer was. An offer is withdrawn once,
    so its id is fixed by the offer's: one sent again after a retry is recognised."""
    return OfferWithdrawal(
        event_id=f"{offer.offer_id}:withdrawn",
        event_time=cause_at,
        channel=offer.channel,
        customer_id=offer.customer_id,
        anonymous_id=offer.anonymous_id,
        session_id=offer.session_id,
        offer_id=offer.offer_id,
        reason=reason,
        withdrawn_at=max(cause_at, offer.decided_at),
    )
