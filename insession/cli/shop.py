"""`insession shop`: the demo storefront on localhost, with the engine behind it."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any

from insession.settings import Settings

log = logging.getLogger(__name__)


def _shop(args: argparse.Namespace, settings: Settings) -> int:
    from insession.shop.engine import start_engine, stop_engine

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    engine = None
    try:
        if not args.no_engine:
            engine_log = settings.services_dir / "shop" / "engine.log"
            engine = start_engine(settings, engine_log)
            log.info("engine running (log: %s)", engine_log)
        return _serve(args, settings, stopped)
    except RuntimeError as failed:
        print(f"insession shop: {failed} (is `insession services up` running?)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        if engine is not None:
            stop_engine(engine)


def _serve(args: argparse.Namespace, settings: Settings, stopped: threading.Event) -> int:
    """Serve the page until Ctrl-C or SIGTERM; the storefront is closed whatever happens."""
    from confluent_kafka import KafkaException

    from insession.client import PublishError, Storefront
    from insession.runner.engine import default_catalogue
    from insession.shop.front import ShopFront
    from insession.shop.server import ShopServer

    storefront = Storefront(settings)
    try:
        try:
            server = ShopServer(
                ShopFront(storefront, default_catalogue(settings)), args.host, args.port
            )
        except (OSError, ValueError, KafkaException) as failure:
            print(f"insession shop: {failure}", file=sys.stderr)
            return 1
        print(f"insession shop: {server.url} (Ctrl-C stops)", flush=True)
        try:
            stopped.wait()
        finally:
            server.stop()
        return 0
    finally:
        try:
            storefront.close()
        except PublishError as unsent:
            log.warning("at stop: %s", unsent)


def add_shop_command(commands: Any) -> argparse.ArgumentParser:
    """Register `insession shop`."""
    shop = commands.add_parser("shop", help="a demo storefront on localhost, with the engine")
    shop.add_argument("--host", default="127.0.0.1")
    shop.add_argument("--port", type=int, default=8088, help="0 picks a free port")
    shop.add_argument(
        "--no-engine",
        action="store_true",
        help="use an engine already running (insession run) instead of starting one",
    )
    shop.set_defaults(run=_shop)
    return shop
