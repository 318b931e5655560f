"""Our own contextual bandits, trained on the start of OBD's random log and scored on the rest.

The BTS check in `insession.obd` asks whether someone else's policy beat random. This asks the
question that matters before going live: would *our* policy (`models.bandit`), learned from a
few days of uniformly explored traffic, have earned more clicks than random and than BTS on
the days that followed? The random log answers it off-policy for any frozen target policy.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

import numpy as np

from insession.evaluation.obd import (
    ObdLog,
    campaign_dir,
    click_model,
    format_percent,
    format_times,
    load_log,
    mean_estimate,
    policy_from_log,
)
from insession.models.bandit import EpsilonGreedy, LinearThompson
from insession.models.off_policy import (
    Estimate,
    LoggedRounds,
    doubly_robust,
    ips,
    ratio_of_means,
    snips,
)
from insession.schemas.features import Features

LEARNERS = ("thompson", "epsilon-greedy")
LEARNER_LABELS = {"thompson": "linear Thompson", "epsilon-greedy": "ε-greedy 0.1"}
USER_COLUMNS = ("user_feature_0", "user_feature_1", "user_feature_2", "user_feature_3")
AFFINITY_PREFIX = "user-item_affinity_"

Learner = LinearThompson | EpsilonGreedy
Row = tuple[str, Callable[["LearnedEvaluation"], str]]


@dataclass(frozen=True, slots=True)
class ObdContext:
    """What a round knew about its user, row for row aligned with `load_log` of the same file.

    `user` holds OBD's hashed categorical user features (one column per name in `columns`);
    `affinity[r, i]` is the user's past engagement with item i, zero for almost every pair.
    `timestamp` is seconds since the epoch (UTC).
    """

    timestamp: np.ndarray
    user: np.ndarray
    columns: tuple[str, ...]
    affinity: np.ndarray


def load_context(data_dir: Path, policy: str, campaign: str) -> ObdContext:
    """Read the time, user and user-item affinity columns of `<campaign>.csv.gz`."""
    path = campaign_dir(data_dir, policy, campaign) / f"{campaign}.csv.gz"
    with gzip.open(path, "rt", newline="") as lines:
        reader = csv.reader(lines)
        header = next(reader)
        missing = [c for c in ("timestamp", *USER_COLUMNS) if c not in header]
        if missing:
            raise ValueError(f"{path}: no column {', '.join(missing)} in the header")
        stamp = header.index("timestamp")
        users = [header.index(c) for c in USER_COLUMNS]
        affinities = [i for i, name in enumerate(header) if name.startswith(AFFINITY_PREFIX)]
        times, user_rows, affinity_rows = [], [], []
        for line, row in enumerate(reader, start=2):
            try:
                times.append(datetime.fromisoformat(row[stamp]).timestamp())
            except ValueError as bad:
                raise ValueError(f"{path}, line {line}: bad timestamp: {bad}") from None
            user_rows.append([row[c] for c in users])
            affinity_rows.append([float(row[c]) for c in affinities])
    return ObdContext(
        timestamp=np.array(times),
        user=np.array(user_rows, dtype=object).reshape(-1, len(USER_COLUMNS)),
        columns=USER_COLUMNS,
        affinity=np.array(affinity_rows).reshape(len(times), len(affinities)),
    )


def round_features(context: ObdContext, row: int, position: int) -> Features:
    """The bandit's context for one slot of one round: user categories, slot, known affinities.

    The user features are hashed categories, so they stay strings (one-hot in the hasher); the
    slot is a category too, because each slot gets its own choice, as `policy_from_log` gives
    BTS one distribution per slot. Only non-zero affinities are kept (one feature per item),
    so a per-item model can learn that a user's past interest in that item matters.

    >>> ctx = ObdContext(np.zeros(1), np.array([["a1", "b2"]], dtype=object), ("u0", "u1"),
    ...                  np.array([[0.0, 3.0]]))
    >>> round_features(ctx, 0, 2)
    {'u0': 'a1', 'u1': 'b2', 'slot': '3', 'affinity_1': 3.0}
    """
    features: Features = dict(zip(context.columns, map(str, context.user[row]), strict=True))
    features["slot"] = str(position + 1)
    for item in np.flatnonzero(context.affinity[row]):
        features[f"affinity_{item}"] = float(context.affinity[row, item])
    return features


def time_split(timestamp: np.ndarray, train_share: float) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the earliest `train_share` of rounds and of the rest, each in time order.

    Rounds logged at the same instant (slots of one page view) stay on one side, so the
    training part ends strictly before the held-out part begins.

    >>> train, test = time_split(np.array([3.0, 1.0, 2.0, 2.0, 5.0]), 0.4)
    >>> train.tolist(), test.tolist()
    ([1, 2, 3], [0, 4])
    """
    n = len(timestamp)
    if not 0.0 < train_share < 1.0:
        raise ValueError(f"train share must lie strictly between 0 and 1, got {train_share}")
    order = np.argsort(timestamp, kind="stable")
    cut = round(train_share * n)
    while 0 < cut < n and timestamp[order[cut]] == timestamp[order[cut - 1]]:
        cut += 1
    if cut in (0, n):
        raise ValueError(f"train share {train_share} of {n} rounds leaves one part empty")
    return order[:cut], order[cut:]


