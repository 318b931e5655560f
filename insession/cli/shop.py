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
    from insession.client import Storefront
    from insession.runner.engine import default_catalogue
    from insession.shop.engine import start_engine
    from insession.shop.front import ShopFront
    from insession.shop.server import ShopServer

    engine = None
    if not args.no_engine:
        engine_log = settings.services_dir / "shop" / "engine.log"
        try:
            engine = start_engine(settings, engine_log)
        except RuntimeError as failed:
            print(
                f"insession shop: {failed} (is `insession services up` running?)", file=sys.stderr
            )
            return 1
        log.info("engine running (log: %s)", engine_log)
    storefront = Storefront(settings)
    try:
        server = ShopServer(
            ShopFront(storefront, default_catalogue(settings)), args.host, args.port
        )
    except (OSError, ValueError) as failure:
        print(f"insession shop: {failure}", file=sys.stderr)
        if engine is not None:
            engine.terminate()
        return 1
    log.info("shop on %s; Ctrl-C stops", server.url)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        storefront.close()
        if engine is not None:
            engine.send_signal(signal.SIGINT)
            engine.wait(30)
    return 0


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
