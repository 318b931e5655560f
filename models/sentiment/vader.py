"""VADER (Hutto & Gilbert, 2014): a lexicon and rules tuned on social media text, published
with human ratings to check it against; its compound score is already in [-1, 1]."""

from __future__ import annotations

from functools import cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer


@cache
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()  # reads its lexicon files: once per process


def vader_polarity(text: str) -> dict[str, float]:
    """VADER's four scores of `text`: the shares `neg`, `neu`, `pos` and the `compound`.

    >>> vader_polarity("great")
    {'neg': 0.0, 'neu': 0.0, 'pos': 1.0, 'compound': 0.6249}
    """
    return _analyzer().polarity_scores(text)


def vader_lexicon() -> dict[str, float]:
    """VADER's 7,500 words, emoticons and slang, each with its raters' mean valence (-4..4).

    >>> vader_lexicon()["worst"], vader_lexicon()[":)"]
    (-3.1, 2.0)
    """
    return _analyzer().lexicon


def vader_score(text: str) -> float:
    """VADER's compound score of `text`: -1 (very negative) to 1 (very positive).

    >>> vader_score("my order still has not arrived. worst delivery ever")
    0.5096
    """
    return float(vader_polarity(text)["compound"])
