"""Sentiment measured on held-out tweets: the learned model beside VADER, by stratified k-fold
cross-validation over TweetEval's validation split (docs/sentiment.md).

Each fold's tweets are scored by a model trained without them: on the other folds and on
VADER's rated tweets. What the model reads (`FEATURE_CHOICES`) and the fold's threshold for
the engine's negative rule are chosen on its training folds only, by inner cross-validation
of their TweetEval part (VADER's tweets always train); VADER's threshold from its scores of
the same training tweets (it learns nothing). Intervals are percentile bootstraps over the
held-out tweets (each scored once), the difference paired.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np

from insession.datasets.tweets import LabelledTweet
from insession.models.off_policy import Estimate
from insession.models.sentiment.labels import LABELS, NEGATIVE, NEUTRAL, POSITIVE
from insession.models.sentiment.learner import FEATURE_CHOICES, TrainingConfig, fit
from insession.models.sentiment.ngrams import TextFeatures
from insession.models.sentiment.vader import vader_score

ENGINE_RULE = -0.3
"""The engine's negative rule: a score at or below it is an unhappy shopper
(`operators.signals.SignalConfig.negative_sentiment`)."""
FIRST_POST_RULE = -0.6
"""What a shopper's first post must score for the rule to fire: the engine blends each post
half and half with the running sentiment, which is 0 before any post
(`operators.session._apply_sentiment`)."""
VADER_BAND = 0.05
"""VADER's authors' classes: compound >= 0.05 positive, <= -0.05 negative, else neutral."""
THRESHOLDS = tuple(round(-0.95 + 0.05 * i, 2) for i in range(20))
"""Where a fold's own negative threshold is looked for: -0.95 to 0.0."""


def stratified_folds(labels: Sequence[str], k: int, seed: int) -> list[int]:
    """A fold number for each item: each class shuffled (seeded) and dealt round the folds.

    >>> stratified_folds(["a", "a", "b", "b", "a", "b"], 2, seed=0)
    [0, 0, 1, 0, 1, 1]
    """
    rng = random.Random(seed)
    fold = [0] * len(labels)
    dealt = 0  # one deal across the classes: fold sizes differ by one at most
    for label in sorted(set(labels)):
        members = [i for i, y in enumerate(labels) if y == label]
        rng.shuffle(members)
        for i in members:
            fold[i] = dealt % k
            dealt += 1
    return fold


def score_class(score: float, band: float = VADER_BAND) -> str:
    """The class a score in [-1, 1] stands for, given the neutral band around 0."""
    if score <= -band:
        return NEGATIVE
    return POSITIVE if score >= band else NEUTRAL


def macro_recall(truth: Sequence[str], predicted: Sequence[str]) -> float:
    """The mean over negative, neutral and positive of the share of each class found.

    >>> macro_recall(["negative", "neutral", "positive", "positive"],
    ...              ["negative", "positive", "positive", "neutral"])
    0.5
    """
    recalls = []
    for label in LABELS:
        members = [p for t, p in zip(truth, predicted, strict=True) if t == label]
        recalls.append(sum(p == label for p in members) / len(members) if members else 0.0)
    return sum(recalls) / len(LABELS)


def rule_counts(truth: Sequence[str], scores: Sequence[float], threshold: float) -> tuple:
    """(caught, flagged, negatives) of the rule `score <= threshold` against the negatives."""
    flagged = [s <= threshold for s in scores]
    negative = [t == NEGATIVE for t in truth]
    caught = sum(f and n for f, n in zip(flagged, negative, strict=True))
    return caught, sum(flagged), sum(negative)


def best_threshold(truth: Sequence[str], scores: Sequence[float]) -> float:
    """The threshold in `THRESHOLDS` whose rule has the best F1 on these (training) scores."""

    def f1(threshold: float) -> float:
        caught, flagged, negatives = rule_counts(truth, scores, threshold)
        return 2 * caught / (flagged + negatives) if flagged + negatives else 0.0

    return max(THRESHOLDS, key=lambda t: (f1(t), -abs(t - ENGINE_RULE)))


@dataclass(slots=True)
class HeldOut:
    """Every tweet's held-out scores, and each fold's own negative thresholds."""

    labels: list[str]
    folds: list[int]
    vader: list[float] = field(default_factory=list)
    learned: list[float] = field(default_factory=list)
    learned_class: list[str] = field(default_factory=list)
    learned_threshold: dict[int, float] = field(default_factory=dict)
    vader_threshold: dict[int, float] = field(default_factory=dict)
    chosen: dict[int, str] = field(default_factory=dict)
    """Each fold's features, by their name in the choices."""