def make_learner(name: str, base_rate: float, *, seed: int = 0) -> Learner:
    """A fresh policy whose prior and noise are scaled to the click rate it will learn from.

    Clicks are rare (~0.4%), and with the bandit's defaults (noise variance 0.25, the bound for
    any reward in [0, 1]) a week of rounds would barely move the posterior. So the noise
    variance is a click's Bernoulli variance p(1-p) at the training base rate p, every weight's
    prior variance is p² (an arm's prior CTR spans a few times p over the ~6 active features),
    and a new arm starts at p. 64 hashed slots keep the ~30 user/slot categories apart.
    """
    if not 0.0 < base_rate < 1.0:
        raise ValueError(f"base rate must lie strictly between 0 and 1, got {base_rate}")
    shape = {
        "dim": 64,
        "prior_variance": base_rate**2,
        "noise_variance": base_rate * (1.0 - base_rate),
        "default_prior": base_rate,
        "seed": seed,
    }
    if name == "thompson":
        return LinearThompson(draws=256, **shape)
    if name == "epsilon-greedy":
        return EpsilonGreedy(epsilon=0.1, **shape)
    raise ValueError(f"unknown learner {name!r}: one of {', '.join(LEARNERS)}")


def train_policy(
    learner: Learner, log: ObdLog, features: Sequence[Features], rows: np.ndarray
) -> None:
    """Learn from the logged item, context and click of each of `rows`, in the given order."""
    for row in rows:
        learner.update(str(log.item[row]), features[row], float(log.click[row]))


def target_matrix(
    learner: Learner, features: Sequence[Features], rows: np.ndarray, n_items: int
) -> np.ndarray:
    """π(item | round) of the (no longer learning) policy, shape (len(rows), n_items)."""
    arms = [str(item) for item in range(n_items)]
    return np.array([list(learner.probabilities(arms, features[row]).values()) for row in rows])


@dataclass(frozen=True, slots=True)
class PolicyScore:
    """One target policy's CTR on the held-out rounds and its ratios to random and to BTS."""

    name: str
    ips: Estimate
    snips: Estimate
    dr: Estimate
    vs_random: Estimate
    vs_bts: Estimate | None
    max_weight: float
    effective_rounds: float


def score_policy(
    name: str,
    log: ObdLog,
    target: np.ndarray,
    q_hat: np.ndarray,
    *,
    bts_target: np.ndarray | None = None,
    bootstrap: int = 0,
    seed: int = 0,
) -> PolicyScore:
    """IPS, SNIPS and DR of `target` (one row of π per round of `log`) on `log`'s rounds.

    `effective_rounds` is Kish's (Σw)²/Σw²: how many on-policy rounds the estimate is worth.
    A policy that puts most of its mass on one of 80 items is worth ~1/65 of the rounds, so a
    few held-out clicks (or none) decide its estimate, and the normal interval, built from the
    spread of those few terms, can be far too narrow (zero width when none of them clicked).

    `q_hat` is a per-(item, slot) click model fitted on other rounds than `log`'s. The ratio to
    random divides IPS by the logged click rate, the ratio to BTS divides it by BTS's IPS, both
    over the same rounds, so the shared noise of the rounds partly cancels.
    """
    if target.shape != (len(log), log.n_items):
        raise ValueError(f"target has shape {target.shape}, need {(len(log), log.n_items)}")
    options = {"bootstrap": bootstrap, "seed": seed}
    rounds = np.arange(len(log))
    logged = LoggedRounds(
        action=log.item,
        reward=log.click,
        propensity=log.propensity,
        target=target[rounds, log.item],
    )
    predicted = q_hat[log.item, log.position]
    expected = (target * q_hat[:, log.position].T).sum(axis=1)
    weight = logged.weight
    gain = weight * logged.reward
    vs_bts = None
    if bts_target is not None:
        bts_gain = bts_target[rounds, log.item] / log.propensity * log.click
        vs_bts = ratio_of_means(gain, bts_gain, **options)
    return PolicyScore(
        name=name,
        ips=ips(logged, **options),
        snips=snips(logged, **options),
        dr=doubly_robust(logged, predicted, expected, **options),
        vs_random=ratio_of_means(gain, log.click, **options),
        vs_bts=vs_bts,
        max_weight=float(weight.max()),
        effective_rounds=float(weight.sum() ** 2 / (weight**2).sum()),
    )


@dataclass(frozen=True, slots=True)
class LearnedEvaluation:
    """Our policies and BTS, scored on the held-out end of one campaign's random log."""

    campaign: str
    train_share: float
    train_rounds: int
    train_clicks: int
    test_rounds: int
    test_clicks: int
    random_on_policy: Estimate
    bts_on_policy: Estimate
    policies: tuple[PolicyScore, ...]


