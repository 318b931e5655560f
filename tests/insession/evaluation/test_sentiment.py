"""Sentiment on held-out tweets: the protocol's pieces on small lists, and the learned model
beating VADER's macro recall on TweetEval folds it was not trained on."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pytest
from insession.models.sentiment.learner import TrainingConfig
from insession.models.sentiment.linear import LearnedSentiment

from insession.datasets.tweets import labelled_tweets
from insession.evaluation.sentiment import (
    best_threshold,
    cross_validate,
    report,
    rule_counts,
    score_class,
    stratified_folds,
)


def test_folds_keep_each_class_share_and_sizes_within_one() -> None:
    labels = ["negative"] * 30 + ["neutral"] * 50 + ["positive"] * 41
    folds = stratified_folds(labels, 5, seed=3)
    sizes = Counter(folds)
    assert max(sizes.values()) - min(sizes.values()) <= 1
    for k in range(5):
        negatives = sum(f == k and y == "negative" for f, y in zip(folds, labels, strict=True))
        assert negatives == 6
    assert stratified_folds(labels, 5, seed=3) == folds != stratified_folds(labels, 5, seed=4)


def test_the_rule_and_the_classes_of_a_score() -> None:
    truth = ["negative", "negative", "neutral", "positive"]
    scores = [-0.8, -0.2, -0.4, 0.9]
    assert rule_counts(truth, scores, -0.3) == (1, 2, 2)  # caught, flagged, negatives
    assert best_threshold(truth, scores) == -0.2  # both negatives, one neutral: F1 0.8
    assert [score_class(s) for s in (-0.05, 0.0, 0.05)] == ["negative", "neutral", "positive"]


@pytest.mark.data
def test_the_learned_model_beats_vader_on_held_out_tweets(shared_data: Path) -> None:
    """The shipped model's features, 3 folds, 3 passes and 1,500 of VADER's tweets
    (docs/sentiment.md: 5 folds, 10 passes, all of them, features chosen inside each fold):
    seconds, and the same verdict."""
    tweets = labelled_tweets(shared_data)
    features = LearnedSentiment.packaged().features
    config = dataclasses.replace(TrainingConfig(), features=features, epochs=3)
    held = cross_validate(
        tweets["tweeteval-val"], tweets["vader-tweets"][:1500], config, folds=3, inner_folds=0
    )
    result = report(held, bootstrap=500)
    assert result.vader.macro_recall.value == pytest.approx(
        0.598, abs=0.001
    )  # no folds: none learns
    # 0.613 against 0.598 here (seeded: the same each run); 0.624 against 0.598 in full.
    assert result.learned.macro_recall.value > result.vader.macro_recall.value + 0.01
    _, learned_recall = result.learned.rules["<= -0.3"]
    _, vader_recall = result.vader.rules["<= -0.3"]
    assert learned_recall.value > vader_recall.value
