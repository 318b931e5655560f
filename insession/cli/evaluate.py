"""`insession evaluate`: policies scored off-line on the Open Bandit Dataset."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from insession.evaluation.obd import CAMPAIGNS, campaign_dir, evaluate_campaign, print_evaluation
from insession.settings import Settings


def _evaluate(args: argparse.Namespace, settings: Settings) -> int:
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
        help="estimate Bernoulli TS's and our learned policies' CTR from the Open Bandit log",
    )
    command.add_argument(
        "campaigns",
        nargs="*",
        metavar="campaign",
        help="all, men and/or women (default: all three)",
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
    command.set_defaults(run=_evaluate)
