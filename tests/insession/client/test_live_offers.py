"""What a storefront shows one shopper: each offer once, withdrawn ones out, expired ones gone."""

from __future__ import annotations

from insession.schemas.events import OfferWithdrawal

from insession.client.live_offers import DEDUP_GRACE_MS, LiveOffers
from tests.samples import sample_offer


def _withdrawal(offer_id: str, at: int) -> OfferWithdrawal:
    return OfferWithdrawal(
        event_id=f"w-{offer_id}",
        event_time=at,
        channel="web",
        customer_id="c-1",
        offer_id=offer_id,
        reason="consent_revoked",
        withdrawn_at=at,
    )


def test_offers_are_shown_once_newest_first_until_they_expire() -> None:
    live = LiveOffers()
    assert live.add(sample_offer("a", 1_000, 60_000)) and live.add(sample_offer("b", 2_000, 30_000))
    assert not live.add(sample_offer("a", 1_000, 60_000)), "a resent decision is not shown twice"
    assert [o.offer_id for o in live.current(now_ms=10_000)] == ["b", "a"]
    assert [o.offer_id for o in live.current(now_ms=40_000)] == ["a"]
    assert live.current(now_ms=60_000) == []
    assert not live.add(sample_offer("a", 1_000, 60_000)), "still a duplicate soon after it expired"
    live.current(now_ms=60_000 + DEDUP_GRACE_MS)  # long after: forgotten
    assert len(live) == 0 and live.add(sample_offer("a", 1_000, 60_000 + 2 * DEDUP_GRACE_MS))


def test_a_withdrawal_takes_an_offer_out_even_one_that_comes_after_it() -> None:
    live = LiveOffers()
    live.add(sample_offer("a", 1_000, 60_000))
    assert live.withdraw(_withdrawal("a", 5_000)) and live.current(now_ms=6_000) == []
    assert not live.withdraw(_withdrawal("z", 5_000)), "nothing shown under that id"
    assert not live.add(sample_offer("z", 1_000, 60_000)), "its withdrawal came first: it stays out"
