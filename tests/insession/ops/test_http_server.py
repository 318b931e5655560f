"""BoundedHTTPServer: silent connections time out, a fixed set of threads serves them in turn,
and clients that hang up are not server errors."""

from __future__ import annotations

import socket
import struct
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from insession.ops.http_server import BoundedHTTPServer
from insession.ops.metrics import FlowMetrics, serve_metrics

TIMEOUT_S = 0.3
TURNS = 2


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello " * 50_000  # larger than a socket buffer: writing it takes a while
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[BoundedHTTPServer]:
    running = BoundedHTTPServer(
        ("127.0.0.1", 0), _Hello, max_connections=TURNS, timeout_s=TIMEOUT_S
    )
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    yield running
    running.shutdown()
    running.server_close()
    thread.join()


def _connect(server: BoundedHTTPServer) -> socket.socket:
    return socket.create_connection(server.server_address[:2], timeout=5)


def _get(server: BoundedHTTPServer) -> float:
    host, port = server.server_address[:2]
    started = time.monotonic()
    with urllib.request.urlopen(f"http://{host}:{port}/", timeout=10) as answer:
        assert answer.status == 200
        answer.read()
    return time.monotonic() - started


def test_silent_connections_time_out_and_take_at_most_their_turns(
    server: BoundedHTTPServer,
) -> None:
    threads = threading.active_count()
    silent = [_connect(server) for _ in range(3 * TURNS)]
    for sock in silent:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
    time.sleep(TIMEOUT_S / 2)
    assert threading.active_count() == threads, "no thread per connection"
    waited = _get(server)  # behind the silent ones, each ended by its timeout
    assert waited <= (len(silent) // TURNS + 1) * TIMEOUT_S + 1.0
    for sock in silent:
        sock.settimeout(5)
        assert sock.recv(100) == b"", "the server closed it"
        sock.close()


def test_clients_that_hang_up_are_no_server_errors(
    server: BoundedHTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(10):
        sock = _connect(server)
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # a reset before the answer is read
        half = _connect(server)
        half.sendall(b"GET / HT")
        half.close()
    assert _get(server) < 5
    assert capsys.readouterr().err == ""


def test_the_metrics_server_is_bounded() -> None:
    running = serve_metrics(FlowMetrics(), port=0)
    try:
        assert isinstance(running._server, BoundedHTTPServer)
    finally:
        running.stop()
