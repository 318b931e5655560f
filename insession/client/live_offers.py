"""The offers a storefront should show one shopper now: deduplicated, withdrawn ones taken
out, expired ones dropped. Plain state, no I/O: `OfferFeed` feeds it from Kafka."""

from __future__ import annotations

from insession.schemas.events import Offer, OfferWithdrawal


class LiveOffers:
    """Offers by id. The engine may send an offer again with the same id (a redelivery after
    a restart, the same decision made twice): it is shown once. A withdrawal removes its offer
    and remembers the id, so that an offer arriving after its withdrawal stays out.

    >>> live = LiveOffers()
    >>> offer = Offer(event_id="o", event_time=1, channel="web", customer_id="c",
    ...     offer_id="abc", action_id="help", kind="help", score=1.0, probability=1.0,
    ...     reason_codes=("failed_searches",), model_version="v1", decided_at=1,
    ...     expires_at=10_000)
    >>> live.add(offer), live.add(offer)
    (True, False)
    >>> [o.offer_id for o in live.current(now_ms=5_000)], live.current(now_ms=20_000)
    (['abc'], [])
    """

    def __init__(self) -> None:
        self._offers: dict[str, Offer] = {}
        self._seen: dict[str, int] = {}
        """Offer id -> its expiry or withdrawal (epoch ms); a copy is a duplicate until
        `DEDUP_GRACE_MS` after that."""

    def add(self, offer: Offer) -> bool:
        """Take an offer; False when it was seen (or withdrawn) before."""
        if offer.offer_id in self._seen:
            return False
        self._seen[offer.offer_id] = offer.expires_at
        self._offers[offer.offer_id] = offer
        return True

    def withdraw(self, withdrawal: OfferWithdrawal) -> bool:
        """Take an offer back; True when it was being shown."""
        shown = self._offers.pop(withdrawal.offer_id, None) is not None
        # An offer may be withdrawn before its copy arrives: keep the id a while.
        until = max(self._seen.get(withdrawal.offer_id, 0), withdrawal.withdrawn_at)
        self._seen[withdrawal.offer_id] = until
        return shown

    def current(self, now_ms: int) -> list[Offer]:
        """The offers to show at `now_ms`, newest decision first; forgets expired ones."""
        self.forget(now_ms)
        return sorted(self._offers.values(), key=lambda o: o.decided_at, reverse=True)

    def forget(self, now_ms: int) -> None:
        """Drop expired offers, and ids whose copies can no longer come."""
        for offer_id in [i for i, o in self._offers.items() if o.expires_at <= now_ms]:
            del self._offers[offer_id]
        for offer_id in [i for i, until in self._seen.items() if until + DEDUP_GRACE_MS <= now_ms]:
            del self._seen[offer_id]

    def __len__(self) -> int:
        return len(self._offers)


DEDUP_GRACE_MS = 3_600_000
"""How long after an offer expires (or is withdrawn) a copy of it is still dropped."""