def _texts(tweets: Sequence[LabelledTweet]) -> list[tuple[str, str]]:
    return [(t.text, t.label) for t in tweets]


def cross_validate(
    tweets: Sequence[LabelledTweet],
    extra: Sequence[LabelledTweet],
    config: TrainingConfig,
    *,
    folds: int = 5,
    seed: int = 0,
    inner_folds: int = 3,
    choices: dict[str, TextFeatures] | None = None,
) -> HeldOut:
    """Score each of `tweets` by a model trained on the other folds and on `extra`. With
    `inner_folds` (0: none), each fold's features (among `choices`, default
    `FEATURE_CHOICES`; `config.features` without inner folds) and thresholds are chosen by
    cross-validation inside its training folds."""
    labels = [t.label for t in tweets]
    fold_of = stratified_folds(labels, folds, seed)
    held = HeldOut(labels, fold_of)
    held.vader = [vader_score(t.text) for t in tweets]
    held.learned = [0.0] * len(tweets)
    held.learned_class = [NEUTRAL] * len(tweets)
    for k in range(folds):
        train = [t for t, f in zip(tweets, fold_of, strict=True) if f != k]
        fold_config = config
        if inner_folds:
            name, inner = choose_features(
                train, extra, config, choices, folds=inner_folds, seed=seed + 1
            )
            held.chosen[k] = name
            held.learned_threshold[k] = best_threshold(inner.labels, inner.learned)
            held.vader_threshold[k] = best_threshold(inner.labels, inner.vader)
            fold_config = dataclasses.replace(config, features=(choices or FEATURE_CHOICES)[name])
        learner = fit(_texts(train) + _texts(extra), fold_config)
        for i in (i for i, f in enumerate(fold_of) if f == k):
            probabilities = learner.predict_proba_one(tweets[i].text)
            held.learned[i] = probabilities[POSITIVE] - probabilities[NEGATIVE]
            held.learned_class[i] = max(probabilities, key=probabilities.__getitem__)
    return held


def choose_features(
    tweets: Sequence[LabelledTweet],
    extra: Sequence[LabelledTweet],
    config: TrainingConfig,
    choices: dict[str, TextFeatures] | None = None,
    *,
    folds: int = 3,
    seed: int = 1,
    log: TextIO | None = None,
) -> tuple[str, HeldOut]:
    """The choice whose cross-validated macro recall on `tweets` is best (the first of equals),
    with its out-of-fold scores; each choice's figure goes to `log`."""
    best: tuple[float, str, HeldOut] | None = None
    for name, features in (choices or FEATURE_CHOICES).items():
        option = dataclasses.replace(config, features=features)
        inner = cross_validate(tweets, extra, option, folds=folds, seed=seed, inner_folds=0)
        recall = macro_recall(inner.labels, inner.learned_class)
        if log is not None:
            print(f"{name:16} cross-validated macro recall {recall:.3f}", file=log)
        if best is None or recall > best[0]:
            best = (recall, name, inner)
    assert best is not None, "no choices"
    return best[1], best[2]


@dataclass(frozen=True, slots=True)
class Figures:
    """One scorer's held-out figures: macro recall (with its per-fold range and the recall of
    each class) and the negative rule's precision and recall at each threshold reported."""

    name: str
    macro_recall: Estimate
    fold_range: tuple[float, float]
    class_recall: dict[str, float]
    rules: dict[str, tuple[Estimate, Estimate]]
    """'<= -0.3' (or 'own: -0.25, ...') -> (precision, recall)."""


@dataclass(frozen=True, slots=True)
class SentimentReport:
    tweets: int
    folds: int
    learned: Figures
    vader: Figures
    difference: Estimate
    """Learned minus VADER macro recall, paired over the same resampled tweets."""
    chosen: dict[int, str]


def _interval(values: np.ndarray, point: float, n: int) -> Estimate:
    low, high = np.percentile(values, [2.5, 97.5])
    return Estimate(point, float(low), float(high), n)


