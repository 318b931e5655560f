"""Time to score a post's text: VADER beside the learned model, on real tweets.

Run: `.venv/bin/python bench/sentiment_bench.py [--rounds N]`. Scores every TweetEval
validation tweet (2,000, read from the data folder the settings name) with each scorer, best
of N rounds, and prints µs per text for both and the ratio, with how long the learned model
took to load from the package (once per process).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from insession.models.sentiment.linear import LearnedSentiment
from insession.models.sentiment.vader import vader_score

from insession.datasets.tweets import TWEETEVAL, read_tweeteval
from insession.settings import Settings


def per_text_us(score: Callable[[str], float], texts: list[str], rounds: int) -> float:
    """The best round's mean time per text, in µs."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for text in texts:
            score(text)
        best = min(best, time.perf_counter() - started)
    return best / len(texts) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    texts = [t.text for t in read_tweeteval(Settings.load().data_dir / TWEETEVAL)]
    started = time.perf_counter()
    learned = LearnedSentiment.packaged()
    load_ms = (time.perf_counter() - started) * 1000
    vader_score(texts[0])  # VADER reads its lexicon at its first text: not counted
    vader_us = per_text_us(vader_score, texts, args.rounds)
    learned_us = per_text_us(learned, texts, args.rounds)
    print(f"{len(texts)} tweets, best of {args.rounds} rounds")
    print(f"vader    {vader_us:7.1f} us/text")
    print(f"learned  {learned_us:7.1f} us/text  ({learned_us / vader_us:.2f}x vader)")
    weights = len(learned.weights)
    print(f"learned model loaded from the package in {load_ms:.0f} ms ({weights} weights)")


if __name__ == "__main__":
    main()
