"""`insession health`: is a running flow alive and ready, and do its services answer (exit 0
or 1)."""

from __future__ import annotations

import argparse

from insession.ops.health import metrics_url, probe_liveness, probe_readiness, probe_services
from insession.settings import Settings


def _base_url(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"{text!r} is not an http:// or https:// URL")
    return text.rstrip("/")


def _health(args: argparse.Namespace, settings: Settings) -> int:
    if args.services:
        probes = probe_services(settings)
    else:
        url = args.url or metrics_url(settings)
        probes = [probe_liveness(url, args.timeout)]
        if args.ready:
            probes.append(probe_readiness(url, args.timeout))
    for probe in probes:
        print(probe.describe())
    return 0 if all(probe.ok for probe in probes) else 1


def add_health_command(subparsers: argparse._SubParsersAction) -> None:
    """Register `insession health`."""
    command = subparsers.add_parser(
        "health",
        help="check a running flow (/healthz, /readyz) or the local Kafka and Redis; exit 0 or 1",
    )
    command.add_argument(
        "--url",
        type=_base_url,
        help="the flow's metrics server (default: from the metrics_host and metrics_port settings)",
    )
    command.add_argument(
        "--ready", action="store_true", help="also require /readyz (Kafka, Redis, ... usable)"
    )
    command.add_argument(
        "--services",
        action="store_true",
        help="instead check the Kafka broker and Redis server directly",
    )
    command.add_argument("--timeout", type=float, default=3.0, help="seconds to wait per request")
    command.set_defaults(run=_health)
