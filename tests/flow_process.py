"""`insession run` as its own process, for tests that drive the live flow from outside."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from insession.settings import Settings

RUN = [sys.executable, "-m", "insession.cli", "run", "--metrics-port", "0"]
"""`insession run` without its metrics server (tests run several flows at once)."""


def flow_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that points a run at `settings`' brokers and topics (the baseline
    policy, whose choices the tests assert, and short epochs)."""
    return {
        **os.environ,
        "INSESSION_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "INSESSION_EPOCH_MS": "20",
        "INSESSION_POLICY": "baseline",
        **{f"INSESSION_TOPIC_{s.upper()}": topic for s, topic in settings.topics.items()},
        **extra,
    }


@contextmanager
def running_flow(
    env: Mapping[str, str], log_path: Path, *args: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`insession run --from-beginning --metrics-port 0 ARGS` with its output in `log_path`,
    stopped with SIGINT (as Ctrl-C) when the block ends."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*RUN, "--from-beginning", *args], env=dict(env), stdout=log, stderr=subprocess.STDOUT
        )
        try:
            yield process
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
