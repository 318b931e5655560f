"""Off-policy estimators on synthetic logs whose true target value is known exactly."""

from __future__ import annotations

import numpy as np
import pytest
from insession.models.off_policy import (
    Estimate,
    LoggedRounds,
    doubly_robust,
    ips,
    ratio_of_means,
    snips,
)

MEANS = np.array([0.1, 0.3, 0.5, 0.7, 0.2])  # true expected reward of each action
LOGGING = np.array([0.4, 0.3, 0.1, 0.1, 0.1])  # non-uniform, so weights vary
TARGET = np.array([0.05, 0.05, 0.2, 0.6, 0.1])
TRUE_VALUE = float(TARGET @ MEANS)


def simulate(seed: int, n: int = 2_000, target: np.ndarray = TARGET) -> LoggedRounds:
    rng = np.random.default_rng(seed)
    action = rng.choice(len(LOGGING), size=n, p=LOGGING)
    reward = (rng.random(n) < MEANS[action]).astype(float)
    return LoggedRounds(action, reward, LOGGING[action], target[action])


def dr_with(rounds: LoggedRounds, model: np.ndarray) -> Estimate:
    expected = np.full(len(rounds.reward), float(TARGET @ model))
    return doubly_robust(rounds, model[rounds.action], expected)


ESTIMATORS = {
    "ips": ips,
    "snips": snips,
    "dr_perfect": lambda r: dr_with(r, MEANS),
    "dr_wrong_model": lambda r: dr_with(r, np.full(len(MEANS), 0.5)),
}


@pytest.mark.parametrize("name", ESTIMATORS)
def test_unbiased_with_nominal_coverage_over_seeds(name: str) -> None:
    estimates = [ESTIMATORS[name](simulate(seed)) for seed in range(200)]
    values = np.array([e.value for e in estimates])
    coverage = np.mean([e.contains(TRUE_VALUE) for e in estimates])
    # Mean of 200 estimates: within 4 standard errors of the truth.
    assert abs(values.mean() - TRUE_VALUE) < 4 * values.std() / np.sqrt(len(values))
    assert 0.88 <= coverage <= 1.0
    assert all(e.low <= e.value <= e.high and e.n == 2_000 for e in estimates)


def test_dr_with_a_perfect_model_has_lower_variance_than_ips() -> None:
    logs = [simulate(seed) for seed in range(100)]
    ips_values = np.array([ips(r).value for r in logs])
    dr_values = np.array([dr_with(r, MEANS).value for r in logs])
    assert dr_values.std() < 0.7 * ips_values.std()
    widths = [
        (dr_with(r, MEANS).high - dr_with(r, MEANS).low) / (ips(r).high - ips(r).low)
        for r in logs[:10]
    ]
    assert max(widths) < 1.0


def test_evaluating_the_logging_policy_gives_the_on_policy_mean() -> None:
    rounds = simulate(7, target=LOGGING)
    on_policy = rounds.reward.mean()
    assert ips(rounds).value == pytest.approx(on_policy, abs=1e-12)
    assert snips(rounds).value == pytest.approx(on_policy, abs=1e-12)
    assert np.all(rounds.weight == 1.0)


def test_bootstrap_interval_is_seeded_and_close_to_normal() -> None:
    rounds = simulate(3)
    normal = ips(rounds)
    first, again = ips(rounds, bootstrap=500, seed=1), ips(rounds, bootstrap=500, seed=1)
    assert first == again
    assert first.value == normal.value
    assert first.low < normal.value < first.high
    assert abs((first.high - first.low) / (normal.high - normal.low) - 1) < 0.2


def test_ratio_of_means_of_a_constant_has_a_zero_width_interval() -> None:
    est = ratio_of_means(np.full(10, 2.0), np.ones(10))
    assert (est.value, est.low, est.high, est.n) == (2.0, 2.0, 2.0, 10)


def test_rejects_inconsistent_rounds() -> None:
    with pytest.raises(ValueError, match="length"):
        LoggedRounds(np.zeros(2), np.zeros(3), np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="propensities"):
        LoggedRounds(np.zeros(2), np.zeros(2), np.zeros(2), np.ones(2))
    with pytest.raises(ValueError, match="one value per round"):
        doubly_robust(simulate(0, n=5), np.zeros(4), np.zeros(5))
