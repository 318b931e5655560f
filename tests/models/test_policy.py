"""Policies: exact logged probabilities, keyed (reproducible) choices, learning verbs."""

from __future__ import annotations

from collections import Counter

import pytest
from insession.models.bandit import EpsilonGreedy, LinearThompson
from insession.models.policy import POLICIES, BanditPolicy, GreedyPolicy, build_policy
from insession.models.scorer import BaselineScorer
from insession.schemas.catalogue import CatalogueOffer

HELP = CatalogueOffer("help", "help", "Help", 4.0, 0.3, ("struggle",))
TEN_OFF = CatalogueOffer("ten-off", "discount", "10% off", 10.0, 0.1, ("hesitation",))
SCARF = CatalogueOffer("scarf", "product", "Scarf", 30.0, 0.05, ("complementary",))
OFFERS = [HELP, TEN_OFF, SCARF]
CONTEXT = {"channel": "app", "cart_value": 80.0}


def _frequencies(policy, keys: range, ranks=None) -> tuple[Counter[int], dict[int, float]]:
    counts: Counter[int] = Counter()
    logged: dict[int, float] = {}
    for key in keys:
        picked = policy.pick(OFFERS, CONTEXT, key, ranks)
        counts[picked.index] += 1
        logged[picked.index] = picked.probability
    return counts, logged


def test_greedy_answers_the_most_important_situation_then_the_highest_value() -> None:
    greedy = GreedyPolicy(BaselineScorer())
    assert greedy.pick(OFFERS, CONTEXT, key=1).index == 2  # 0.05 x 30 = 1.5 beats 1.2 and 1.0
    assert greedy.pick(OFFERS, CONTEXT, key=1, ranks=[1, 0, 1]).index == 1
    assert greedy.pick(OFFERS, CONTEXT, key=1).probability == 1.0
    assert greedy.learner is None


@pytest.mark.parametrize(
    "policy",
    [
        GreedyPolicy(BaselineScorer(), epsilon=0.3),
        BanditPolicy(EpsilonGreedy(epsilon=0.3, priors={"help": 0.3, "ten-off": 0.1})),
        BanditPolicy(LinearThompson(priors={"help": 0.12, "ten-off": 0.1, "scarf": 0.11})),
    ],
    ids=["greedy", "epsilon-greedy", "thompson"],
)
def test_logged_probabilities_match_how_often_each_offer_is_chosen(policy) -> None:
    counts, logged = _frequencies(policy, range(6000))
    for index, probability in logged.items():
        assert abs(counts[index] / 6000 - probability) < 0.06, (index, counts, logged)


def test_the_same_decision_key_makes_the_same_choice_on_the_same_model() -> None:
    one = BanditPolicy(LinearThompson(priors={"help": 0.1, "ten-off": 0.1, "scarf": 0.1}))
    two = BanditPolicy(LinearThompson(priors={"help": 0.1, "ten-off": 0.1, "scarf": 0.1}, seed=9))
    picks_one = [one.pick(OFFERS, CONTEXT, key) for key in range(200)]
    picks_two = [two.pick(OFFERS, CONTEXT, key) for key in range(200)]
    assert picks_one == picks_two
    assert len({p.index for p in picks_one}) == 3, "different keys explore different offers"


def test_an_arm_published_by_one_process_is_loaded_by_another() -> None:
    learner = LinearThompson(priors={"help": 0.1})
    for _ in range(30):
        learner.learn("help", CONTEXT, 1.0)
    other = LinearThompson(priors={"help": 0.1})
    other.import_arm("help", learner.export_arm("help"))
    assert other.arm_updates("help") == 30 and other.version == learner.version
    assert other.predict(["help"], CONTEXT) == learner.predict(["help"], CONTEXT)
    with pytest.raises(ValueError, match="arm 'help': state has 5 weights"):
        other.import_arm("help", {"mean": [0.0] * 5, "variance": [1.0] * 5, "updates": 1})
    with pytest.raises(ValueError, match="malformed"):
        other.import_arm("help", {"mean": [0.0] * 33})


def test_build_policy_names_the_choices_when_the_name_is_wrong() -> None:
    for name in POLICIES:
        assert build_policy(name, OFFERS).name
    with pytest.raises(ValueError, match=r"unknown policy 'bandito'.*thompson"):
        build_policy("bandito", OFFERS)
