"""The scenarios from the brief, decided by the pure engine (no dataflow, no services)."""

from __future__ import annotations

import dataclasses
import itertools

from insession.operators.decide import stable_offer_id
from insession.schemas.events import OrderLine, Purchase

from tests.operators.scenario import Shopper, outfits


def _bought_together(she: Shopper, baskets: list[tuple[int, list[tuple[str, float, str]]]]):
    """Other shoppers of her engine each buy one basket (count, [(product, price, category)])."""
    n = 0
    for count, basket in baskets:
        for _ in range(count):
            n += 1
            other = Shopper(customer_id=f"other-{n}", engine=she.engine, now=she.now)
            for product, price, category in basket:
                other.view(product, price=price, category=category)
                other.add(product, price=price, category=category)
            other.send(
                Purchase,
                order_id=f"o-{n}",
                lines=tuple(
                    OrderLine(product_id=p, unit_price=c, category=k) for p, c, k in basket
                ),
            )


OUTFITS = outfits(5, 3, 4)
"""Red jackets are bought with the cheap scarf more often than with the silk one."""


def test_bought_a_red_jacket_gets_a_matching_scarf_in_her_price_band() -> None:
    """Learned, not hard-coded: what others bought with the jacket, at her price level (the
    cheap scarf bought with it more often is far below a 129 jacket buyer's level)."""
    she = Shopper()
    _bought_together(she, OUTFITS)
    she.consent()
    she.view("jacket-red-38", price=129.0)
    decision = she.buy("jacket-red-38", price=129.0)
    assert decision.offer is not None
    assert decision.offer.action_id == "goes-with-purchase"
    assert "scenario:complementary" in decision.offer.reason_codes
    assert decision.offer.items == ("scarf-silk-red",)
    assert "strategy:bought_together" in decision.offer.reason_codes
    assert "seed:jacket-red-38" in decision.offer.reason_codes


def test_a_bargain_hunter_gets_the_cheap_scarf_not_the_silk_one() -> None:
    he = Shopper()
    _bought_together(he, OUTFITS)
    he.consent()
    for _ in range(3):
        he.view("jacket-basic", price=40.0)
    decision = he.buy("jacket-red-38", price=129.0)
    assert decision.offer is None or "scarf-silk-red" not in decision.offer.items
    # Both scarves were bought with the red jacket; he browses cheap jackets: the cheap one.
    found = he.engine.recs.for_offer("bought_together", he.state, None, 3)
    assert [r.item for r in found] == ["scarf-poly"]


def test_without_traffic_there_is_nothing_to_complement() -> None:
    she = Shopper()
    she.consent()
    decision = she.buy("jacket-red-38", price=129.0)
    assert decision.rejected.get("goes-with-purchase") == "no_recommendation"
    assert decision.offer is None or decision.offer.action_id != "goes-with-purchase"


def test_hesitation_on_one_item_gets_a_better_fitting_variant() -> None:
    she = Shopper()
    she.consent()
    assert she.view("boots-12").offer is None
    she.view("boots-12")
    decision = she.view("boots-12")
    assert decision.offer is not None
    assert decision.offer.action_id == "variant-cheaper"
    assert decision.offer.reason_codes[0] == "scenario:hesitation"


def test_hesitation_gets_a_cheaper_one_others_viewed_with_it_in_its_category() -> None:
    she = Shopper()
    for n in range(3):
        other = Shopper(customer_id=f"other-{n}", engine=she.engine)
        other.view("boots-12", price=150.0, category="shoes.boots")
        other.view("boots-7", price=99.0, category="shoes.boots")
        other.view("boots-lux", price=400.0, category="shoes.boots")
        other.view("bag-3", price=80.0, category="bags.handbag")
    she.consent()
    for _ in range(3):
        decision = she.view("boots-12", price=150.0, category="shoes.boots")
    assert decision.offer is not None
    assert decision.offer.action_id == "cheaper-alternative"
    assert decision.offer.items == ("boots-7",)
    assert {"strategy:cheaper", "seed:boots-12"} <= set(decision.offer.reason_codes)


