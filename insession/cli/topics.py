"""`insession topics`: create or list the Kafka topics."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from insession.settings import Settings

if TYPE_CHECKING:
    pass


def _topics(args: argparse.Namespace, settings: Settings) -> int:
    from insession.connectors.kafka_admin import create_topics, list_topics

    if args.action == "create":
        created = create_topics(settings, timeout=args.timeout)
        for stream, topic in settings.topics.items():
            state = "created" if topic in created else "exists"
            print(f"{topic:<32} {settings.partitions_for(stream):>3} partitions  {state}")
        return 0
    for name, partitions in sorted(list_topics(settings.kafka_client()).items()):
        print(f"{name:<32} {partitions:>3} partitions")
    return 0


def add_topics_command(commands: Any) -> argparse.ArgumentParser:
    """Register `insession topics`."""
    topics = commands.add_parser("topics", help="create or list the Kafka topics")
    topics.add_argument("action", choices=("create", "list"))
    topics.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for Kafka")
    topics.set_defaults(run=_topics)
    return topics
