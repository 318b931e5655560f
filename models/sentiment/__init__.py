"""Sentiment of a post's text: the interface (text in, a score in [-1, 1] out) and the scorers
the `sentiment` setting names, VADER's lexicon and a model learned from labelled tweets."""

from __future__ import annotations

from functools import cache
from typing import Protocol

from insession.models.sentiment.vader import vader_score


class TextScorer(Protocol):
    """Reads a text as a score in [-1, 1]: -1 very negative, 0 neutral, 1 very positive.

    Any function of that shape is one: the flow takes whichever the settings name.
    """

    def __call__(self, text: str, /) -> float: ...


SENTIMENTS = ("vader", "learned")
"""The scorers `text_scorer` knows, by the name the `sentiment` setting gives them."""


@cache
def text_scorer(name: str) -> TextScorer:
    """The scorer called `name`, built once per process (the learned model is read from the
    package at its first use, not at import).

    >>> scorer = text_scorer("vader")
    >>> scorer("I love this jacket, best purchase ever!") > 0.5
    True
    """
    if name == "vader":
        return vader_score
    if name == "learned":
        from insession.models.sentiment.linear import LearnedSentiment

        return LearnedSentiment.packaged()
    raise ValueError(f"unknown sentiment scorer {name!r}; known: {', '.join(SENTIMENTS)}")
