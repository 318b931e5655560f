"""Contextual bandits: they learn, they report honest propensities, and they replay exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from insession.models.bandit import EpsilonGreedy, FeatureHasher, LinearThompson, _normal_quantiles
from insession.schemas.features import Features

ROOT = Path(__file__).resolve().parents[2]
RATES = {
    "offer_a": {"a": 0.6, "b": 0.1, "c": 0.1},
    "offer_b": {"a": 0.1, "b": 0.6, "c": 0.1},
    "offer_c": {"a": 0.1, "b": 0.1, "c": 0.6},
    "offer_d": {"a": 0.3, "b": 0.3, "c": 0.3},
}
ARMS = list(RATES)
UNIFORM_REWARD = float(np.mean([rates["a"] for rates in RATES.values()]))  # same per segment
POLICIES = [
    pytest.param(lambda: LinearThompson(seed=1), id="thompson"),
    pytest.param(lambda: EpsilonGreedy(epsilon=0.1, seed=1), id="epsilon-greedy"),
]


def context(rng: np.random.Generator, segment: str | None = None) -> Features:
    """A segment that decides the best offer, among a distracting channel and noise."""
    features: Features = {
        "segment": segment or str(rng.choice(["a", "b", "c"])),
        "channel": str(rng.choice(["web", "app"])),
    }
    for i in range(5):
        features[f"noise_{i}"] = float(rng.random())
    return features


def train(policy: LinearThompson | EpsilonGreedy, rounds: int, seed: int = 0) -> float:
    """Plays the simulated shop; returns the mean reward earned while learning."""
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(rounds):
        features = context(rng)
        arm = policy.pull(ARMS, features).arm
        reward = float(rng.random() < RATES[arm][str(features["segment"])])
        policy.update(arm, features, reward)
        total += reward
    return total / rounds


def test_hasher_is_the_same_in_fresh_hashers_and_processes() -> None:
    features: Features = {"channel": "web", "top_category": "shoes", "orders": 3.0, "hour": 14.0}
    vector = FeatureHasher().transform_one(features)
    assert vector.shape == (33,)
    np.testing.assert_array_equal(vector, FeatureHasher().transform_one(features))
    script = (
        "from models.bandit import FeatureHasher;"
        f"print(FeatureHasher().transform_one({features!r}).tolist())"
    )
    for salt in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": salt},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert json.loads(out) == vector.tolist()


def test_hasher_one_hots_strings_and_keeps_a_bias() -> None:
    hasher = FeatureHasher(dim=16)
    assert hasher.transform_one({}).tolist() == [0.0] * 16 + [1.0]
    web = hasher.transform_one({"channel": "web"})
    assert np.count_nonzero(web[:16]) == 1 and abs(web[:16].sum()) == 1.0
    assert not np.array_equal(web, hasher.transform_one({"channel": "app"}))
    assert hasher.transform_one({"orders": 0.0}).tolist() == [0.0] * 16 + [1.0]


@pytest.mark.parametrize("make", POLICIES)
def test_learns_the_best_offer_per_segment_and_beats_random(make) -> None:
    policy = make()
    earned = train(policy, 3000)
    assert earned > UNIFORM_REWARD + 0.15
    rng = np.random.default_rng(99)
    for segment, best in [("a", "offer_a"), ("b", "offer_b"), ("c", "offer_c")]:
        picks = Counter(policy.pull(ARMS, context(rng, segment)).arm for _ in range(200))
        assert picks[best] / 200 > 0.8, (segment, picks)


def test_epsilon_greedy_reports_exact_probabilities() -> None:
    policy = EpsilonGreedy(epsilon=0.2, seed=3)
    arms = ["good", "bad_1", "bad_2", "bad_3"]
    for _ in range(20):
        for arm in arms:
            policy.update(arm, {"channel": "web"}, 1.0 if arm == "good" else 0.0)
    choices = [policy.pull(arms, {"channel": "web"}) for _ in range(4000)]
    for choice in choices:
        expected = 0.8 + 0.2 / 4 if choice.arm == "good" else 0.2 / 4
        assert choice.probability == pytest.approx(expected)
    good_share = sum(c.arm == "good" for c in choices) / len(choices)
    assert good_share == pytest.approx(0.85, abs=0.02)
    probabilities = policy.probabilities(arms, {"channel": "web"})
    assert probabilities["good"] == pytest.approx(0.85)
    assert sum(probabilities.values()) == pytest.approx(1.0)


def test_epsilon_greedy_shares_ties_among_new_arms() -> None:
    policy = EpsilonGreedy(epsilon=0.1, seed=0)
    arms = [f"offer_{i}" for i in range(5)]
    choices = [policy.pull(arms, {"channel": "web"}) for _ in range(2000)]
    assert {round(c.probability, 12) for c in choices} == {0.2}
    assert min(Counter(c.arm for c in choices).values()) > 300


def test_thompson_samples_from_a_standard_normal() -> None:
    quantiles = _normal_quantiles()
    assert abs(quantiles.mean()) < 1e-12 and quantiles.std() == pytest.approx(1.0, abs=1e-4)
    np.testing.assert_allclose(quantiles, -quantiles[::-1], atol=1e-9)
    assert 4.0 < quantiles.max() < 4.5
    assert np.all(np.diff(quantiles) > 0)


def test_thompson_is_near_certain_of_a_dominant_arm() -> None:
    policy = LinearThompson(seed=5)
    arms = [f"offer_{i}" for i in range(50)]
    for _ in range(30):
        for arm in arms:
            policy.update(arm, {"channel": "web"}, 1.0 if arm == "offer_7" else 0.0)
    choices = [policy.pull(arms, {"channel": "web"}) for _ in range(50)]
    assert all(c.arm == "offer_7" for c in choices)
    assert min(c.probability for c in choices) > 0.95


def test_thompson_gives_a_fresh_symmetric_set_about_one_over_k() -> None:
    policy = LinearThompson(seed=6)
    arms = [f"offer_{i}" for i in range(10)]
    probabilities = [policy.pull(arms, {"channel": "web"}).probability for _ in range(400)]
    assert np.mean(probabilities) == pytest.approx(0.1, abs=0.01)
    estimated = policy.probabilities(arms, {"channel": "web"})
    assert all(0.0 <= p <= 0.3 for p in estimated.values())


def test_thompson_probabilities_match_how_often_each_arm_is_chosen() -> None:
    """Per arm, the mean logged probability is its choice frequency, and they sum to one."""
    policy = LinearThompson(seed=8, prior_variance=0.02)
    arms = ["strong", "middle", "weak"]
    for reward, arm in [(0.6, "strong"), (0.5, "middle"), (0.3, "weak")]:
        for _ in range(5):
            policy.update(arm, {"channel": "web"}, reward)
    pulls = 4000
    choices = [policy.pull(arms, {"channel": "web"}) for _ in range(pulls)]
    logged = {arm: [c.probability for c in choices if c.arm == arm] for arm in arms}
    assert all(len(logged[arm]) > 200 for arm in arms), {a: len(v) for a, v in logged.items()}
    for arm in arms:
        assert np.mean(logged[arm]) == pytest.approx(len(logged[arm]) / pulls, abs=0.03)
    assert sum(np.mean(logged[arm]) for arm in arms) == pytest.approx(1.0, abs=0.05)
    assert sum(policy.probabilities(arms, {"channel": "web"}).values()) == pytest.approx(1.0)


def test_thompson_clips_the_probability_of_an_unlikely_choice() -> None:
    policy = LinearThompson(draws=4, seed=2)
    arms = [f"offer_{i}" for i in range(20)]
    probabilities = [policy.pull(arms, {"channel": "web"}).probability for _ in range(300)]
    assert min(probabilities) == 0.125
    assert max(probabilities) <= 1.0


def test_thompson_without_exploration_is_greedy() -> None:
    policy = LinearThompson(exploration=0.0, priors={"high": 0.4, "low": 0.2}, seed=0)
    assert policy.pull(["low", "high"], {"channel": "web"}) == ("high", 1.0)


@pytest.mark.parametrize("make", POLICIES)
def test_same_seed_same_choices(make) -> None:
    first, second = make(), make()
    train(first, 300)
    train(second, 300)
    rng = np.random.default_rng(4)
    for _ in range(50):
        features = context(rng)
        assert first.pull(ARMS, features) == second.pull(ARMS, features)


@pytest.mark.parametrize("make", POLICIES)
def test_snapshot_restore_round_trip_replays_choices(make) -> None:
    trained = make()
    train(trained, 500)
    restored = make()
    restored.restore(json.loads(json.dumps(trained.snapshot())))
    assert restored.version == trained.version
    rng = np.random.default_rng(4)
    for _ in range(50):
        features = context(rng)
        assert restored.pull(ARMS, features) == trained.pull(ARMS, features)
        restored.update("offer_a", features, 1.0)
        trained.update("offer_a", features, 1.0)


def test_restore_refuses_another_dimension() -> None:
    with pytest.raises(ValueError, match="dim"):
        LinearThompson(dim=16).restore(LinearThompson(dim=32).snapshot())


@pytest.mark.parametrize("make", POLICIES)
def test_new_arms_cold_start_from_their_prior(make) -> None:
    policy = make()
    train(policy, 300)
    policy.priors["late_offer"] = 0.42
    features = context(np.random.default_rng(0))
    before = policy.predict(ARMS, features)
    assert policy.predict(["late_offer", "unknown"], features) == pytest.approx([0.42, 0.0])
    many = [f"extra_{i}" for i in range(40)]  # outgrows the preallocated rows
    assert policy.predict(many, features) == pytest.approx([0.0] * 40)
    assert policy.predict(ARMS, features) == before


def test_a_high_prior_new_offer_wins_greedily() -> None:
    policy = EpsilonGreedy(epsilon=0.0, seed=0)
    train(policy, 300)
    policy.priors["launch"] = 5.0
    assert policy.pull([*ARMS, "launch"], {"segment": "a"}).arm == "launch"


def test_version_changes_with_every_update() -> None:
    policy = LinearThompson()
    assert policy.version == "thompson-0"
    policy.update("offer_a", {"channel": "web"}, 1.0)
    assert policy.version == "thompson-1"
    assert EpsilonGreedy().version == "epsilon-greedy-0"


@pytest.mark.parametrize("arms", [[], ["offer_a", "offer_a"]])
def test_empty_or_repeated_arms_fail_loudly(arms: list[str]) -> None:
    with pytest.raises(ValueError, match="distinct"):
        LinearThompson().pull(arms, {})
