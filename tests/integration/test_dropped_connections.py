"""Peers that hang up on `insession run`, on the real broker and a Redis of the test's own:
half-sent and abandoned HTTP requests on the metrics port, and its Redis connections killed
again and again. The process must neither die of SIGPIPE nor run out of threads."""

from __future__ import annotations

import socket
import struct
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import pytest
import redis

from insession.dev.services import stop
from insession.ops.http_server import CONNECTION_TIMEOUT_S, MAX_CONNECTIONS
from insession.settings import Settings
from tests.integration.fault_scenarios import (
    RunningFlow,
    Traffic,
    private_services,
    produce,
    scrape,
    session_counts,
    total,
    wait_for,
)

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

HALF_REQUEST = b"GET /metrics HTTP/1.1\r\nHost: insession\r\nAccept: */"


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=5)


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a client that crashed or a load balancer that gave up."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _hang_up_mid_request(url: str, close: Callable[[socket.socket], None]) -> None:
    sock = _connect(url)
    sock.sendall(HALF_REQUEST)
    close(sock)


def _abandon_answer(url: str) -> None:
    """A whole request, then a reset before the answer is read: the server writes into it."""
    sock = _connect(url)
    sock.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
    _reset(sock)


def _healthz(url: str) -> tuple[int, float]:
    started = time.monotonic()
    with urllib.request.urlopen(url.replace("/metrics", "/healthz"), timeout=30) as answer:
        assert orjson.loads(answer.read())["status"] == "ok"
        return answer.status, time.monotonic() - started


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no thread count")


def _closed_by_server(sock: socket.socket, within_s: float) -> bool:
    """Whether the server ended the connection (EOF, or any answer) within `within_s`."""
    sock.settimeout(within_s)
    try:
        sock.recv(4096)
    except TimeoutError:
        return False
    except ConnectionError:
        pass
    return True


def test_http_clients_that_hang_up_or_go_silent_leave_the_flow_serving(
    flow_settings: Settings, redis_client: redis.Redis, redis_prefix: str, tmp_path: Path
) -> None:
    traffic = Traffic(customers=20, each=40, tag="http")
    flow = RunningFlow(flow_settings, tmp_path / "run.log")
    flow.start()
    producing = threading.Thread(
        target=produce, args=(flow_settings, traffic.events(int(time.time() * 1000)), 30.0)
    )
    producing.start()
    try:
        url = flow.metrics_url
        assert flow.process is not None
        # Reading: every source partition (and its consumer's threads) is built.
        assert wait_for(lambda: total(scrape(url), "insession_events_in_total") > 0, 30)
        before = scrape(url)
        for _ in range(20):
            _hang_up_mid_request(url, socket.socket.close)
            _hang_up_mid_request(url, _reset)
            _abandon_answer(url)
        assert flow.alive(), flow.log.read_text(errors="replace")[-3000:]
        assert _healthz(url)[0] == 200

        threads = _threads(flow.process.pid)
        silent = [_connect(url) for _ in range(3 * MAX_CONNECTIONS)]
        for sock in silent:
            sock.sendall(HALF_REQUEST)
        time.sleep(1.0)
        pinned = _threads(flow.process.pid) - threads
        status, waited = _healthz(url)
        closed = [_closed_by_server(sock, 4 * CONNECTION_TIMEOUT_S) for sock in silent]
        for sock in silent:
            sock.close()
        print(
            f"{len(silent)} silent connections: +{pinned} threads, /healthz {status} "
            f"after {waited:.1f} s, {sum(closed)} closed by the server"
        )
        assert pinned <= MAX_CONNECTIONS, "handler threads are bounded"
        assert all(closed), "silent connections time out"
        # Behind the silent ones in the backlog: a turn frees as each of them times out.
        rounds = len(silent) // MAX_CONNECTIONS + 1
        assert status == 200 and waited <= rounds * CONNECTION_TIMEOUT_S + 2.0
        producing.join()
        assert wait_for(
            lambda: (
                total(scrape(url), "insession_offers_total")
                > total(before, "insession_offers_total")
            ),
            30,
        ), "offers kept coming"
        assert _healthz(url)[0] == 200 and flow.alive()
    finally:
        producing.join()
        flow.stop()


def test_redis_connections_killed_again_and_again_leave_the_flow_deciding(
    flow_settings: Settings, tmp_path: Path
) -> None:
    # A Redis of this test's own: CLIENT KILL must not cut other tests' connections.
    settings = private_services(
        flow_settings, tmp_path / "services", kafka=False, redis_server=True
    )
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
    # Busy enough that a batch's Redis pipeline is written in several chunks (redis-py cuts
    # at 6,000 bytes): a chunk after the server's reset is what raised SIGPIPE.
    traffic = Traffic(customers=1000, each=10, tag="kill")
    people = list(traffic.expected())
    flow = RunningFlow(settings, tmp_path / "run.log")
    producing = threading.Thread(
        target=produce, args=(settings, traffic.events(int(time.time() * 1000)), 4000.0)
    )
    try:
        flow.start()
        producing.start()
        time.sleep(0.3)
        before = scrape(flow.metrics_url)
        killed = 0
        for _ in range(300):  # a kill lands mid-pipeline now and then
            killed += int(client.execute_command("CLIENT", "KILL", "TYPE", "normal"))
            time.sleep(0.005)
        assert killed > 0
        producing.join()
        converged = wait_for(
            lambda: session_counts(client, settings.redis_prefix, people) == traffic.expected(), 60
        )
        after = scrape(flow.metrics_url)
        failed = total(after, "insession_redis_write_errors_total")
        print(
            f"killed {killed} Redis connections, {failed:.0f} write batches failed; "
            f"mirror converged {converged} s after the traffic"
        )
        assert flow.alive(), flow.log.read_text(errors="replace")[-3000:]
        assert total(after, "insession_offers_total") > total(before, "insession_offers_total")
        assert converged is not None, "every event reached Redis once the connections came back"
        assert _healthz(flow.metrics_url)[0] == 200
    finally:
        if producing.is_alive():
            producing.join()
        flow.stop()
        stop(settings, "redis")
        client.close()
