"""A social post's score, for posts that arrive without one: read from its text by the
scorer the settings chose (`models.sentiment`)."""

from __future__ import annotations

import dataclasses

from insession.models.sentiment import TextScorer
from insession.schemas.events import SocialPost


def with_score(post: SocialPost, score_text: TextScorer) -> SocialPost:
    """The post with a score: its own if it has one, else `score_text` of its text.

    >>> post = SocialPost(event_id="p", event_time=1, channel="other", platform="x", text="meh")
    >>> with_score(post, lambda text: -0.25).score
    -0.25
    """
    if post.score is not None or not post.text:
        return post
    score = max(-1.0, min(1.0, score_text(post.text)))
    return dataclasses.replace(post, score=round(score, 4))
