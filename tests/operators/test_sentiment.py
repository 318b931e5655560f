"""Text sentiment agrees with human raters on real tweets, as VADER's authors published."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
from insession.operators.sentiment import score_text, with_score
from insession.schemas.events import SocialPost


@pytest.mark.data
def test_scores_correlate_with_the_human_mean_on_4200_rated_tweets(shared_data: Path) -> None:
    path = shared_data / "vader-tweets" / "tweets_GroundTruth.txt"
    rows = [line.split("\t") for line in path.read_text(encoding="latin-1").splitlines() if line]
    human = [float(row[1]) for row in rows]
    ours = [score_text(row[2]) for row in rows]
    assert len(rows) == 4200
    # Published: r = 0.872 for vaderSentiment 3.3.2 against the mean of 20 raters.
    assert statistics.correlation(ours, human) == pytest.approx(0.872, abs=0.005)


def test_posts_without_a_score_get_one_from_their_text() -> None:
    post = SocialPost(
        event_id="p",
        event_time=1_764_000_000_000,
        channel="instagram",
        platform="instagram",
        author_handle="@a",
        text="I love this jacket, best purchase ever!",
    )
    scored = with_score(post)
    assert scored.score is not None and scored.score > 0.5
    assert scored.text == post.text and scored.event_id == post.event_id
    assert with_score(scored) is scored
