"""Fast contextual bandits over hashed features that log the propensity of every offer."""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Mapping, Sequence
from statistics import NormalDist
from typing import Any, NamedTuple

import numpy as np
from insession.schemas.features import Features

_MAX_CACHED_SLOTS = 100_000
_QUANTILE_BITS = 16
_KEYED_BINS = 1 << 20


@functools.cache
def _normal_quantiles() -> np.ndarray:
    """Standard normal at the midpoints of 2^16 equal-probability bins (built once, ~70 ms).

    Indexing it with uniform 16-bit integers draws a normal 2-3x faster than numpy's ziggurat,
    which dominates a Thompson pull; tails stop at ±4.3σ and the variance is 0.99999, far inside
    the Monte Carlo error of any propensity estimated from it.
    """
    levels = 1 << _QUANTILE_BITS
    normal = NormalDist()
    return np.array([normal.inv_cdf((i + 0.5) / levels) for i in range(levels)])


@functools.cache
def _keyed_bins() -> np.ndarray:
    """A fixed table of uniform 16-bit draws that keyed pulls read from (2 MiB, built once).

    A decision key picks where to start reading, so the same decision draws the same numbers
    in every process and after every restart (a replayed decision chooses again what it chose),
    at the cost of a slice instead of a seeded generator per decision (~10 µs).
    """
    return np.random.default_rng(20_260_101).integers(
        1 << _QUANTILE_BITS, size=_KEYED_BINS, dtype=np.uint16
    )


def keyed_uniforms(key: int, count: int) -> np.ndarray:
    """`count` uniform draws in [0, 1) fixed by `key`."""
    start = key % (_KEYED_BINS - count)
    return (_keyed_bins()[start : start + count] + 0.5) / (1 << _QUANTILE_BITS)


class Choice(NamedTuple):
    """The chosen arm and its probability under the policy, logged for off-policy evaluation."""

    arm: str
    probability: float


class FeatureHasher:
    """Maps a features dict onto `dim` signed hashed slots plus a constant bias slot.

    Strings are one-hot as "name=value", numbers are squashed to sign(v)·log1p|v| so that
    `lifetime_value` cannot drown `hour` in a diagonal model. Slots come from `zlib.crc32`, not
    the salted built-in `hash`, so every process maps a feature to the same slot; a random sign
    per key makes collisions cancel on average instead of adding up.

    >>> hasher = FeatureHasher(dim=4)
    >>> [round(v, 3) for v in hasher.transform_one({"channel": "web", "orders": 2.0}).tolist()]
    [0.0, 0.0, -1.0, 1.099, 1.0]
    """

    def __init__(self, dim: int = 32, squash: bool = True) -> None:
        if dim < 1:
            raise ValueError(f"dim must be positive, got {dim}")
        self.dim = dim
        self.squash = squash
        self._slots: dict[str, tuple[int, float]] = {}

    def transform_one(self, x: Features) -> np.ndarray:
        row = [0.0] * self.dim + [1.0]
        slots = self._slots
        for name, value in x.items():
            if isinstance(value, str):
                key, amount = f"{name}={value}", 1.0
            else:
                key, amount = name, float(value)
                if self.squash:
                    amount = math.copysign(math.log1p(abs(amount)), amount)
            slot = slots.get(key) or self._slot(key)
            row[slot[0]] += slot[1] * amount
        return np.array(row)

    def _slot(self, key: str) -> tuple[int, float]:
        digest = zlib.crc32(key.encode())
        slot = ((digest >> 1) % self.dim, -1.0 if digest & 1 else 1.0)
        if len(self._slots) < _MAX_CACHED_SLOTS:  # bounded: free-text values must not leak memory
            self._slots[key] = slot
        return slot


