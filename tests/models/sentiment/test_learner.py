"""Training with River: the exported weights score as the learner does, and the same data
and seed train the same model."""

from __future__ import annotations

from pathlib import Path

import pytest
from insession.models.sentiment.learner import TrainingConfig, fit

from insession.datasets.tweets import read_tweeteval


@pytest.fixture(scope="module")
def tweets(shared_data: Path) -> list[tuple[str, str]]:
    return [(t.text, t.label) for t in read_tweeteval(shared_data / "tweeteval-val")[:600]]


@pytest.mark.data
def test_the_exported_model_scores_as_the_learner(tweets: list[tuple[str, str]]) -> None:
    learner = fit(tweets[:500], TrainingConfig(epochs=2))
    model = learner.export("test")
    for text, _ in tweets[500:]:
        assert model(text) == pytest.approx(learner.score(text), abs=1e-9)
        assert model.predict_one(text) == learner.predict_one(text)
    # The file rounds weights to 4 decimals: scores move by far less than a rule could see.
    rounded = type(model).from_dict(model.to_dict())
    assert max(abs(rounded(t) - model(t)) for t, _ in tweets[500:]) < 1e-3


@pytest.mark.data
def test_the_same_data_and_seed_train_the_same_weights(tweets: list[tuple[str, str]]) -> None:
    config = TrainingConfig(epochs=1)
    assert (
        fit(tweets[:200], config).export().to_dict() == fit(tweets[:200], config).export().to_dict()
    )
