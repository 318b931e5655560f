"""One realistic, valid instance of every contract, for round-trip tests."""

from __future__ import annotations

from typing import Any

from insession.schemas.events import (
    CartAdd,
    CartRemove,
    CheckoutStart,
    Consent,
    Contract,
    DeadLetter,
    Dwell,
    ErasureRequest,
    IdentityLink,
    Offer,
    OfferFeedback,
    OfferWithdrawal,
    OrderLine,
    PageView,
    ProductUpdate,
    ProductView,
    Purchase,
    Search,
    SocialPost,
)

T0 = 1_764_000_000_000


def sample_contracts() -> list[Contract]:
    """Every contract once, with optional fields filled in where it makes sense."""
    who = {"customer_id": "c-42", "session_id": "s-1", "channel": "web"}
    return [
        PageView(
            event_id="e1",
            event_time=T0,
            page_type="delivery_info",
            url="/help/delivery",
            anonymous_id="dev-9",
            channel="app",
        ),
        ProductView(
            event_id="e2",
            event_time=T0 + 1,
            product_id="jacket-red-38",
            price=129.0,
            currency="EUR",
            category="apparel.jacket",
            brand="Nord",
            **who,
        ),
        Search(event_id="e3", event_time=T0 + 2, query="silk scarf red", result_count=0, **who),
        Dwell(event_id="e4", event_time=T0 + 3, dwell_ms=41_000, product_id="jacket-red-38", **who),
        CartAdd(
            event_id="e5",
            event_time=T0 + 4,
            product_id="jacket-red-38",
            quantity=1,
            unit_price=129.0,
            currency="EUR",
            category="apparel.jacket",
            **who,
        ),
        CartRemove(event_id="e6", event_time=T0 + 5, product_id="jacket-red-38", **who),
        CheckoutStart(event_id="e7", event_time=T0 + 6, cart_value=129.0, currency="EUR", **who),
        Purchase(
            event_id="e8",
            event_time=T0 + 7,
            order_id="o-1",
            total=159.5,
            currency="EUR",
            lines=(
                OrderLine(product_id="jacket-red-38", unit_price=129.0, category="apparel.jacket"),
                OrderLine(product_id="scarf-silk-red", quantity=1, unit_price=30.5),
            ),
            **who,
        ),
        SocialPost(
            event_id="e9",
            event_time=T0 + 8,
            channel="instagram",
            platform="instagram",
            author_handle="@shopper",
            text="Still waiting for my parcel, not happy 😠",
            score=-0.7,
            product_ids=("jacket-red-38",),
            brand="Nord",
        ),
        IdentityLink(
            event_id="e10", event_time=T0 + 9, anonymous_id="dev-9", method="login", **who
        ),
        Consent(event_id="e11", event_time=T0 + 10, granted=False, **who),
        ErasureRequest(event_id="e12", event_time=T0 + 11, request_id="gdpr-7", **who),
        OfferFeedback(
            event_id="e13",
            event_time=T0 + 12,
            offer_id="of-1",
            outcome="accepted",
            value=30.5,
            **who,
        ),
        Offer(
            event_id="e14",
            event_time=T0 + 13,
            offer_id="of-1",
            action_id="scarf-match",
            kind="product",
            items=("scarf-silk-red",),
            score=0.42,
            probability=0.9,
            reason_codes=("complements_purchase", "price_band"),
            model_version="baseline-1",
            decided_at=T0 + 13,
            expires_at=T0 + 1_800_013,
            **who,
        ),
        DeadLetter(
            original="e30=",
            source_topic="insession.cart",
            source_partition=1,
            source_offset=17,
            stage="decode",
            reason="invalid_json",
            error="not JSON",
            failed_at=T0 + 14,
        ),
        OfferWithdrawal(
            event_id="of-1:withdrawn",
            event_time=T0 + 15,
            offer_id="of-1",
            reason="consent_revoked",
            withdrawn_at=T0 + 15,
            **who,
        ),
        ProductUpdate(
            event_id="feed-1",
            event_time=T0 + 16,
            channel="web",
            product_id="jacket-red-38",
            title="Nord rain jacket, red",
            price=129.0,
            currency="EUR",
            category="apparel.jacket",
            brand="Nord",
            in_stock=True,
            url="/p/nord-rain-jacket-red",
            image="https://img.example.com/jacket-red-38.jpg",
            attributes={"colour": "red", "size": "38"},
            withdrawn=False,
        ),
    ]


def sample_offer(offer_id: str, decided_at: int, expires_at: int, **fields: Any) -> Offer:
    """An offer to a customer, as the engine writes them; `fields` override any field."""
    values: dict[str, Any] = {
        "event_id": f"e-{offer_id}",
        "event_time": decided_at,
        "channel": "web",
        "customer_id": "c-1",
        "offer_id": offer_id,
        "action_id": "help-search",
        "kind": "help",
        "score": 1.0,
        "probability": 1.0,
        "reason_codes": ("scenario:struggle",),
        "model_version": "baseline",
        "decided_at": decided_at,
        "expires_at": expires_at,
    }
    return Offer(**{**values, **fields})


def failed_searches(customer: str, at: int) -> list[Search]:
    """Two searches that find nothing, 1 ms apart from `at`: the flow answers with help."""
    return [
        Search(
            event_id=f"{customer}-search-{n}",
            event_time=at + n,
            channel="web",
            customer_id=customer,
            query="x",
            result_count=0,
        )
        for n in range(2)
    ]
