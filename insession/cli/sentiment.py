"""`insession sentiment`: score texts (one a line on standard input, one score a line out),
`sentiment train` the learned model from the labelled tweets, `sentiment evaluate` both
scorers on held-out tweets (docs/sentiment.md)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

from insession.settings import Settings

ACTIONS = ("score", "train", "evaluate")


def _score(args: argparse.Namespace, settings: Settings) -> int:
    from insession.models.sentiment import TextScorer, text_scorer

    if args.model_file:
        from insession.models.sentiment.linear import LearnedSentiment

        scorer: TextScorer = LearnedSentiment.load(Path(args.model_file))
    else:
        scorer = text_scorer(args.model or settings.sentiment)
    for line in sys.stdin:
        print(f"{scorer(line.rstrip(chr(10))):.4f}")
    return 0


def _tweets(args: argparse.Namespace, settings: Settings) -> dict[str, Any] | None:
    from insession.datasets.tweets import labelled_tweets

    data_dir = Path(args.data_dir) if args.data_dir else settings.data_dir
    try:
        return labelled_tweets(data_dir)
    except FileNotFoundError as missing:
        print(
            f"insession sentiment {args.action}: {missing} (set INSESSION_DATA_DIR or --data-dir)",
            file=sys.stderr,
        )
        return None


def _train(args: argparse.Namespace, settings: Settings) -> int:
    from insession.evaluation.sentiment import choose_features
    from insession.models.sentiment.learner import FEATURE_CHOICES, TrainingConfig, describe, fit
    from insession.models.sentiment.linear import PACKAGED

    tweets = _tweets(args, settings)
    if tweets is None:
        return 2
    config = TrainingConfig()
    if args.epochs:
        config = dataclasses.replace(config, epochs=args.epochs)
    started = time.perf_counter()
    name = args.features
    if name is None:
        print("choosing what the model reads by 3-fold cross-validation on tweeteval-val:")
        name, _ = choose_features(
            tweets["tweeteval-val"], tweets["vader-tweets"], config, log=sys.stdout
        )
    config = dataclasses.replace(config, features=FEATURE_CHOICES[name])
    examples = [(t.text, t.label) for rows in tweets.values() for t in rows]
    sources = {k: len(v) for k, v in tweets.items()}
    model = fit(examples, config).export(f"{name}: {describe(config, sources)}")
    out = Path(args.out) if args.out else None
    if out is None:
        with resources.as_file(resources.files("insession.models.sentiment") / PACKAGED) as path:
            out = path
    model.save(out)
    seconds = time.perf_counter() - started
    print(
        f"{out}: {name}, {len(model.weights)} weights from {len(examples)} tweets "
        f"in {seconds:.0f} s"
    )
    return 0


def _evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from insession.evaluation.sentiment import cross_validate, print_report, report
    from insession.models.sentiment.learner import FEATURE_CHOICES, TrainingConfig

    tweets = _tweets(args, settings)
    if tweets is None:
        return 2
    config, choices = TrainingConfig(), None
    if args.features:  # no choice: these features in every fold
        choices = {args.features: FEATURE_CHOICES[args.features]}
        config = dataclasses.replace(config, features=choices[args.features])
    held = cross_validate(
        tweets["tweeteval-val"],
        tweets["vader-tweets"],
        config,
        folds=args.folds,
        seed=args.seed,
        inner_folds=args.inner_folds,
        choices=choices,
    )
    print_report(report(held, bootstrap=args.bootstrap, seed=args.seed), sys.stdout)
    return 0


def _sentiment(args: argparse.Namespace, settings: Settings) -> int:
    return {"score": _score, "train": _train, "evaluate": _evaluate}[args.action](args, settings)


def add_sentiment_command(commands: Any) -> argparse.ArgumentParser:
    """Register `insession sentiment [train | evaluate]`."""
    sentiment = commands.add_parser(
        "sentiment",
        help="score texts from standard input, one a line; train or evaluate the learned model",
        description="With no action, print the score in [-1, 1] of each line of standard "
        "input. `train` writes the learned model (from tweeteval-val and vader-tweets in the "
        "data folder); `evaluate` cross-validates it beside VADER on tweeteval-val.",
    )
    sentiment.add_argument("action", nargs="?", choices=ACTIONS, default="score")
    sentiment.add_argument(
        "--model", choices=("vader", "learned"), help="score with (default: the setting)"
    )
    sentiment.add_argument("--model-file", help="score with this learned model file instead")
    sentiment.add_argument("--out", help="train: where to write (default: the packaged model)")
    sentiment.add_argument("--epochs", type=int, help="train: passes (default: 10)")
    sentiment.add_argument(
        "--features",
        choices=("ngrams", "ngrams+vader", "ngrams+lexicon"),
        help="train, evaluate: read these (default: the best by cross-validation)",
    )
    sentiment.add_argument("--data-dir", help="train, evaluate: the data folder (default: setting)")
    sentiment.add_argument("--folds", type=int, default=5, help="evaluate: outer folds")
    sentiment.add_argument(
        "--inner-folds",
        type=int,
        default=3,
        help="evaluate: folds inside each training part that choose its threshold (0: none)",
    )
    sentiment.add_argument("--seed", type=int, default=0, help="evaluate: folds and bootstrap")
    sentiment.add_argument("--bootstrap", type=int, default=2000, help="evaluate: resamples")
    sentiment.set_defaults(run=_sentiment)
    return sentiment
