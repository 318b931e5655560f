"""Off-policy estimators: the value of a new policy from decisions another policy logged.

Every estimator here is a ratio of two sums of per-round terms (IPS and DR divide by the
round count, SNIPS by the summed weights), so one routine gives all of them a 95% interval:
the delta-method normal approximation by default, or a seeded percentile bootstrap.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

_BOOTSTRAP_CHUNK = 200


@dataclass(frozen=True, slots=True)
class Estimate:
    """A policy value with its two-sided confidence interval, from `n` logged rounds."""

    value: float
    low: float
    high: float
    n: int

    def contains(self, value: float) -> bool:
        """Whether `value` lies inside the interval (inclusive)."""
        return self.low <= value <= self.high


@dataclass(frozen=True, slots=True)
class LoggedRounds:
    """Logged decisions: what was shown, what it earned, and both policies' odds of showing it.

    `propensity` is the logging policy's probability of the logged action, `target` the
    evaluated policy's probability of the same action in the same round; the importance
    weight of a round is their ratio.
    """

    action: np.ndarray
    reward: np.ndarray
    propensity: np.ndarray
    target: np.ndarray

    def __post_init__(self) -> None:
        sizes = {len(self.action), len(self.reward), len(self.propensity), len(self.target)}
        if len(sizes) != 1:
            raise ValueError(f"arrays differ in length: {sorted(sizes)}")
        if len(self.reward) == 0:
            raise ValueError("no rounds")
        if not np.all((self.propensity > 0) & (self.propensity <= 1)):
            raise ValueError("logging propensities must lie in (0, 1]")
        if not np.all((self.target >= 0) & (self.target <= 1)):
            raise ValueError("target probabilities must lie in [0, 1]")

    @property
    def weight(self) -> np.ndarray:
        """Importance weights π_target(a) / π_logging(a) of the logged actions."""
        return np.asarray(self.target, dtype=float) / np.asarray(self.propensity, dtype=float)


def ratio_of_means(
    numerator: np.ndarray,
    denominator: np.ndarray,
    *,
    level: float = 0.95,
    bootstrap: int = 0,
    seed: int = 0,
) -> Estimate:
    """Σ numerator / Σ denominator over the same rounds, with a confidence interval.

    The normal interval uses the delta-method influence terms (num - value·den) / mean(den);
    with `bootstrap` > 0 it is instead the percentile interval of that many resamples of the
    rounds, drawn from a generator seeded with `seed` so reports reproduce.

    >>> est = ratio_of_means(np.array([1.0, 0.0, 1.0, 0.0]), np.ones(4))
    >>> round(est.value, 3), round(est.low, 3), round(est.high, 3), est.n
    (0.5, -0.066, 1.066, 4)
    """
    num = np.asarray(numerator, dtype=float)
    den = np.asarray(denominator, dtype=float)
    n = len(num)
    value = float(num.sum() / den.sum())
    alpha = 1.0 - level
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        draws = []
        for start in range(0, bootstrap, _BOOTSTRAP_CHUNK):
            idx = rng.integers(0, n, size=(min(_BOOTSTRAP_CHUNK, bootstrap - start), n))
            with np.errstate(invalid="ignore", divide="ignore"):
                draws.append(num[idx].sum(axis=1) / den[idx].sum(axis=1))
        values = np.concatenate(draws)
        values = values[np.isfinite(values)]
        low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
        return Estimate(value, float(low), float(high), n)
    influence = (num - value * den) / den.mean()
    half = NormalDist().inv_cdf(1 - alpha / 2) * influence.std(ddof=1) / np.sqrt(n) if n > 1 else 0
    return Estimate(value, value - float(half), value + float(half), n)


def ips(
    rounds: LoggedRounds, *, level: float = 0.95, bootstrap: int = 0, seed: int = 0
) -> Estimate:
    """Inverse-propensity scoring: the mean of weight × reward, unbiased when no weight is infinite.

    >>> rounds = LoggedRounds(
    ...     action=np.array([0, 1, 0, 1]),
    ...     reward=np.array([1.0, 0.0, 1.0, 1.0]),
    ...     propensity=np.full(4, 0.5),
    ...     target=np.array([1.0, 0.0, 1.0, 0.0]),
    ... )
    >>> round(ips(rounds).value, 3)
    1.0
    """
    terms = rounds.weight * rounds.reward
    return ratio_of_means(terms, np.ones_like(terms), level=level, bootstrap=bootstrap, seed=seed)


def snips(
    rounds: LoggedRounds, *, level: float = 0.95, bootstrap: int = 0, seed: int = 0
) -> Estimate:
    """Self-normalised IPS: divides by the summed weights, trading a small bias for less variance.

    >>> rounds = LoggedRounds(
    ...     action=np.array([0, 1, 0, 1]),
    ...     reward=np.array([1.0, 0.0, 0.0, 1.0]),
    ...     propensity=np.full(4, 0.5),
    ...     target=np.array([0.9, 0.1, 0.9, 0.1]),
    ... )
    >>> round(snips(rounds).value, 3)
    0.5
    """
    weight = rounds.weight
    return ratio_of_means(
        weight * rounds.reward, weight, level=level, bootstrap=bootstrap, seed=seed
    )


def doubly_robust(
    rounds: LoggedRounds,
    predicted: np.ndarray,
    expected: np.ndarray,
    *,
    level: float = 0.95,
    bootstrap: int = 0,
    seed: int = 0,
) -> Estimate:
    """Doubly robust: the model's value of the target policy plus IPS on the model's residuals.

    `predicted` is the reward model's prediction for each logged action, `expected` the
    target policy's expected reward under the model in that round (Σ_a π(a) q̂(a)). It is
    unbiased if either the propensities or the model are right, and the better the model the
    smaller the residuals the weights have to carry.

    >>> rounds = LoggedRounds(
    ...     action=np.array([0, 1, 0, 1]),
    ...     reward=np.array([1.0, 0.0, 1.0, 1.0]),
    ...     propensity=np.full(4, 0.5),
    ...     target=np.array([1.0, 0.0, 1.0, 0.0]),
    ... )
    >>> round(doubly_robust(rounds, np.full(4, 0.5), np.full(4, 0.5)).value, 3)
    1.0
    """
    predicted = np.asarray(predicted, dtype=float)
    expected = np.asarray(expected, dtype=float)
    if predicted.shape != rounds.reward.shape or expected.shape != rounds.reward.shape:
        raise ValueError("predicted and expected need one value per round")
    terms = expected + rounds.weight * (rounds.reward - predicted)
    return ratio_of_means(terms, np.ones_like(terms), level=level, bootstrap=bootstrap, seed=seed)