def _rule_estimates(
    truth: np.ndarray, flagged: np.ndarray, draws: np.ndarray
) -> tuple[Estimate, Estimate]:
    negative = truth == 0
    hits = flagged & negative

    def ratio(top: np.ndarray, bottom: np.ndarray) -> tuple[float, np.ndarray]:
        sums, counts = top[draws].sum(axis=1), bottom[draws].sum(axis=1)
        return top.sum() / max(bottom.sum(), 1), sums / np.maximum(counts, 1)

    precision, precision_draws = ratio(hits, flagged)
    recall, recall_draws = ratio(hits, negative)
    n = len(truth)
    return _interval(precision_draws, precision, n), _interval(recall_draws, recall, n)


def _macro(truth: np.ndarray, predicted: np.ndarray, draws: np.ndarray) -> np.ndarray:
    recalls = []
    for k in range(len(LABELS)):
        members = truth[draws] == k
        found = members & (predicted[draws] == k)
        recalls.append(found.sum(axis=1) / np.maximum(members.sum(axis=1), 1))
    return np.mean(recalls, axis=0)


def _figures(
    name: str,
    held: HeldOut,
    scores: list[float],
    classes: list[str],
    thresholds: dict[int, float],
    draws: np.ndarray,
) -> tuple[Figures, np.ndarray]:
    index = {label: k for k, label in enumerate(LABELS)}
    truth = np.array([index[y] for y in held.labels])
    predicted = np.array([index[c] for c in classes])
    values = np.array(scores)
    per_fold = [
        macro_recall(
            [y for y, f in zip(held.labels, held.folds, strict=True) if f == k],
            [c for c, f in zip(classes, held.folds, strict=True) if f == k],
        )
        for k in sorted(set(held.folds))
    ]
    macro_draws = _macro(truth, predicted, draws)
    rules = {
        f"<= {t}": _rule_estimates(truth, values <= t, draws)
        for t in (ENGINE_RULE, FIRST_POST_RULE)
    }
    if thresholds:
        own = np.array([thresholds[k] for k in held.folds])
        chosen = ", ".join(f"{thresholds[k]:+.2f}" for k in sorted(thresholds))
        rules[f"own ({chosen})"] = _rule_estimates(truth, values <= own, draws)
    figures = Figures(
        name,
        _interval(macro_draws, macro_recall(held.labels, classes), len(truth)),
        (min(per_fold), max(per_fold)),
        {label: float(np.mean(predicted[truth == k] == k)) for label, k in index.items()},
        rules,
    )
    return figures, macro_draws


def report(held: HeldOut, *, bootstrap: int = 2000, seed: int = 0) -> SentimentReport:
    """Figures of both scorers on the held-out scores, with 95% bootstrap intervals."""
    n = len(held.labels)
    draws = np.random.default_rng(seed).integers(0, n, size=(bootstrap, n))
    learned, learned_draws = _figures(
        "learned", held, held.learned, held.learned_class, held.learned_threshold, draws
    )
    vader_classes = [score_class(s) for s in held.vader]
    vader, vader_draws = _figures(
        "vader", held, held.vader, vader_classes, held.vader_threshold, draws
    )
    difference = _interval(
        learned_draws - vader_draws,
        learned.macro_recall.value - vader.macro_recall.value,
        n,
    )
    return SentimentReport(n, len(set(held.folds)), learned, vader, difference, held.chosen)


def _cell(e: Estimate) -> str:
    return f"{e.value:.3f} [{e.low:.3f}, {e.high:.3f}]"


def print_report(result: SentimentReport, out: TextIO, data: str = "tweeteval-val") -> None:
    """The figures docs/sentiment.md quotes, as a table."""
    print(
        f"{data}: {result.tweets} tweets, {result.folds}-fold stratified cross-validation "
        "(held-out folds only); 95% bootstrap intervals",
        file=out,
    )
    print(f"{'scorer':8} {'macro recall':24} {'folds':13} neg / neu / pos recall", file=out)
    for f in (result.learned, result.vader):
        low, high = f.fold_range
        classes = " / ".join(f"{f.class_recall[label]:.3f}" for label in LABELS)
        print(f"{f.name:8} {_cell(f.macro_recall):24} {low:.3f}-{high:.3f}   {classes}", file=out)
    print(f"learned - vader: {_cell(result.difference)}", file=out)
    if result.chosen:
        chosen = ", ".join(result.chosen[k] for k in sorted(result.chosen))
        print(f"features chosen inside each fold's training part: {chosen}", file=out)
    print("negative rule (score <= threshold) against negative tweets:", file=out)
    for f in (result.learned, result.vader):
        for rule, (precision, recall) in f.rules.items():
            print(
                f"  {f.name:8} {rule:34} precision {_cell(precision)}  recall {_cell(recall)}",
                file=out,
            )
