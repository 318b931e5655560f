"""One contract for every policy and scorer (after River's `checks/`): a new one added to
`POLICIES` or `SCORERS` inherits these tests.

- `pick` returns a valid index and a probability in (0, 1];
- learning changes the model (for a policy that learns);
- export then import gives the same choices;
- pickling round-trips.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable

import pytest
from insession.models.policy import POLICIES, Policy, build_policy
from insession.models.propensity import RiverPropensity
from insession.models.scorer import BaselineScorer, Scorer
from insession.schemas.catalogue import CatalogueOffer
from insession.schemas.features import Features

OFFERS = [
    CatalogueOffer("help-search", "help", "Need a hand?", 2.0, 0.3, ("struggle",)),
    CatalogueOffer("ten-off", "discount", "10% off", 10.0, 0.1, ("hesitation",)),
    CatalogueOffer("free-delivery", "free_delivery", "Free delivery", 6.0, 0.15, ("hesitation",)),
]
CONTEXTS: list[Features] = [
    {"channel": "app", "cart_value": 42.0, "hour": 21.0},
    {"channel": "web", "cart_value": 0.0, "failed_searches": 2.0},
    {"channel": "store", "price_band": 3.0},
]
SCORERS: dict[str, Callable[[], Scorer]] = {
    "baseline": BaselineScorer,
    "river": lambda: RiverPropensity(priors={o.action_id: o.base_rate for o in OFFERS}),
}


def _choices(policy: Policy) -> list[tuple[int, float]]:
    return [
        (picked.index, picked.probability)
        for key, features in enumerate(CONTEXTS * 4)
        for picked in [policy.pick(OFFERS, features, key=key, ranks=[0, 1, 1])]
    ]


TAUGHT = ("ten-off", "help-search")
"""The arms `_teach` gives rewards to (an arm that learned nothing has nothing to export)."""


def _teach(policy: Policy) -> None:
    assert policy.learner is not None
    for n in range(30):
        policy.learner.learn("ten-off", CONTEXTS[n % 3], 1.0)
        policy.learner.learn("help-search", CONTEXTS[n % 3], 0.0)


@pytest.mark.parametrize("kind", POLICIES)
def test_pick_returns_a_valid_index_and_a_probability(kind: str) -> None:
    policy = build_policy(kind, OFFERS)
    for index, probability in _choices(policy):
        assert 0 <= index < len(OFFERS)
        assert 0.0 < probability <= 1.0


@pytest.mark.parametrize("kind", POLICIES)
def test_learning_changes_the_model(kind: str) -> None:
    policy = build_policy(kind, OFFERS)
    if policy.learner is None:
        assert kind == "baseline"
        return
    before = policy.version, _choices(policy)
    assert policy.learner.arm_updates("ten-off") == 0
    _teach(policy)
    assert policy.learner.arm_updates("ten-off") == 30
    assert (policy.version, _choices(policy)) != before


@pytest.mark.parametrize("kind", POLICIES)
def test_export_then_import_gives_the_same_choices(kind: str) -> None:
    trained = build_policy(kind, OFFERS)
    if trained.learner is None:
        assert _choices(trained) == _choices(build_policy(kind, OFFERS))
        return
    _teach(trained)
    fresh = build_policy(kind, OFFERS)
    assert fresh.learner is not None
    for arm in TAUGHT:
        fresh.learner.import_arm(arm, trained.learner.export_arm(arm))
    assert _choices(fresh) == _choices(trained)


@pytest.mark.parametrize("kind", POLICIES)
def test_a_policy_pickles_and_chooses_the_same_after(kind: str) -> None:
    policy = build_policy(kind, OFFERS)
    if policy.learner is not None:
        _teach(policy)
    copy = pickle.loads(pickle.dumps(policy))
    assert _choices(copy) == _choices(policy)


@pytest.mark.parametrize("name", SCORERS)
def test_a_scorer_gives_one_probability_per_offer(name: str) -> None:
    scorer = SCORERS[name]()
    for features in CONTEXTS:
        scores = scorer.predict(features, OFFERS)
        assert len(scores) == len(OFFERS)
        assert all(0.0 <= s <= 1.0 for s in scores)


@pytest.mark.parametrize("name", SCORERS)
def test_a_scorer_pickles(name: str) -> None:
    scorer = SCORERS[name]()
    copy = pickle.loads(pickle.dumps(scorer))
    assert [copy.predict(f, OFFERS) for f in CONTEXTS] == [
        scorer.predict(f, OFFERS) for f in CONTEXTS
    ]
