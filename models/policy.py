"""Policies: which of the eligible offers to make, and with what probability it was chosen.

Arbitration used to be "highest expected value wins"; a learning engine must also explore,
and every offer must log the probability it was chosen with so that a later policy can be
evaluated off-line on the log (`models.off_policy`). Two policies share one small interface:

- `GreedyPolicy` ranks by a scorer's P(accept) × value × lever, with optional ε exploration
  (the transparent baseline, or a River propensity model);
- `BanditPolicy` lets a contextual bandit (`models.bandit`) pick, Thompson or ε-greedy.

Both take a decision `key`, so the same decision on the same model gives the same choice in
every process and after a restart (the offer id stays the same and so does its content).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from insession.models.bandit import EpsilonGreedy, LinearThompson, keyed_uniforms
from insession.models.scorer import Scorer
from insession.schemas.catalogue import CatalogueOffer
from insession.schemas.features import Features


class Learner(Protocol):
    """A model that learns per offer (arm) and can publish and load one arm's state."""

    @property
    def version(self) -> str: ...

    def learn(self, arm: str, features: Features, reward: float) -> None: ...

    def arm_updates(self, arm: str) -> int: ...

    def export_arm(self, arm: str) -> dict[str, Any]: ...

    def import_arm(self, arm: str, state: Mapping[str, Any]) -> None: ...


class Picked(NamedTuple):
    """The index of the chosen offer among the candidates, its probability and its score;
    `version` names the model that chose (set by `operators.learning.ModelHub`)."""

    index: int
    probability: float
    score: float
    version: str | None = None


class Policy(Protocol):
    """Chooses one of the candidate offers; `learner` is None for a policy that never learns."""

    name: str

    @property
    def version(self) -> str: ...

    @property
    def learner(self) -> Learner | None: ...

    def pick(
        self,
        offers: Sequence[CatalogueOffer],
        features: Features,
        key: int,
        ranks: Sequence[int] | None = None,
    ) -> Picked:
        """Choose among `offers`; `ranks` (lower first) is the priority of the situation each
        answers, which a policy may use or learn past; `key` fixes its random draws."""
        ...


class GreedyPolicy:
    """The most important situation first, then highest P(accept) × value × lever; with
    probability `epsilon`, a random offer.

    The probability logged is exact: ε/n for each offer, plus 1-ε for the greedy one (ties
    go to the first action id, so they do not need sharing).

    >>> from insession.models.scorer import BaselineScorer
    >>> help_offer = CatalogueOffer("help", "help", "Help", 4.0, 0.3, ("struggle",))
    >>> ten_off = CatalogueOffer("ten-off", "discount", "10% off", 10.0, 0.1, ("hesitation",))
    >>> GreedyPolicy(BaselineScorer(), epsilon=0.2).pick([help_offer, ten_off], {}, key=7)
    Picked(index=0, probability=0.9, score=1.2, version=None)
    """

    name = "greedy"

    def __init__(self, scorer: Scorer, epsilon: float = 0.0) -> None:
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        self.scorer = scorer
        self.epsilon = epsilon

    @property
    def version(self) -> str:
        return self.scorer.version

    @property
    def learner(self) -> Learner | None:
        scorer: Any = self.scorer
        return scorer if hasattr(scorer, "learn") else None

    def pick(
        self,
        offers: Sequence[CatalogueOffer],
        features: Features,
        key: int,
        ranks: Sequence[int] | None = None,
    ) -> Picked:
        propensities = self.scorer.predict(features, offers)
        values = [p * o.value * o.lever for p, o in zip(propensities, offers, strict=True)]
        order = ranks or [0] * len(offers)
        best = min(range(len(offers)), key=lambda i: (order[i], -values[i], offers[i].action_id))
        n = len(offers)
        chosen = best
        if self.epsilon > 0.0:
            explore, pick = keyed_uniforms(key, 2).tolist()
            if explore < self.epsilon:
                chosen = int(pick * n)
        probability = self.epsilon / n + ((1.0 - self.epsilon) if chosen == best else 0.0)
        return Picked(chosen, probability, values[chosen])


class BanditPolicy:
    """A contextual bandit over the candidates' action ids; it learns from their rewards.

    >>> bandit = LinearThompson(priors={"help": 0.3, "ten-off": 0.1})
    >>> help_offer = CatalogueOffer("help", "help", "Help", 4.0, 0.3, ("struggle",))
    >>> ten_off = CatalogueOffer("ten-off", "discount", "10% off", 10.0, 0.1, ("hesitation",))
    >>> for _ in range(50):
    ...     bandit.learn("ten-off", {"channel": "app"}, 1.0)
    >>> BanditPolicy(bandit).pick([help_offer, ten_off], {"channel": "app"}, key=7)
    Picked(index=1, probability=0.984375, score=0.993196906476342, version=None)
    """

    def __init__(self, bandit: LinearThompson | EpsilonGreedy) -> None:
        self.bandit = bandit
        self.name = bandit.name

    @property
    def version(self) -> str:
        return self.bandit.version

    @property
    def learner(self) -> Learner | None:
        return self.bandit

    def pick(
        self,
        offers: Sequence[CatalogueOffer],
        features: Features,
        key: int,
        ranks: Sequence[int] | None = None,
    ) -> Picked:
        arms = [offer.action_id for offer in offers]
        choice = self.bandit.pull(arms, features, key)
        index = arms.index(choice.arm)
        score = self.bandit.predict([choice.arm], features)[0]
        return Picked(index, choice.probability, score)


POLICIES = ("baseline", "thompson", "epsilon-greedy", "river")
ENGINE_PRIOR_VARIANCE = 0.01
ENGINE_NOISE_VARIANCE = 0.1
"""The engine's bandits expect rare rewards: a Bernoulli reward at an acceptance rate near 10%
has variance ≈ 0.09, and weights of a few hundredths move it a lot. With the generic defaults
(0.05 / 0.25) the simulated shop's Thompson policy explored for weeks (docs/learning.md)."""


def build_policy(
    kind: str,
    offers: Sequence[CatalogueOffer],
    *,
    exploration: float = 0.3,
    epsilon: float = 0.1,
    seed: int = 0,
) -> Policy:
    """The policy named by the settings, with cold-start priors at each offer's base rate."""
    from insession.models.scorer import BaselineScorer

    priors = {offer.action_id: offer.base_rate for offer in offers}
    model = {
        "prior_variance": ENGINE_PRIOR_VARIANCE,
        "noise_variance": ENGINE_NOISE_VARIANCE,
        "priors": priors,
        "seed": seed,
    }
    if kind == "baseline":
        return GreedyPolicy(BaselineScorer())
    if kind == "thompson":
        return BanditPolicy(LinearThompson(exploration=exploration, **model))
    if kind == "epsilon-greedy":
        return BanditPolicy(EpsilonGreedy(epsilon=epsilon, **model))
    if kind == "river":
        from insession.models.propensity import RiverPropensity

        return GreedyPolicy(RiverPropensity(priors=priors), epsilon=epsilon)
    raise ValueError(f"unknown policy {kind!r}: choose one of {', '.join(POLICIES)}")
