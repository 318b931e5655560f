"""The closed loop: shoppers answer offers from hidden true rates and the policy learns."""

from __future__ import annotations

import io

from insession.schemas.catalogue import CatalogueOffer
from insession.schemas.events import Offer

from insession.evaluation.closed_loop import (
    compare_policies,
    compare_recommenders,
    print_learning_curves,
    print_recommender_runs,
    run_closed_loop,
)
from insession.runner.engine import load_engine
from insession.settings import Settings
from insession.simulator import SimulationConfig
from insession.simulator.responder import HiddenTruth

CONFIG = SimulationConfig(seed=2, customers=300, days=12)


def _offer(offer_id: str, customer: str | None = "c-1", action: str = "help") -> Offer:
    return Offer(
        event_id=offer_id,
        event_time=1_764_000_000_000,
        channel="web",
        customer_id=customer,
        anonymous_id=None if customer else "dev-1",
        offer_id=offer_id,
        action_id=action,
        kind="help",
        score=0.1,
        probability=1.0,
        reason_codes=("r",),
        model_version="m",
        decided_at=1_764_000_000_000,
        expires_at=1_764_000_600_000,
    )


def _regret_per_offer(rows, part: slice) -> float:
    chosen = rows[part]
    before = rows[part.start - 1].regret_vs_fixed if part.start else 0.0
    return (chosen[-1].regret_vs_fixed - before) / sum(r.offers for r in chosen)


def test_thompson_learns_where_the_baseline_cannot() -> None:
    runs = compare_policies(
        CONFIG,
        ["thompson", "baseline"],
        lambda p: load_engine(Settings(policy=p)),
        truth_seed=2,
    )
    thompson, baseline = runs
    third = len(thompson.curve) // 3
    early = _regret_per_offer(thompson.curve, slice(0, third))
    late = _regret_per_offer(thompson.curve, slice(len(thompson.curve) - third, None))
    assert late < 0.5 * early, (early, late)
    assert thompson.curve[-1].regret_vs_fixed < 0.5 * baseline.curve[-1].regret_vs_fixed
    assert thompson.model_version != "thompson-0" and baseline.model_version == "baseline-1"
    assert sum(r.control_offers for r in thompson.curve) > 0, "the control group is beside it"

    out = io.StringIO()
    print_learning_curves(runs, out)
    assert "cumulative regret vs fixed" in out.getvalue() and "thompson" in out.getvalue()


def test_answers_are_fixed_by_the_offer_and_follow_the_true_rate() -> None:
    offers = [CatalogueOffer("help", "help", "Help", 4.0, 0.3, ("struggle",))]
    truth = HiddenTruth.draw(offers, seed=5)
    assert truth.respond(_offer("of-1")) == truth.respond(_offer("of-1"))
    assert truth.respond(_offer("of-2", customer=None)) == [], "anonymous shoppers can't answer"
    answered = [truth.respond(_offer(f"of-{n}")) for n in range(4000)]
    accepted = sum(any(f.outcome == "accepted" for f in a) for a in answered)
    shown = sum(bool(a) for a in answered)
    rate = truth.of_offer(_offer("of-x"))
    assert abs(accepted / shown - rate) < 0.03, (accepted / shown, rate)
    assert all(
        a[0].outcome == "shown" and a[0].event_time > 1_764_000_000_000 for a in answered if a
    )


def test_product_offers_are_scored_for_their_items_and_the_others_as_before() -> None:
    engine = load_engine(Settings(policy="thompson"))
    truth = HiddenTruth.draw(engine.catalogue.offers, 2, 1.5)
    result = run_closed_loop(SimulationConfig(seed=2, customers=80, days=4), engine, truth)
    kinds = {offer.action_id: offer.kind for offer in engine.catalogue.offers}
    moved = 0
    for decision in result.decisions:
        itemless = truth.acceptance(decision.action_id, *decision.context)
        if kinds[decision.action_id] != "product":
            assert decision.chosen == itemless
        moved += decision.chosen != itemless
        assert decision.oracle >= decision.chosen
    assert moved > 50, "the shoppers' tastes reach the truth"


def test_learned_recommendations_beat_popularity_in_acceptance() -> None:
    """Simulated shoppers have tastes (looks, favourite categories, a price band): product
    offers filled from the learned item knowledge are accepted more than the same offers
    filled by popularity alone, same shoppers, same truth, same filters."""
    engine = load_engine(Settings(policy="baseline"))

    config = SimulationConfig(seed=3, customers=200, days=8)
    learned, popular = compare_recommenders(config, engine.with_recs, truth_seed=0)
    assert (learned.recommender, popular.recommender) == ("learned", "popularity")
    assert learned.offers > 1000 and popular.offers > 1000
    assert learned.expected_rate > popular.expected_rate + 0.02
    assert learned.accepted > popular.accepted
    out = io.StringIO()
    print_recommender_runs([learned, popular], out)
    assert "picked-for-you" in out.getvalue()
