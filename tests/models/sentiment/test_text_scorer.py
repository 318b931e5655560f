"""The sentiment interface: every scorer the setting can name reads a text as a score in
[-1, 1], is built once per process, and a name it does not know is refused."""

from __future__ import annotations

import pytest
from insession.models.sentiment import SENTIMENTS, TextScorer, text_scorer

from insession.settings import Settings

TEXTS = (
    "I love this jacket, best purchase ever!",
    "Charged twice and still no refund. Terrible service, so angry.",
    "The parcel came on Tuesday.",
    "",
    "!!!!!!!!",
    "😡😡😡 " * 50,
    "Ma commande n'est toujours pas arrivée.",
    "注文した商品がまだ届きません",
    "a" * 5000,
)


@pytest.mark.parametrize("name", SENTIMENTS)
def test_every_scorer_reads_any_text_as_a_score_in_range(name: str) -> None:
    scorer: TextScorer = text_scorer(name)
    for text in TEXTS:
        score = scorer(text)
        assert isinstance(score, float) and -1.0 <= score <= 1.0, (text, score)
    assert scorer(TEXTS[0]) > 0.3 and scorer(TEXTS[1]) < -0.3


@pytest.mark.parametrize("name", SENTIMENTS)
def test_a_scorer_is_built_once_per_process(name: str) -> None:
    assert text_scorer(name) is text_scorer(name)


def test_an_unknown_scorer_is_refused_and_the_setting_knows_the_same_names() -> None:
    with pytest.raises(ValueError, match="unknown sentiment scorer 'bert'"):
        text_scorer("bert")
    for name in SENTIMENTS:
        assert Settings.from_mapping({"sentiment": name}).sentiment == name
