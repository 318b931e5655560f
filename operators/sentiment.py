"""Sentiment of a social post's text, for posts that arrive without a score.

VADER (Hutto & Gilbert, 2014) is a lexicon and rules tuned on social media text, published
with human ratings to check it against; its compound score is already in [-1, 1].
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache

from insession.schemas.events import SocialPost
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def score_text(text: str) -> float:
    """VADER's compound score of `text`: -1 (very negative) to 1 (very positive)."""
    return float(_analyzer().polarity_scores(text)["compound"])


def with_score(post: SocialPost) -> SocialPost:
    """The post with a score: its own if it has one, else the score of its text."""
    if post.score is not None or not post.text:
        return post
    return dataclasses.replace(post, score=round(score_text(post.text), 4))
