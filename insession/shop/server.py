"""The demo shop over HTTP: the page at `/`, and one JSON call per click under `/api/`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import orjson

from insession.ops.http_server import BoundedHTTPServer, ServedInBackground, send_uncached
from insession.shop.front import ShopFront

MAX_BODY_BYTES = 16_384

log = logging.getLogger(__name__)


class ShopServer(ServedInBackground):
    """The running shop; `stop()` ends it."""

    def __init__(self, front: ShopFront, host: str = "127.0.0.1", port: int = 8088) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"shop port {port}: must be 0..65535")
        page = resources.files("insession.shop").joinpath("page/index.html").read_bytes()
        try:
            server = _ShopHTTPServer((host, port), front, page)
        except OSError as error:
            raise OSError(f"shop: cannot listen on {host}:{port}: {error}") from error
        self.front = front
        try:
            front.follow_offers()
        except BaseException:
            server.server_close()
            raise
        super().__init__(server, "shop-http")

    def stop(self) -> None:
        super().stop()
        self.front.stop()


class _ShopHTTPServer(BoundedHTTPServer):
    """The HTTP server with what its handlers need: the shop, its page, its routes."""

    def __init__(self, address: tuple[str, int], front: ShopFront, page: bytes) -> None:
        super().__init__(address, _ShopHandler, timeout_s=10.0)
        self.front = front
        self.page = page
        self.routes = _routes(front)
        port = self.server_address[1]
        # The Host headers answered: another name is a page elsewhere reaching in (DNS
        # rebinding), whatever the browser was told the name means.
        self.hosts = {f"{address[0]}:{port}", f"127.0.0.1:{port}", f"localhost:{port}"}


Route = Callable[[str, dict[str, Any]], Any]


def _routes(front: ShopFront) -> dict[str, Route]:
    """`/api/<name>` -> what it does with the visitor's device id and the request's fields."""
    return {
        "home": lambda device, _: front.home(device),
        "view": lambda device, body: front.view(device, _text(body, "product_id")),
        "search": lambda device, body: front.search(device, _text(body, "query")),
        "cart/add": lambda device, body: front.add_to_cart(device, _text(body, "product_id")),
        "cart/remove": lambda device, body: front.remove_from_cart(
            device, _text(body, "product_id")
        ),
        "checkout": lambda device, _: {"cart_value": front.checkout(device)},
        "buy": lambda device, _: {"order_id": front.buy(device)},
        "sign-in": lambda device, _: {"customer_id": front.sign_in(device)},
        "consent": lambda device, body: front.consent(device, _flag(body, "granted")),
        "answer": lambda device, body: front.answer(
            device, _text(body, "offer_id"), _text(body, "outcome")
        ),
        "offers": lambda device, _: front.offers(device),
        "shelf": lambda device, _: front.shelf(device),
    }


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if type(value) is not str:
        raise ValueError(f"{name}: a string is needed")
    return value


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    if type(value) is not bool:
        raise ValueError(f"{name}: true or false is needed")
    return value


class _ShopHandler(BaseHTTPRequestHandler):
    server: _ShopHTTPServer
    server_version = "insession-shop"

    def do_GET(self) -> None:
        if not self._host_known():
            return
        if urlsplit(self.path).path in ("/", "/index.html"):
            self._reply(HTTPStatus.OK, self.server.page, "text/html; charset=utf-8")
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no such page: {urlsplit(self.path).path}")

    def do_POST(self) -> None:
        """Every click is a POST of a JSON object: a page elsewhere cannot send one without
        the browser asking first (no simple cross-site form or image reaches the API)."""
        if not self._host_known():
            return
        if self.headers.get_content_type() != "application/json":
            self._error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send application/json")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "a JSON body of at most 16 KiB")
            return
        try:
            body = orjson.loads(self.rfile.read(length) or b"{}")
        except orjson.JSONDecodeError:
            self._error(HTTPStatus.BAD_REQUEST, "the body is not JSON")
            return
        if not isinstance(body, dict):
            self._error(HTTPStatus.BAD_REQUEST, "the body is not a JSON object")
            return
        path = urlsplit(self.path).path
        route = self.server.routes.get(path.removeprefix("/api/"))
        if route is None or not path.startswith("/api/"):
            self._error(HTTPStatus.NOT_FOUND, f"no such call: {path}")
            return
        try:
            answer = route(_text(body, "device"), body)
        except ValueError as bad:
            self._error(HTTPStatus.BAD_REQUEST, str(bad))
            return
        except Exception:  # Kafka or Redis away: say so, keep serving
            log.exception("shop call %s failed", path)
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, "the engine's services did not answer")
            return
        self._reply(HTTPStatus.OK, orjson.dumps(answer), "application/json")

    def _host_known(self) -> bool:
        if self.headers.get("Host") in self.server.hosts:
            return True
        self._error(HTTPStatus.MISDIRECTED_REQUEST, "this shop answers on its own address only")
        return False

    def _error(self, status: HTTPStatus, why: str) -> None:
        self._reply(status, orjson.dumps({"error": why}), "application/json")

    def _reply(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        send_uncached(self, status, body, content_type)

    def log_message(self, format: str, *args: Any) -> None:
        """Each page polls twice a second; stay quiet."""
