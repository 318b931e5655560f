"""`insession services`: start, stop or check the local Kafka and Redis."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from insession.settings import Settings

if TYPE_CHECKING:
    pass


def _services(args: argparse.Namespace, settings: Settings) -> int:
    from insession.dev import services

    if args.action == "up":
        from insession.dev.secured import SecuredError

        try:
            seconds = services.up(settings)
        except (services.ServiceError, SecuredError) as failure:
            print(f"insession services: {failure}", file=sys.stderr)
            return 1
        for name, took in seconds.items():
            print(
                f"{name}: ready ({'already running' if took == 0 else f'started in {took:.1f} s'})"
            )
        if not args.no_topics:
            from insession.connectors.kafka_admin import create_topics

            created = create_topics(settings)
            print(f"topics: {len(created)} created, {len(settings.topics) - len(created)} existed")
        return 0
    if args.action == "down":
        stopped = services.down(settings)
        print(
            f"stopped: {', '.join(stopped) if stopped else 'nothing (none started by insession)'}"
        )
        return 0
    states = services.status(settings)
    for state in states:
        print(state.describe())
    return 0 if all(s.answering for s in states) else 1


def add_services_command(commands: Any) -> argparse.ArgumentParser:
    """Register `insession services`."""
    services = commands.add_parser("services", help="start/stop the local Kafka and Redis")
    services.add_argument("action", choices=("up", "down", "status"))
    services.add_argument("--no-topics", action="store_true", help="up: do not create topics")
    services.set_defaults(run=_services)
    return services