def evaluate_learned(
    data_dir: Path,
    campaign: str,
    *,
    train_share: float = 0.6,
    smoothing: float = 20.0,
    seed: int = 0,
    bootstrap: int = 0,
) -> LearnedEvaluation:
    """Train each of `LEARNERS` on the early random rounds, freeze it, score it on the rest.

    BTS is scored on the same held-out rounds with π_BTS counted from the BTS log's own rounds
    in the held-out time window (its posterior moved during the week), next to the CTR those
    BTS rounds earned. DR's click model is fitted on the training rounds only.
    """
    log = load_log(data_dir, "random", campaign)
    context = load_context(data_dir, "random", campaign)
    if len(context.timestamp) != len(log):
        raise ValueError(f"{campaign}: {len(log)} rounds but {len(context.timestamp)} contexts")
    train, test = time_split(context.timestamp, train_share)
    held_out = log.take(test)
    base_rate = float(log.click[train].mean())
    if base_rate == 0.0 or held_out.click.sum() == 0:
        raise ValueError(
            f"{campaign}: train share {train_share} leaves a part without clicks "
            f"({int(log.click[train].sum())} train, {int(held_out.click.sum())} held out)"
        )
    features = [round_features(context, r, p) for r, p in enumerate(log.position.tolist())]
    q_hat = click_model(log, train, smoothing)

    bts_log = load_log(data_dir, "bts", campaign)
    bts_time = load_context(data_dir, "bts", campaign).timestamp
    bts_window = bts_log.take(np.flatnonzero(bts_time >= context.timestamp[test[0]]))
    bts_target = policy_from_log(bts_window, "frequency")[:, held_out.position].T

    options = {"bootstrap": bootstrap, "seed": seed}
    scores = []
    for name in LEARNERS:
        learner = make_learner(name, base_rate, seed=seed)
        train_policy(learner, log, features, train)
        target = target_matrix(learner, features, test, log.n_items)
        scores.append(
            score_policy(
                LEARNER_LABELS[name], held_out, target, q_hat, bts_target=bts_target, **options
            )
        )
    scores.append(score_policy("BTS", held_out, bts_target, q_hat, **options))
    return LearnedEvaluation(
        campaign=campaign,
        train_share=train_share,
        train_rounds=len(train),
        train_clicks=int(log.click[train].sum()),
        test_rounds=len(test),
        test_clicks=int(held_out.click.sum()),
        random_on_policy=mean_estimate(held_out.click),
        bts_on_policy=mean_estimate(bts_window.click),
        policies=tuple(scores),
    )


def _policy_rows(index: int, name: str) -> list[Row]:
    def score(r: LearnedEvaluation) -> PolicyScore:
        return r.policies[index]

    rows: list[Row] = [
        (f"{name}: CTR, IPS", lambda r: format_percent(score(r).ips)),
        (f"{name}: CTR, SNIPS", lambda r: format_percent(score(r).snips)),
        (
            f"{name}: CTR, DR (click model of training rounds)",
            lambda r: format_percent(score(r).dr),
        ),
        (f"{name}: ÷ random, IPS ÷ random CTR", lambda r: format_times(score(r).vs_random)),
    ]
    if name != "BTS":
        rows.append((f"{name}: ÷ BTS, IPS ÷ BTS IPS", lambda r: format_times(score(r).vs_bts)))
    rows += [
        (f"{name}: largest weight", lambda r: f"{score(r).max_weight:.1f}"),
        (f"{name}: effective rounds (Σw)²/Σw²", lambda r: f"{score(r).effective_rounds:,.0f}"),
    ]
    return rows


def print_learned(results: list[LearnedEvaluation], out: TextIO) -> None:
    """A titled Markdown table: each policy's held-out CTR estimates and ratios, 95% intervals."""
    first = results[0]
    print(
        f"\n## Learned policies: trained on the first {first.train_share:.0%} of each random "
        f"log (time order), frozen, scored on the last {1 - first.train_share:.0%}\n",
        file=out,
    )
    rows: list[Row] = [
        (
            "rounds (clicks): training / held out",
            lambda r: (
                f"{r.train_rounds:,} ({r.train_clicks}) / {r.test_rounds:,} ({r.test_clicks})"
            ),
        ),
    ]
    for index, policy in enumerate(first.policies):
        rows.extend(_policy_rows(index, policy.name))
    rows += [
        (
            "BTS CTR, on-policy (bts log, held-out window)",
            lambda r: format_percent(r.bts_on_policy),
        ),
        ("random CTR, on-policy (held-out rounds)", lambda r: format_percent(r.random_on_policy)),
    ]
    print("| quantity | " + " | ".join(r.campaign for r in results) + " |", file=out)
    print("|---" * (len(results) + 1) + "|", file=out)
    for label, cell in rows:
        print(f"| {label} | " + " | ".join(cell(r) for r in results) + " |", file=out)
