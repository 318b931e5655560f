"""`insession evaluate`: policies scored off-line on the Open Bandit Dataset, and
`insession evaluate next-item`: the item knowledge's next-click predictions on real sessions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from insession.evaluation.obd import CAMPAIGNS, campaign_dir, evaluate_campaign, print_evaluation
from insession.models.items import STRATEGIES
from insession.settings import Settings

NEXT_ITEM = "next-item"
NEXT_ITEM_OPTIONS = ("train", "test", "test_days", "out", "frozen", "strategy")

USAGE = """insession evaluate [-h] [campaign ...] [--data-dir DIR] [--smoothing S] [--seed N]
                          [--bootstrap N] [--learned | --no-learned] [--train-share SHARE]
       insession evaluate next-item --train FILE [FILE ...] (--test FILE | --test-days DAYS)
                          --out PREDICTIONS.jsonl [--frozen] [--strategy NAME]
                          [--bootstrap N] [--seed N]"""


def _evaluate(args: argparse.Namespace, settings: Settings) -> int:
    if args.campaigns[:1] == [NEXT_ITEM]:
        return _evaluate_next_item(args)
    given = [f"--{o.replace('_', '-')}" for o in NEXT_ITEM_OPTIONS if getattr(args, o)]
    if given:
        print(
            f"insession evaluate: {', '.join(given)} only go with `evaluate {NEXT_ITEM}`",
            file=sys.stderr,
        )
        return 2
    data_dir = Path(args.data_dir) if args.data_dir else settings.data_dir
    campaigns = args.campaigns or list(CAMPAIGNS)
    unknown = sorted(set(campaigns) - set(CAMPAIGNS))
    if unknown:
        print(f"insession evaluate: unknown campaign {', '.join(unknown)}", file=sys.stderr)
        return 2
    missing = [c for c in campaigns if not campaign_dir(data_dir, "random", c).is_dir()]
    if missing:
        print(
            f"insession evaluate: no OBD logs for {', '.join(missing)} under {data_dir}/obd "
            "(set INSESSION_DATA_DIR or --data-dir)",
            file=sys.stderr,
        )
        return 2
    results = [
        evaluate_campaign(
            data_dir, c, smoothing=args.smoothing, seed=args.seed, bootstrap=args.bootstrap
        )
        for c in campaigns
    ]
    print_evaluation(results, sys.stdout)
    if not args.learned:
        return 0
    # Imported here: the learned-policy module builds on this one's loaders and click model.
    from insession.evaluation.learned_policy import evaluate_learned, print_learned

    options = {"smoothing": args.smoothing, "seed": args.seed, "bootstrap": args.bootstrap}
    try:
        learned = [
            evaluate_learned(data_dir, c, train_share=args.train_share, **options)
            for c in campaigns
        ]
    except ValueError as bad:
        print(f"insession evaluate --learned: {bad}", file=sys.stderr)
        return 2
    print_learned(learned, sys.stdout)
    return 0


def _evaluate_next_item(args: argparse.Namespace) -> int:
    """Read the files, run the protocol, write the first recommender's lists, print scores."""
    # Imported here: the Open Bandit evaluation needs none of them.
    from insession.evaluation.clicks import read_clicks, split_last_days
    from insession.evaluation.next_item import (
        KnowledgeRecommender,
        Popularity,
        evaluate_next_item,
        print_next_item,
    )

    def fail(reason: str) -> int:
        print(f"insession evaluate {NEXT_ITEM}: {reason}", file=sys.stderr)
        return 2

    if len(args.campaigns) > 1:
        return fail(f"takes no campaigns (got {' '.join(args.campaigns[1:])})")
    if not args.train or not args.out:
        return fail("needs --train FILE... and --out PREDICTIONS.jsonl")
    if (args.test is None) == (args.test_days is None):
        return fail("needs one of --test FILE or --test-days DAYS")
    paths = [Path(p) for p in [*args.train, *([args.test] if args.test else [])]]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        return fail(f"no such file: {', '.join(missing)}")
    try:
        train = [c for p in paths[: len(args.train)] for c in read_clicks(p)]
        if args.test is not None:
            test = read_clicks(Path(args.test))
        else:
            train, test = split_last_days(train, args.test_days)
    except ValueError as bad:
        return fail(str(bad))
    recommenders = [KnowledgeRecommender(args.strategy or "blended"), Popularity()]
    with Path(args.out).open("wb") as out:
        report = evaluate_next_item(
            train,
            test,
            frozen=args.frozen,
            recommenders=recommenders,
            out=out,
            bootstrap=args.bootstrap,
            seed=args.seed,
        )
    if report.predictions == 0:
        return fail("no test session has two clicks on items the training knows")
    print_next_item(report, sys.stdout, anchors=True)
    print(f"\npredictions of {recommenders[0].name}: {args.out}")
    return 0