def test_failed_searches_get_help_not_a_promotion_even_without_consent() -> None:
    he = Shopper()
    assert he.search("delivery cost", results=0).offer is None
    decision = he.search("shipping price", results=0)
    assert decision.offer is not None
    assert decision.offer.kind == "help"
    assert "consent:not_needed" in decision.offer.reason_codes


def test_a_successful_search_ends_a_run_of_failures() -> None:
    he = Shopper()
    he.search("blue scarf", results=0)
    he.search("scarf", results=12)
    assert he.search("silk scarf", results=0).offer is None


def test_negative_sentiment_gets_service_recovery_instead_of_sales() -> None:
    she = Shopper()
    she.consent()
    she.view("coat-1", category="apparel.coat")
    decision = she.post(score=-0.9, text="Third time my parcel is late. Never again.")
    assert decision.offer is not None
    assert decision.offer.kind == "service_recovery"
    for _ in range(4):
        she.view("coat-1", category="apparel.coat", after_s=30)
    she.add("coat-1", category="apparel.coat", after_s=30)
    assert [o.kind for o in she.offers] == ["service_recovery"]


def test_no_personalised_offer_without_consent() -> None:
    he = Shopper()
    he.view("jacket-red-38", price=129.0)
    decision = he.buy("jacket-red-38", price=129.0)
    assert decision.rejected["goes-with-purchase"] == "no_consent"
    assert decision.offer is None or decision.offer.kind in ("help", "content", "service_recovery")


def test_revoking_consent_stops_personalised_offers() -> None:
    she = Shopper()
    she.consent(True)
    she.consent(False)
    for _ in range(3):
        she.view("boots-12")
    assert all(o.action_id != "variant-cheaper" for o in she.offers)


def test_cart_removal_with_items_left_is_an_abandonment_risk() -> None:
    she = Shopper()
    she.consent()
    she.add("dress-1", price=80.0, category="apparel.dress")
    she.add("belt-9", price=20.0, category="apparel.belt")
    decision = she.remove("belt-9")
    assert decision.offer is not None
    assert decision.offer.reason_codes[0] == "scenario:cart_abandonment"
    assert decision.offer.action_id in ("free-delivery", "cart-save-10")


def test_contact_policy_caps_offers_per_session_and_spaces_them() -> None:
    she = Shopper()
    she.consent()
    decisions = [she.view(f"p{i % 2}", after_s=5) for i in range(40)]
    made = [d.offer for d in decisions if d.offer is not None]
    assert len(made) == 3
    gaps = [b.decided_at - a.decided_at for a, b in itertools.pairwise(made)]
    assert all(gap >= 20_000 for gap in gaps)
    assert "session_limit" in {d.reason for d in decisions[-5:]}


def test_a_dismissal_starts_a_cool_down() -> None:
    she = Shopper()
    she.consent()
    offer = she.hesitate("boots-12")
    she.feedback(offer.offer_id, "dismissed", after_s=1)
    blocked = she.view("bag-2", after_s=30, category="bags")
    assert blocked.offer is None
    assert blocked.reason == "dismissal_cooldown"


def test_a_new_session_after_the_gap_resets_the_contact_policy() -> None:
    she = Shopper()
    she.consent()
    for i in range(40):
        she.view(f"p{i % 2}", after_s=5)
    assert she.view("p9", after_s=31 * 60).reason != "session_limit"
    assert she.state.sessions == 2


def test_offer_ids_are_stable_for_the_same_decision() -> None:
    def run() -> list[str]:
        she = Shopper()
        she.consent()
        she.view("jacket-red-38", price=129.0)
        she.buy("jacket-red-38", price=129.0)
        return [o.offer_id for o in she.offers]

    assert run() == run()
    assert stable_offer_id("c", 1, "a", "e1") != stable_offer_id("c", 1, "a", "e2")


def test_a_slow_model_is_answered_with_the_fallback_offer() -> None:
    she = Shopper()
    she.engine.config = dataclasses.replace(she.engine.config, time_budget_us=0.0)
    she.consent()
    she.view("jacket-red-38", price=129.0)
    decision = she.buy("jacket-red-38", price=129.0)
    assert decision.offer is not None
    assert decision.offer.action_id == "new-arrivals"
    assert decision.offer.reason_codes[0] == "fallback:time_budget"
