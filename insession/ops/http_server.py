"""A threaded HTTP server that misbehaving clients cannot exhaust, for the flow's probes.

`ThreadingHTTPServer` gives every connection a new thread that waits as long as the client
likes: each half-sent request, or client that stops reading, pins one for good. Here a fixed
set of threads serves the connections in the order they came, each connection times out
once silent for `timeout_s`, connections beyond a bounded queue are closed at once, and a
client that hangs up is not reported as a server error.
"""

from __future__ import annotations

import queue
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

CONNECTION_TIMEOUT_S = 2.0
"""How long a connection may stay silent (a half-sent request, an answer left unread)."""
MAX_CONNECTIONS = 16
"""Connections served at once (the threads that serve them)."""
MAX_WAITING = 64
"""Connections accepted and waiting for a thread; more are closed at once."""

_Waiting = tuple[socket.socket, Any] | None


class BoundedHTTPServer(HTTPServer):
    """At most `max_connections` connections served at once, each closed after `timeout_s`
    of silence; up to `max_waiting` more wait their turn, in order."""

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        max_connections: int = MAX_CONNECTIONS,
        timeout_s: float = CONNECTION_TIMEOUT_S,
        max_waiting: int = MAX_WAITING,
    ) -> None:
        if max_connections < 1 or max_waiting < 1 or timeout_s <= 0:
            raise ValueError("http server: max_connections, max_waiting >= 1, timeout_s > 0")
        self.timeout_s = timeout_s
        self._waiting: queue.Queue[_Waiting] = queue.Queue(maxsize=max_waiting)
        self._servers: list[threading.Thread] = []  # none yet if binding fails below
        super().__init__(address, handler)
        for n in range(max_connections):
            thread = threading.Thread(target=self._serve_waiting, name=f"http-{n}", daemon=True)
            thread.start()
            self._servers.append(thread)

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        connection.settimeout(self.timeout_s)
        return connection, address

    def process_request(self, request: Any, client_address: Any) -> None:
        """Queue the connection for a serving thread; the accept loop never waits."""
        try:
            self._waiting.put_nowait((request, client_address))
        except queue.Full:
            self.shutdown_request(request)

    def _serve_waiting(self) -> None:
        while (waiting := self._waiting.get()) is not None:
            request, client_address = waiting
            try:
                self.finish_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up or went silent is no server error: nothing on stderr."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)

    def server_close(self) -> None:
        """Stop listening, drop the connections still waiting, and let the threads end (one
        busy with a client ends within `timeout_s`; they are daemons, never waited for)."""
        super().server_close()
        while True:
            try:
                waiting = self._waiting.get_nowait()
            except queue.Empty:
                break
            if waiting is not None:
                self.shutdown_request(waiting[0])
        for _ in self._servers:
            self._waiting.put(None)


class ServedInBackground:
    """An HTTP server serving from a thread of its own; `url` is where, `stop()` ends it."""

    def __init__(self, server: HTTPServer, name: str) -> None:
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def send_uncached(
    handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str
) -> None:
    """Answer a request with `body`, never to be cached (pages that poll want what is now)."""
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("Cache-Control", "no-store")
    handler.end_headers()
    handler.wfile.write(body)
