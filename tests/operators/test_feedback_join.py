"""Offers joined to delayed feedback: what each outcome, silence and the bounds teach."""

from __future__ import annotations

import pickle

import pytest
from insession.operators.feedback_join import (
    MAX_PENDING,
    FeedbackJoin,
    LearningExample,
    RewardPolicy,
    kind_windows,
)
from insession.schemas.catalogue import CatalogueOffer
from insession.schemas.events import Offer, OfferFeedback

MINUTE = 60_000


def offer(
    offer_id: str,
    *,
    at: int = 0,
    kind: str = "discount",
    probability: float = 0.25,
    model_version: str = "m7",
) -> Offer:
    return Offer(
        event_id=f"ev-{offer_id}",
        event_time=at,
        channel="web",
        customer_id="c1",
        offer_id=offer_id,
        action_id=f"act-{offer_id}",
        kind=kind,
        score=0.5,
        probability=probability,
        reason_codes=("test",),
        model_version=model_version,
        decided_at=at,
        expires_at=at + 30 * MINUTE,
    )


def feedback(offer_id: str, outcome: str, *, at: int, value: float | None = None) -> OfferFeedback:
    return OfferFeedback(
        event_id=f"fb-{offer_id}-{outcome}-{at}",
        event_time=at,
        channel="web",
        customer_id="c1",
        offer_id=offer_id,
        outcome=outcome,
        value=value,
    )


def joined(policy: RewardPolicy | None = None, *offers: Offer) -> FeedbackJoin:
    join = FeedbackJoin(policy)
    for one in offers:
        assert join.remember(one, {"cart_value": 40.0}) == []
    return join


def test_accepted_closes_at_once_with_weight_and_value() -> None:
    join = joined(RewardPolicy(value_weight=0.01), offer("a"))
    [example] = join.on_feedback(feedback("a", "accepted", at=MINUTE, value=50.0))
    assert example.outcome == "accepted"
    assert example.reward == pytest.approx(1.0 + 0.01 * 50.0)
    assert (example.reason, example.closed_at) == ("feedback", MINUTE)
    assert join.pending == {}
    assert join.counters.joined == 1
    assert join.next_expiry() is None


def test_click_then_silence_rewards_the_click_at_the_window_end() -> None:
    join = joined(RewardPolicy(windows_s={"discount": 600}), offer("a"))
    assert join.on_feedback(feedback("a", "clicked", at=MINUTE)) == []
    assert join.expire(600_000 - 1) == []
    [example] = join.expire(600_000)
    assert (example.outcome, example.reward, example.reason) == ("clicked", 0.3, "expired")
    assert example.closed_at == 600_000


def test_click_then_accept_rewards_the_accept() -> None:
    join = joined(None, offer("a"))
    join.on_feedback(feedback("a", "clicked", at=MINUTE))
    [example] = join.on_feedback(feedback("a", "accepted", at=2 * MINUTE))
    assert (example.outcome, example.reward) == ("accepted", 1.0)


def test_silence_gets_the_default_outcome_at_the_kinds_window() -> None:
    join = joined(RewardPolicy(windows_s={"discount": 600}), offer("a"))
    assert join.next_expiry() == 600_000
    [example] = join.expire(600_000)
    assert (example.outcome, example.reward, example.reason) == ("no_response", 0.0, "expired")
    assert join.counters.expired == 1


def test_silence_with_a_neutral_default_teaches_nothing() -> None:
    join = joined(RewardPolicy(default_outcome="neutral"), offer("a"))
    assert join.expire(10**12) == []
    assert join.pending == {}
    assert join.counters.neutral_dropped == 1


def test_dismissed_closes_at_once_with_no_reward() -> None:
    join = joined(None, offer("a"))
    [example] = join.on_feedback(feedback("a", "dismissed", at=MINUTE))
    assert (example.outcome, example.reward, example.reason) == ("dismissed", 0.0, "feedback")


def test_a_dismissal_after_a_click_keeps_the_click() -> None:
    join = joined(None, offer("a"))
    join.on_feedback(feedback("a", "clicked", at=MINUTE))
    [example] = join.on_feedback(feedback("a", "dismissed", at=2 * MINUTE))
    assert (example.outcome, example.reward) == ("clicked", 0.3)


@pytest.mark.parametrize("require_shown", [False, True])
def test_shown_only_teaches_a_zero_reward_even_with_a_neutral_default(require_shown: bool) -> None:
    policy = RewardPolicy(default_outcome="neutral", require_shown=require_shown)
    join = joined(policy, offer("a"))
    assert join.on_feedback(feedback("a", "shown", at=1)) == []
    [example] = join.expire(10**12)
    assert (example.outcome, example.reward) == ("shown", 0.0)


@pytest.mark.parametrize(("require_shown", "learned"), [(False, 1), (True, 0)])
def test_never_shown_decisions_are_dropped_only_when_shown_is_required(
    require_shown: bool, learned: int
) -> None:
    join = joined(RewardPolicy(require_shown=require_shown), offer("a"))
    assert len(join.expire(10**12)) == learned
    assert join.counters.unshown_dropped == 1 - learned
    assert join.pending == {}


