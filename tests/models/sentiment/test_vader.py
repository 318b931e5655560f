"""VADER agrees with human raters on real tweets, as its authors published."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
from insession.models.sentiment.vader import vader_score


@pytest.mark.data
def test_scores_correlate_with_the_human_mean_on_4200_rated_tweets(shared_data: Path) -> None:
    path = shared_data / "vader-tweets" / "tweets_GroundTruth.txt"
    rows = [line.split("\t") for line in path.read_text(encoding="latin-1").splitlines() if line]
    human = [float(row[1]) for row in rows]
    ours = [vader_score(row[2]) for row in rows]
    assert len(rows) == 4200
    # Published: r = 0.872 for vaderSentiment 3.3.2 against the mean of 20 raters.
    assert statistics.correlation(ours, human) == pytest.approx(0.872, abs=0.005)
