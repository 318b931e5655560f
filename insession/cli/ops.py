"""`insession ops`: the live ops board over one or more flows' metrics."""

from __future__ import annotations

import argparse
import logging
import sys
import threading

from insession.ops.board import OpsBoard, serve_ops
from insession.settings import Settings

log = logging.getLogger(__name__)


def metrics_endpoint(text: str) -> str:
    """`http://host:port` or its `/metrics` URL -> the `/metrics` URL."""
    if not text.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"{text!r} is not an http:// or https:// URL")
    text = text.rstrip("/")
    return text if text.endswith("/metrics") else text + "/metrics"


def _ops(args: argparse.Namespace, settings: Settings) -> int:
    from insession.ops.health import metrics_url

    urls = args.metrics or [metrics_endpoint(metrics_url(settings))]
    try:
        board = OpsBoard(urls, interval_s=args.interval, window_s=args.window)
        running = serve_ops(board, args.host, args.port)
    except (OSError, ValueError) as failure:
        print(f"insession ops: {failure}", file=sys.stderr)
        return 1
    log.info("%s scraping %s; Ctrl-C stops", running.url, ", ".join(urls))
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        return 130
    finally:
        running.stop()
    return 0


def add_ops_command(subparsers: argparse._SubParsersAction) -> None:
    """Register `insession ops`."""
    command = subparsers.add_parser(
        "ops", help="a live ops page on localhost: throughput, lag, latency, errors, offers"
    )
    command.add_argument(
        "--metrics",
        nargs="+",
        type=metrics_endpoint,
        metavar="URL",
        help="flows' metrics servers (default: from the metrics_host and metrics_port settings)",
    )
    command.add_argument("--host", default="127.0.0.1", help="address the page listens on")
    command.add_argument("--port", type=int, default=9109, help="port of the page (0: any free)")
    command.add_argument("--interval", type=float, default=1.0, help="seconds between scrapes")
    command.add_argument(
        "--window", type=float, default=10.0, help="seconds that rates and percentiles cover"
    )
    command.set_defaults(run=_ops)
