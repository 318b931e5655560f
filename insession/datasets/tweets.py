"""The public labelled tweets sentiment is learned and measured on: TweetEval's validation
split (labels 0/1/2) and VADER's 4,200 tweets rated by 20 people each (mean valence -4..+4)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from insession.models.sentiment.labels import LABELS, NEGATIVE, NEUTRAL, POSITIVE

TWEETEVAL = "tweeteval-val"
VADER_TWEETS = "vader-tweets/tweets_GroundTruth.txt"

VALENCE_BAND = 1.0
"""A VADER tweet is negative when its raters' mean valence is at most -1 ("slightly
negative" on their -4..+4 scale), positive when at least +1, else neutral. Fixed by that
reading of the scale before any model was trained: 837 / 1,533 / 1,830 tweets."""


@dataclass(frozen=True, slots=True)
class LabelledTweet:
    text: str
    label: str
    """One of `LABELS`."""


def read_tweeteval(folder: Path) -> list[LabelledTweet]:
    """`val_text.txt` and `val_labels.txt`, line by line (0 negative, 1 neutral, 2 positive)."""
    texts = (folder / "val_text.txt").read_text(encoding="utf-8").splitlines()
    labels = (folder / "val_labels.txt").read_text(encoding="utf-8").split()
    if len(texts) != len(labels):
        raise ValueError(f"{folder}: {len(texts)} texts but {len(labels)} labels")
    return [LabelledTweet(t.strip(), LABELS[int(k)]) for t, k in zip(texts, labels, strict=True)]


def valence_label(valence: float, band: float = VALENCE_BAND) -> str:
    """The class of a mean valence on the -4..+4 scale.

    >>> valence_label(-1.0), valence_label(0.95), valence_label(2.7)
    ('negative', 'neutral', 'positive')
    """
    if valence <= -band:
        return NEGATIVE
    return POSITIVE if valence >= band else NEUTRAL


def read_vader_tweets(path: Path, band: float = VALENCE_BAND) -> list[LabelledTweet]:
    """`id<TAB>valence<TAB>text` lines (latin-1), labelled by `valence_label`."""
    tweets = []
    for line in path.read_text(encoding="latin-1").splitlines():
        if line.strip():
            _, valence, text = line.split("\t", 2)
            tweets.append(LabelledTweet(text.strip(), valence_label(float(valence), band)))
    return tweets


def labelled_tweets(data_dir: Path) -> dict[str, list[LabelledTweet]]:
    """Both sets from the shared data folder, by the name they are reported under."""
    missing = [p for p in (TWEETEVAL, VADER_TWEETS) if not (data_dir / p).exists()]
    if missing:
        raise FileNotFoundError(f"no {', '.join(missing)} under {data_dir}")
    return {
        "tweeteval-val": read_tweeteval(data_dir / TWEETEVAL),
        "vader-tweets": read_vader_tweets(data_dir / VADER_TWEETS),
    }
