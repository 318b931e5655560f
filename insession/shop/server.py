"""The demo shop over HTTP: the page at `/`, and one JSON call per click under `/api/`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from insession.ops.http_server import BoundedHTTPServer
from insession.shop.front import ShopFront

MAX_BODY_BYTES = 16_384


class ShopServer:
    """The running shop; `stop()` ends it."""

    def __init__(self, front: ShopFront, host: str = "127.0.0.1", port: int = 8088) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"shop port {port}: must be 0..65535")
        page = resources.files("insession.shop").joinpath("page/index.html").read_bytes()
        try:
            self._server = BoundedHTTPServer((host, port), _ShopHandler, timeout_s=10.0)
        except OSError as error:
            raise OSError(f"shop: cannot listen on {host}:{port}: {error}") from error
        self._server.front, self._server.page = front, page  # type: ignore[attr-defined]
        self.front = front
        front.follow_offers()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="shop-http", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self.front.stop()


def _routes(front: ShopFront) -> dict[str, Callable[[str, dict[str, Any]], Any]]:
    """`/api/<name>` -> what it does with the visitor's device id and the request's fields."""
    return {
        "home": lambda device, _: front.home(device),
        "view": lambda device, body: front.view(device, str(body["product_id"])),
        "search": lambda device, body: front.search(device, str(body["query"])),
        "cart/add": lambda device, body: front.add_to_cart(device, str(body["product_id"])),
        "cart/remove": lambda device, body: front.remove_from_cart(device, str(body["product_id"])),
        "checkout": lambda device, _: {"cart_value": front.checkout(device)},
        "buy": lambda device, _: {"order_id": front.buy(device)},
        "sign-in": lambda device, _: {"customer_id": front.sign_in(device)},
        "consent": lambda device, body: front.consent(device, bool(body["granted"])),
        "answer": lambda device, body: front.answer(
            device, str(body["offer_id"]), str(body["outcome"])
        ),
        "offers": lambda device, _: front.offers(device),
        "shelf": lambda device, _: front.shelf(device),
    }


class _ShopHandler(BaseHTTPRequestHandler):
    server_version = "insession-shop"

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path in ("/", "/index.html"):
            self._reply(HTTPStatus.OK, self.server.page, "text/html; charset=utf-8")  # type: ignore[attr-defined]
            return
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self._api(url.path, query)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request too large")
            return
        try:
            body = orjson.loads(self.rfile.read(length) or b"{}")
        except orjson.JSONDecodeError:
            self._error(HTTPStatus.BAD_REQUEST, "the body is not JSON")
            return
        if not isinstance(body, dict):
            self._error(HTTPStatus.BAD_REQUEST, "the body is not a JSON object")
            return
        self._api(urlsplit(self.path).path, body)

    def _api(self, path: str, fields: dict[str, Any]) -> None:
        route = _routes(self.server.front).get(path.removeprefix("/api/"))  # type: ignore[attr-defined]
        device = str(fields.get("device") or "")
        if route is None or not path.startswith("/api/"):
            self._error(HTTPStatus.NOT_FOUND, f"no such page: {path}")
        elif not device:
            self._error(HTTPStatus.BAD_REQUEST, "name the visitor's device")
        else:
            try:
                answer = route(device, fields)
            except (KeyError, ValueError) as bad:
                self._error(HTTPStatus.BAD_REQUEST, str(bad))
                return
            self._reply(HTTPStatus.OK, orjson.dumps(answer), "application/json")

    def _error(self, status: HTTPStatus, why: str) -> None:
        self._reply(status, orjson.dumps({"error": why}), "application/json")

    def _reply(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Each page polls twice a second; stay quiet."""