class _LinearArms:
    """Per-arm Bayesian linear regression with a diagonal Gaussian posterior, stacked by row.

    Each update is an exact Kalman step from the diagonal prior followed by projection back
    onto a diagonal (assumed density filtering): the mean moves by the full-covariance rule and
    variances only shrink, so a pull over many arms stays two matrix-vector products.
    """

    name = "linear"

    def __init__(
        self,
        dim: int,
        prior_variance: float,
        noise_variance: float,
        priors: Mapping[str, float] | None,
        default_prior: float,
        seed: int | None,
    ) -> None:
        self.hasher = FeatureHasher(dim)
        self.prior_variance = prior_variance
        self.noise_variance = noise_variance
        self.priors = dict(priors or {})
        self.default_prior = default_prior
        self.seed = seed
        self.arms: list[str] = []
        self.updates = 0
        self._arm_updates: dict[str, int] = {}
        self._index: dict[str, int] = {}
        self._mean = np.zeros((8, dim + 1))
        self._var = np.zeros((8, dim + 1))
        self._rng = np.random.default_rng(seed)

    @property
    def version(self) -> str:
        """Changes with every update, so a logged offer names the exact model that chose it."""
        return f"{self.name}-{self.updates}"

    def predict(self, arms: Sequence[str], features: Features) -> list[float]:
        """Posterior mean reward of each arm, in the same order (new arms give their prior)."""
        return self._means(arms, features).tolist()

    def update(self, arm: str, features: Features, reward: float) -> None:
        """Learns from the observed reward of the arm that was shown (new arms join here too)."""
        x = self.hasher.transform_one(features)
        if arm not in self._index:
            self._add(arm)
        row = self._index[arm]
        mean, var = self._mean[row], self._var[row]
        gain = var * x
        predictive_var = gain @ x + self.noise_variance
        self._mean[row] = mean + gain * ((reward - mean @ x) / predictive_var)
        self._var[row] = var - gain * gain / predictive_var
        self.updates += 1
        self._arm_updates[arm] = self._arm_updates.get(arm, 0) + 1

    def learn(self, arm: str, features: Features, reward: float) -> None:
        """The learner's verb, shared with `models.propensity.RiverPropensity`."""
        self.update(arm, features, reward)

    def arm_updates(self, arm: str) -> int:
        """How many rewards this arm has learned from (0 for an arm never seen)."""
        return self._arm_updates.get(arm, 0)

    def export_arm(self, arm: str) -> dict[str, Any]:
        """One arm's posterior (JSON-ready), for the learner that owns it to publish."""
        if arm not in self._index:
            raise KeyError(f"unknown arm {arm!r}")
        row = self._index[arm]
        return {
            "name": self.name,
            "dim": self.hasher.dim,
            "updates": self._arm_updates.get(arm, 0),
            "mean": self._mean[row].tolist(),
            "variance": self._var[row].tolist(),
        }

    def import_arm(self, arm: str, state: Mapping[str, Any]) -> None:
        """Replace one arm's posterior with a published one (from `export_arm`)."""
        width = self.hasher.dim + 1
        try:
            mean = np.asarray(state["mean"], dtype=float)
            variance = np.asarray(state["variance"], dtype=float)
            updates = int(state["updates"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"arm {arm!r}: malformed state ({error})") from error
        if state.get("name", self.name) != self.name:
            raise ValueError(f"arm {arm!r}: state is for {state['name']!r}, not {self.name!r}")
        if mean.shape != (width,) or variance.shape != (width,):
            raise ValueError(f"arm {arm!r}: state has {mean.size} weights, policy uses {width}")
        if arm not in self._index:
            self._add(arm)
        row = self._index[arm]
        self.updates += updates - self._arm_updates.get(arm, 0)
        self._arm_updates[arm] = updates
        self._mean[row] = mean
        self._var[row] = variance

    def snapshot(self) -> dict[str, Any]:
        """Plain lists and ints (JSON-ready), including the random state for exact replays."""
        n = len(self.arms)
        return {
            "name": self.name,
            "dim": self.hasher.dim,
            "arms": list(self.arms),
            "mean": self._mean[:n].tolist(),
            "variance": self._var[:n].tolist(),
            "updates": self.updates,
            "arm_updates": dict(self._arm_updates),
            "rng": self._rng.bit_generator.state,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Loads a `snapshot()`, after which the policy makes exactly the original's choices."""
        if state["dim"] != self.hasher.dim:
            raise ValueError(f"snapshot has dim {state['dim']}, policy has {self.hasher.dim}")
        n, width = len(state["arms"]), self.hasher.dim + 1
        self.arms = list(state["arms"])
        self._index = {arm: i for i, arm in enumerate(self.arms)}
        self._mean = np.zeros((max(8, n), width))
        self._var = np.zeros((max(8, n), width))
        self._mean[:n] = np.asarray(state["mean"], dtype=float).reshape(n, width)
        self._var[:n] = np.asarray(state["variance"], dtype=float).reshape(n, width)
        self.updates = int(state["updates"])
        self._arm_updates = {arm: int(n) for arm, n in state.get("arm_updates", {}).items()}
        self._rng.bit_generator.state = state["rng"]

    def _means(self, arms: Sequence[str], features: Features) -> np.ndarray:
        rows = self._rows(arms)  # first: adding arms may reallocate the stacked arrays
        return self._mean[rows] @ self.hasher.transform_one(features)

    def _rows(self, arms: Sequence[str]) -> np.ndarray:
        index = self._index
        try:
            rows = [index[arm] for arm in arms]
        except KeyError:
            for arm in arms:
                if arm not in index:
                    self._add(arm)
            rows = [index[arm] for arm in arms]
        if not rows or len(set(rows)) != len(rows):
            raise ValueError(f"arms must be non-empty and distinct, got {list(arms)}")
        return np.array(rows)

    def _add(self, arm: str) -> None:
        """Cold start: bias weight at the arm's prior (e.g. its base rate), the rest at zero."""
        row = len(self.arms)
        if row == len(self._mean):
            self._mean = np.concatenate([self._mean, np.zeros_like(self._mean)])
            self._var = np.concatenate([self._var, np.zeros_like(self._var)])
        self._mean[row] = 0.0
        self._mean[row, -1] = self.priors.get(arm, self.default_prior)
        self._var[row] = self.prior_variance
        self.arms.append(arm)
        self._index[arm] = row


class LinearThompson(_LinearArms):
    """Thompson sampling on per-arm linear-Gaussian rewards; returns the choice's probability.

    Under a diagonal posterior an arm's score θ·x is Normal(μ, s²) with μ = m·x and
    s² = Σ vᵢxᵢ², so one pull samples one scalar per arm instead of a weight vector (standard
    normals come from a fine quantile table, see `_normal_quantiles`). The choice is the argmax
    of one draw. Its probability is estimated from `draws` (K) further, independent draws:
    p̂ = (1/K)·#{k : argmax_j score_kj = chosen}, unbiased with standard error √(p(1-p)/K),
    clipped to [0.5/K, 1] so an inverse-propensity weight never exceeds 2K.

    Parameters
    ----------
    dim
        Hashed feature slots (a bias slot is added).
    exploration
        Multiplies the posterior standard deviation: 0 is greedy, above 1 explores more.
    draws
        K, the Monte Carlo draws behind each probability.
    prior_variance
        Prior variance of every weight of a new arm.
    noise_variance
        Reward noise variance; 0.25 bounds any reward in [0, 1].
    priors
        Prior mean reward per arm (e.g. the offer's base rate), for cold start.
    default_prior
        Prior mean reward of arms missing from `priors`.
    seed
        Seed of the numpy random generator.

    >>> policy = LinearThompson(priors={"help": 0.3, "discount": 0.1}, seed=42)
    >>> context = {"channel": "web", "cart_lines": 3.0}
    >>> for _ in range(100):
    ...     policy.update("discount", context, 1.0)
    ...     policy.update("help", context, 0.0)
    >>> choice = policy.pull(["help", "discount"], context)
    >>> choice.arm, choice.probability, policy.version
    ('discount', 1.0, 'thompson-200')
    >>> [round(reward, 3) for reward in policy.predict(["help", "discount"], context)]
    [0.0, 1.0]
    """

    name = "thompson"

    def __init__(
        self,
        dim: int = 32,
        exploration: float = 1.0,
        draws: int = 64,
        prior_variance: float = 0.05,
        noise_variance: float = 0.25,
        priors: Mapping[str, float] | None = None,
        default_prior: float = 0.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(dim, prior_variance, noise_variance, priors, default_prior, seed)
        if draws < 1:
            raise ValueError(f"draws must be positive, got {draws}")
        self.exploration = exploration
        self.draws = draws
        self._quantiles = _normal_quantiles()

    def pull(self, arms: Sequence[str], features: Features, key: int | None = None) -> Choice:
        """One Thompson choice and its estimated probability.

        With a `key` (e.g. a hash of the decision) the draws are fixed by it instead of taken
        from the policy's generator, so the same decision on the same model is the same choice.
        """
        winners = self._winners(arms, features, self.draws + 1, key)
        chosen = winners[0]
        hits = np.count_nonzero(winners[1:] == chosen)
        return Choice(arms[chosen], max(float(hits) / self.draws, 0.5 / self.draws))

    def probabilities(self, arms: Sequence[str], features: Features) -> dict[str, float]:
        """Monte Carlo P(arm) for every arm, unclipped (sums to 1): a target policy's π(a|x)."""
        winners = self._winners(arms, features, self.draws)
        counts = np.bincount(winners, minlength=len(arms)) / self.draws
        return dict(zip(arms, counts.tolist(), strict=True))

    def _winners(
        self, arms: Sequence[str], features: Features, draws: int, key: int | None = None
    ) -> np.ndarray:
        """Index of the best arm in each of `draws` joint samples of the scalar scores."""
        x = self.hasher.transform_one(features)
        rows = self._rows(arms)
        mu = self._mean[rows] @ x
        sd = np.sqrt(self._var[rows] @ (x * x)) * self.exploration
        shape = (draws, len(rows))
        if key is None:
            bins = self._rng.integers(1 << _QUANTILE_BITS, size=shape, dtype=np.uint16)
        elif draws * len(rows) < _KEYED_BINS:
            start = key % (_KEYED_BINS - draws * len(rows))
            bins = _keyed_bins()[start : start + draws * len(rows)].reshape(shape)
        else:  # more draws than the table holds: a generator seeded by the key
            rng = np.random.default_rng(key)
            bins = rng.integers(1 << _QUANTILE_BITS, size=shape, dtype=np.uint16)
        scores = self._quantiles.take(bins)
        scores *= sd
        scores += mu
        return scores.argmax(axis=1)


class EpsilonGreedy(_LinearArms):
    """Best posterior-mean arm, or with probability `epsilon` a uniformly random arm.

    The probability is exact: ε/n for every arm, plus (1-ε)/t for each of the t arms tied
    for the best mean (ties are broken at random, so new arms with equal priors share).

    Parameters
    ----------
    epsilon
        Exploration rate in [0, 1].
    dim, prior_variance, noise_variance, priors, default_prior, seed
        As in `LinearThompson`.

    >>> policy = EpsilonGreedy(epsilon=0.1, priors={"help": 0.3, "discount": 0.1}, seed=42)
    >>> choice = policy.pull(["help", "discount"], {"channel": "web"})
    >>> choice.arm, round(choice.probability, 4)
    ('help', 0.95)
    """

    name = "epsilon-greedy"

    def __init__(
        self,
        epsilon: float = 0.1,
        dim: int = 32,
        prior_variance: float = 0.05,
        noise_variance: float = 0.25,
        priors: Mapping[str, float] | None = None,
        default_prior: float = 0.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(dim, prior_variance, noise_variance, priors, default_prior, seed)
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        self.epsilon = epsilon

    def pull(self, arms: Sequence[str], features: Features, key: int | None = None) -> Choice:
        """The greedy arm or, with probability ε, a random one; a `key` fixes the coin flips."""
        mu = self._means(arms, features)
        best = np.flatnonzero(mu == mu.max())
        n = len(mu)
        if key is None:
            explore, pick = self._rng.random(), self._rng.random()
        else:
            explore, pick = keyed_uniforms(key, 2).tolist()
        if explore < self.epsilon:
            chosen = int(pick * n)
        else:
            chosen = int(best[int(pick * len(best))]) if len(best) > 1 else int(best[0])
        return Choice(arms[chosen], self._probability(mu[chosen] == mu[best[0]], n, len(best)))

    def probabilities(self, arms: Sequence[str], features: Features) -> dict[str, float]:
        """Exact P(arm) for every arm."""
        mu = self._means(arms, features)
        ties = int(np.count_nonzero(mu == mu.max()))
        return {
            arm: self._probability(bool(m == mu.max()), len(mu), ties)
            for arm, m in zip(arms, mu.tolist(), strict=True)
        }

    def _probability(self, is_best: bool, n: int, ties: int) -> float:
        return self.epsilon / n + ((1.0 - self.epsilon) / ties if is_best else 0.0)
