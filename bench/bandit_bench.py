"""Microseconds per decision and per update of our bandits, beside River's `LinUCBDisjoint`.

Run: `.venv/bin/python bench/bandit_bench.py`. Each policy decides among 10, 50 and 200
candidate offers with 30 context features (25 numeric, 5 categorical), after a warm-up that
updates every arm; timings are the best of 3 repeats. River's policy gets the same context
with categoricals one-hot as "name=value" (it accepts numbers only). A second table times our
River propensity scorer (`models.propensity`): P(accept) for every candidate, and one learn.
"""

from __future__ import annotations

import random
import timeit
from collections.abc import Callable

from insession.models.bandit import EpsilonGreedy, LinearThompson
from insession.models.propensity import RiverPropensity
from insession.schemas.features import Features
from river import bandit

CANDIDATES = (10, 50, 200)
CATEGORIES = {
    "channel": ("web", "app", "store"),
    "trigger": ("product_view", "search", "add_to_cart", "help_page"),
    "top_category": ("shoes", "apparel", "home", "beauty", "toys"),
    "device": ("mobile", "desktop"),
    "country": ("fr", "de", "it", "es"),
}


def contexts(count: int, seed: int = 7) -> list[Features]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        features: Features = {f"num_{i}": rng.random() * 10 for i in range(25)}
        features.update({name: rng.choice(values) for name, values in CATEGORIES.items()})
        out.append(features)
    return out


def one_hot(features: Features) -> dict[str, float]:
    return {
        (f"{name}={value}" if isinstance(value, str) else name): (
            1.0 if isinstance(value, str) else value
        )
        for name, value in features.items()
    }


def best_us(action: Callable[[], object], number: int) -> float:
    return min(timeit.repeat(action, number=number, repeat=3)) / number * 1e6


def bench_ours(policy: LinearThompson | EpsilonGreedy, arms: list[str], ctxs: list[Features]):
    for i, arm in enumerate(arms * 3):  # warm-up: every arm learns something
        policy.update(arm, ctxs[i % len(ctxs)], float(i % 5 == 0))
    cycle = iter(ctxs * 10_000)
    number = max(200, 40_000 // len(arms))
    pull = best_us(lambda: policy.pull(arms, next(cycle)), number)
    update = best_us(lambda: policy.update(arms[0], next(cycle), 1.0), number)
    return pull, update


def bench_river(arms: list[str], ctxs: list[Features]) -> tuple[float, float]:
    policy = bandit.LinUCBDisjoint(seed=1)
    dense = [one_hot(c) for c in ctxs]
    for i, arm in enumerate(arms * 3):
        policy.update(arm, dense[i % len(dense)], float(i % 5 == 0))
    cycle = iter(dense * 10_000)
    number = max(20, 2_000 // len(arms))
    pull = best_us(lambda: policy.pull(arms, context=next(cycle)), number)
    update = best_us(lambda: policy.update(arms[0], next(cycle), 1.0), number * 10)
    return pull, update


def bench_propensity(arms: list[str], ctxs: list[Features]) -> tuple[float, float]:
    """Our scorer of one River logistic regression per offer: predict all arms, learn one."""
    model = RiverPropensity(priors={arm: 0.1 for arm in arms})
    for i, arm in enumerate(arms * 3):  # warm-up: every arm has a model with some weights
        model.learn(arm, ctxs[i % len(ctxs)], float(i % 5 == 0))
    cycle = iter(ctxs * 10_000)
    number = max(100, 20_000 // len(arms))
    predict = best_us(lambda: model.predict_arms(arms, next(cycle)), number)
    learn = best_us(lambda: model.learn(arms[0], next(cycle), 1.0), 5_000)
    return predict, learn


def main_propensity(ctxs: list[Features]) -> None:
    """A separate table: a scorer predicts P(accept) for every arm rather than pulling one."""
    print()
    print("River propensity scorer (models/propensity.py): one LogisticRegression per offer")
    print(f"{'scorer':<34}{'arms':>6}{'predict µs':>12}{'learn µs':>12}{'per arm µs':>12}")
    for n in CANDIDATES:
        arms = [f"offer_{i}" for i in range(n)]
        predict, learn = bench_propensity(arms, ctxs)
        name = "RiverPropensity (AdaGrad, L2)"
        print(f"{name:<34}{n:>6}{predict:>12.1f}{learn:>12.1f}{predict / n:>12.2f}")


def main() -> None:
    ctxs = contexts(500)
    print(f"features per context: {len(ctxs[0])} (25 numeric, 5 categorical); best of 3")
    print(f"{'policy':<34}{'arms':>6}{'pull µs':>12}{'update µs':>12}")
    for n in CANDIDATES:
        arms = [f"offer_{i}" for i in range(n)]
        rows = [
            ("LinearThompson (K=64 probability)", bench_ours(LinearThompson(seed=1), arms, ctxs)),
            ("EpsilonGreedy (eps=0.1)", bench_ours(EpsilonGreedy(seed=1), arms, ctxs)),
            ("river LinUCBDisjoint (no prob.)", bench_river(arms, ctxs)),
        ]
        for name, (pull, update) in rows:
            print(f"{name:<34}{n:>6}{pull:>12.1f}{update:>12.1f}")
    main_propensity(ctxs)


if __name__ == "__main__":
    main()