def test_feedback_after_the_decision_closed_is_ignored_and_counted() -> None:
    join = joined(RewardPolicy(windows_s={"discount": 60}), offer("a"))
    assert len(join.expire(MINUTE)) == 1
    assert join.on_feedback(feedback("a", "accepted", at=MINUTE + 1)) == []
    assert join.on_feedback(feedback("never-offered", "clicked", at=1)) == []
    assert join.counters.unknown_feedback == 2


def test_feedback_stamped_after_the_window_closes_as_expiry_would() -> None:
    join = joined(RewardPolicy(windows_s={"discount": 60}), offer("a"))
    [example] = join.on_feedback(feedback("a", "accepted", at=MINUTE + 5))
    assert (example.outcome, example.reason, example.closed_at) == (
        "no_response",
        "expired",
        MINUTE,
    )
    assert join.counters.late_feedback == 1


def test_each_kind_waits_its_own_window() -> None:
    policy = RewardPolicy(windows_s={"discount": 60, "help": 600}, default_window_s=300)
    join = joined(policy, offer("d", kind="discount"), offer("h", kind="help"))
    join.remember(offer("p", kind="product"), {})
    assert [e.offer_id for e in join.expire(MINUTE)] == ["d"]
    assert [e.offer_id for e in join.expire(5 * MINUTE)] == ["p"]
    assert join.next_expiry() == 10 * MINUTE
    assert [e.offer_id for e in join.expire(10 * MINUTE)] == ["h"]


def test_kind_windows_take_the_longest_window_of_each_kind() -> None:
    def entry(action_id: str, kind: str, window: int) -> CatalogueOffer:
        return CatalogueOffer(action_id, kind, "t", 1.0, 0.1, ("browse",), reward_window_s=window)

    offers = (entry("a", "discount", 60), entry("b", "discount", 900), entry("c", "help", 30))
    assert kind_windows(offers) == {"discount": 900, "help": 30}


def test_the_bound_closes_the_oldest_decision_early() -> None:
    join = joined(RewardPolicy(max_pending=2), offer("b", at=2), offer("a", at=1))
    join.on_feedback(feedback("a", "clicked", at=3))
    [evicted] = join.remember(offer("c", at=4), {})
    assert (evicted.offer_id, evicted.outcome, evicted.reason) == ("a", "clicked", "expired")
    assert evicted.closed_at == 4
    assert sorted(join.pending) == ["b", "c"]
    [evicted] = join.remember(offer("d", at=5), {})
    assert (evicted.offer_id, evicted.outcome, evicted.reward) == ("b", "no_response", 0.0)
    assert join.counters.evicted == 2


def test_withdrawn_decisions_are_forgotten_unlearned() -> None:
    join = joined(RewardPolicy(), offer("a", at=1), offer("b", at=2))
    join.withdraw({"a", "unknown"})
    assert sorted(join.pending) == ["b"] and join.counters.withdrawn == 1
    assert [e.offer_id for e in join.expire(10**12)] == ["b"]


def test_duplicate_feedback_and_decisions_do_not_count_twice() -> None:
    join = joined(None, offer("a"), offer("b"))
    assert join.remember(offer("a", probability=0.9), {}) == []
    join.on_feedback(feedback("a", "clicked", at=1))
    join.on_feedback(feedback("a", "clicked", at=2))
    assert len(join.on_feedback(feedback("a", "accepted", at=3))) == 1
    assert join.on_feedback(feedback("a", "accepted", at=3)) == []
    assert join.counters.joined == 1
    assert join.counters.unknown_feedback == 1
    [example] = join.expire(10**12)
    assert example.offer_id == "b"


def test_examples_carry_the_decisions_propensity_model_and_context() -> None:
    join = FeedbackJoin()
    context = {"cart_value": 40.0, "channel": "web"}
    join.remember(offer("a", probability=0.125, model_version="ts-3"), context)
    context["cart_value"] = 0.0  # the caller's dict changes later; the decision must not
    [example] = join.on_feedback(feedback("a", "accepted", at=1))
    assert example == LearningExample(
        action_id="act-a",
        features={"cart_value": 40.0, "channel": "web"},
        reward=1.0,
        probability=0.125,
        model_version="ts-3",
        offer_id="a",
        outcome="accepted",
        decided_at=0,
        closed_at=1,
        reason="feedback",
    )


def test_expiry_order_is_by_decision_time_then_offer_id() -> None:
    join = joined(None, offer("z", at=5), offer("b", at=1), offer("a", at=1))
    assert [e.offer_id for e in join.expire(10**12)] == ["a", "b", "z"]


def test_the_state_survives_pickling_for_the_dataflow_snapshot() -> None:
    join = joined(RewardPolicy(value_weight=0.5), offer("a"))
    join.on_feedback(feedback("a", "clicked", at=1))
    restored = pickle.loads(pickle.dumps(join))
    [example] = restored.on_feedback(feedback("a", "accepted", at=2, value=2.0))
    assert example.reward == 2.0
    assert restored.counters.joined == 1


@pytest.mark.parametrize(
    "bad",
    [
        {"default_outcome": "positive"},
        {"windows_s": {"help": 0}},
        {"max_pending": 0},
        {"max_pending": MAX_PENDING + 1},
        {"weights": {"clicked": 1.0}},
    ],
)
def test_a_wrong_policy_fails_at_once(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RewardPolicy(**bad)  # type: ignore[arg-type]