def _days(text: str) -> float:
    """argparse type of `--test-days`: a positive number of days."""
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not days > 0.0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of days")
    return days


def _share(text: str) -> float:
    """argparse type of `--train-share`: a fraction strictly between 0 and 1."""
    try:
        share = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < share < 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not strictly between 0 and 1")
    return share


def add_evaluate_command(subparsers: argparse._SubParsersAction) -> None:
    """Register `insession evaluate`: BTS's and our own policies' CTR from OBD's random log."""
    command = subparsers.add_parser(
        "evaluate",
        usage=USAGE,
        help="estimate policies' CTR from the Open Bandit log; `evaluate next-item`: "
        "next-click predictions of the item knowledge on real sessions",
        description="Off-line evaluation. With campaigns (or none): Bernoulli TS's and our "
        "learned policies' click rates estimated from the Open Bandit Dataset's random log. "
        f"With `{NEXT_ITEM}`: the item knowledge predicts every next click of the test "
        "sessions (session-rec's protocol, HR@20 and MRR@20) beside a popularity baseline.",
    )
    command.add_argument(
        "campaigns",
        nargs="*",
        metavar="campaign",
        help=f"all, men and/or women (default: all three); or `{NEXT_ITEM}` alone",
    )
    command.add_argument("--data-dir", help="shared data folder (default: the data_dir setting)")
    command.add_argument(
        "--smoothing", type=float, default=20.0, help="DR click model pseudo-rounds per cell"
    )
    command.add_argument("--seed", type=int, default=0, help="DR split and bootstrap seed")
    command.add_argument(
        "--bootstrap",
        type=int,
        default=0,
        help="percentile-bootstrap resamples (default 0: normal intervals)",
    )
    command.add_argument(
        "--learned",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also train our bandits on the early random rounds and score them on the rest",
    )
    command.add_argument(
        "--train-share",
        type=_share,
        default=0.6,
        help="share of each random log, in time order, the learned policies train on (0.6)",
    )
    items = command.add_argument_group(f"{NEXT_ITEM} options")
    items.add_argument(
        "--train",
        nargs="+",
        metavar="FILE",
        help="training clicks: session-rec TSV (SessionId, ItemId, Time in unix seconds; "
        "gzipped or not) or recordings",
    )
    items.add_argument("--test", metavar="FILE", help="test clicks, in the same formats")
    items.add_argument(
        "--test-days",
        type=_days,
        metavar="DAYS",
        help="instead of --test: the training sessions that end in the last DAYS days",
    )
    items.add_argument("--out", metavar="PREDICTIONS.jsonl", help="where the lists go")
    items.add_argument(
        "--frozen",
        action="store_true",
        help="learn from the training only (default: also from each ended test session)",
    )
    items.add_argument(
        "--strategy",
        choices=STRATEGIES,
        help="the item knowledge's strategy (default: blended)",
    )
    command.set_defaults(run=_evaluate)
