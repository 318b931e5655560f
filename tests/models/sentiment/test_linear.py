"""The learned model as shipped: it loads from the package, reads the motivating complaint as
negative, and survives its own file format."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
from insession.models.sentiment.labels import LABELS
from insession.models.sentiment.linear import PACKAGED, LearnedSentiment

DELIVERY_COMPLAINT = "my order still has not arrived. worst delivery ever"


def test_the_model_is_a_file_in_the_package() -> None:
    assert (resources.files("insession.models.sentiment") / PACKAGED).is_file()
    model = LearnedSentiment.packaged()
    assert model is LearnedSentiment.packaged()
    assert len(model.weights) > 10_000 and "tweeteval-val" in model.trained_on


def test_the_delivery_complaint_vader_reads_as_praise_is_negative() -> None:
    model = LearnedSentiment.packaged()
    assert model(DELIVERY_COMPLAINT) <= -0.3
    assert model.predict_one(DELIVERY_COMPLAINT) == "negative"
    assert model("My order arrived a day early, best delivery ever") >= 0.3


def test_probabilities_cover_the_three_classes_and_the_score_is_their_difference() -> None:
    model = LearnedSentiment.packaged()
    probabilities = model.predict_proba_one("the zip broke after two days")
    assert tuple(probabilities) == LABELS
    assert sum(probabilities.values()) == pytest.approx(1.0)
    assert model("the zip broke after two days") == pytest.approx(
        probabilities["positive"] - probabilities["negative"]
    )


@pytest.mark.parametrize("name", ["model.json", "model.json.gz"])
def test_saved_and_loaded_it_scores_the_same(tmp_path: Path, name: str) -> None:
    model = LearnedSentiment.packaged()
    model.save(tmp_path / name)
    again = LearnedSentiment.load(tmp_path / name)
    assert again.features == model.features and again.intercepts == model.intercepts
    assert again(DELIVERY_COMPLAINT) == model(DELIVERY_COMPLAINT)


def test_a_file_of_another_format_is_refused() -> None:
    document = LearnedSentiment.packaged().to_dict()
    with pytest.raises(ValueError, match=r"not a insession\.sentiment\.linear/1 model"):
        LearnedSentiment.from_dict({**document, "format": "river-pickle"})
