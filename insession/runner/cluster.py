"""Several Bytewax processes as one flow: this process's place among them, and starting them
on this machine (`--processes N` of `insession run` and `insession replay`).

Bytewax names a cluster by its addresses, one `host:port` per process, and each process by
its index (`-i` / `-a` of `bytewax.run`). On one machine the ports are picked free here; across
machines each process is started by hand with the same addresses (docs/scaling.md).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType


@dataclass(frozen=True, slots=True)
class Cluster:
    """This process's place among several running one flow (`-i` / `-a` in Bytewax terms)."""

    process_id: int
    addresses: list[str]

    @classmethod
    def parse(cls, process_id: int, addresses: str) -> Cluster:
        """From the command line: `--process-id 1 --addresses "h0:2101;h1:2101"`."""
        listed = [a.strip() for a in addresses.split(";") if a.strip()]
        if not 0 <= process_id < len(listed):
            raise ValueError(
                f"--process-id {process_id} is not one of the {len(listed)} processes "
                f"--addresses names ({addresses!r})"
            )
        for address in listed:
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"--addresses: {address!r} is not host:port")
        return cls(process_id, listed)


def free_local_addresses(count: int) -> list[str]:
    """`count` loopback addresses with ports free right now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [f"127.0.0.1:{sock.getsockname()[1]}" for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _listening(port: int) -> bool:
    """Whether something listens on `port`, read from /proc: connecting to Timely's port to
    find out would break its handshake."""
    try:
        table = Path("/proc/net/tcp").read_text()
    except OSError:
        return True
    wanted = f":{port:04X} "
    return any(wanted in line and line.split()[3] == "0A" for line in table.splitlines()[1:])


def _wait_for_listener(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Process 0 listens first; the others would otherwise retry and lose a second."""
    deadline = time.monotonic() + timeout
    while not _listening(port) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)


def run_local_cluster(
    processes: int,
    command: Callable[[Cluster], Sequence[str]],
    env: dict[str, str] | None = None,
) -> list[int]:
    """Start `processes` processes of one flow on this machine (process 0 first), forward
    SIGINT and SIGTERM to all of them, and wait for all; their exit codes. A process that
    fails stops the others (a Bytewax cluster cannot go on without one of its processes)."""
    addresses = free_local_addresses(processes)
    children: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for signum in previous:
        signal.signal(signum, forward)
    try:
        for process_id in range(processes):
            # A group of its own: a Ctrl-C on the terminal reaches only this process, which
            # passes it on once (a second one would stop a process at once, unflushed).
            child = subprocess.Popen(
                command(Cluster(process_id, addresses)), env=env, process_group=0
            )
            children.append(child)
            if process_id == 0:
                _wait_for_listener(int(addresses[0].rsplit(":", 1)[1]), children[0])
        return _wait_all(children)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _wait_all(children: list[subprocess.Popen[bytes]]) -> list[int]:
    while any(child.poll() is None for child in children):
        if any(child.returncode not in (None, 0) for child in children):
            for child in children:
                if child.poll() is None:
                    child.terminate()
            break
        time.sleep(0.05)
    return [child.wait() for child in children]
