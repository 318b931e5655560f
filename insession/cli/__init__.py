"""The `insession` command: the parser, and `main`. Each command lives in a module of its own
here (`insession.cli.replay`, `insession.cli.run`, ...), with an `add_<command>_command`."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from insession.cli.convert import add_convert_command
from insession.cli.evaluate import add_evaluate_command
from insession.cli.health import add_health_command
from insession.cli.ops import add_ops_command
from insession.cli.record import add_record_command
from insession.cli.replay import add_replay_command
from insession.cli.run import add_run_command
from insession.cli.schemas import add_schemas_command
from insession.cli.sentiment import add_sentiment_command
from insession.cli.services import add_services_command
from insession.cli.shop import add_shop_command
from insession.cli.simulate import add_simulate_command
from insession.cli.topics import add_topics_command
from insession.logs import configure_logging
from insession.settings import Settings


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, one sub-command per job."""
    parser = argparse.ArgumentParser(
        prog="insession", description="Real-time, in-session personalisation."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for add in (
        add_services_command,
        add_topics_command,
        add_replay_command,
        add_run_command,
        add_convert_command,
        add_simulate_command,
        add_evaluate_command,
        add_record_command,
        add_health_command,
        add_ops_command,
        add_shop_command,
        add_schemas_command,
        add_sentiment_command,
    ):
        add(commands)
    return parser


SERVING_COMMANDS = frozenset({"run", "ops", "shop"})
"""Commands that run until stopped and serve or hold sockets (HTTP, Redis): for them a peer
that hangs up is an error to handle, never a reason to die of SIGPIPE."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `insession` console script."""
    # Quietly stop when the reader of our output goes away (`insession replay | head`)...
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    args = build_parser().parse_args(argv)
    if args.command in SERVING_COMMANDS:
        # ...but a server's closed socket must raise (EPIPE), as Python has it by default.
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        settings = Settings.load()
    except ValueError as bad:
        print(f"insession: bad settings: {bad}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    return int(args.run(args, settings))
