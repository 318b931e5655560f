"""The labelled tweets: TweetEval's validation split and VADER's rated tweets, read in full
with the labels the data owners and the documented valence band give them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from insession.datasets.tweets import labelled_tweets


@pytest.mark.data
def test_both_sets_read_in_full_with_their_classes(shared_data: Path) -> None:
    tweets = labelled_tweets(shared_data)
    counts = {name: Counter(t.label for t in rows) for name, rows in tweets.items()}
    assert counts["tweeteval-val"] == {"negative": 312, "neutral": 869, "positive": 819}
    assert counts["vader-tweets"] == {"negative": 837, "neutral": 1533, "positive": 1830}
    assert all(t.text for rows in tweets.values() for t in rows)


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="tweeteval-val"):
        labelled_tweets(tmp_path)
