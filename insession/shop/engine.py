"""The engine behind the demo shop: `insession run` as a child process, its contact policy
paced for someone clicking through a demo."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from insession.settings import Settings

DEMO_MIN_GAP_S = 2
"""Seconds between two offers in a session: the shipped catalogue's 20 s would make a visitor
wait between the clicks that show what the engine does."""
DEMO_MAX_OFFERS = 8
"""Offers per session (3 in the shipped catalogue)."""


def demo_catalogue(settings: Settings) -> Path:
    """The catalogue the shop's engine uses, written beside the services' data: the settings'
    own (else the shipped one) with the contact policy paced for a demo."""
    source = (
        Path(settings.catalogue_file).read_text()
        if settings.catalogue_file
        else resources.files("insession").joinpath("catalogue.toml").read_text()
    )
    path = settings.services_dir / "shop" / "catalogue.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(paced_for_a_demo(source))
    return path


def paced_for_a_demo(catalogue: str) -> str:
    """A catalogue's TOML with its `[policy]` gap and session limit set for a demo, whether
    it states them or leaves them to the defaults."""
    paced = {"min_gap_s": DEMO_MIN_GAP_S, "max_offers_per_session": DEMO_MAX_OFFERS}
    for key, value in paced.items():
        catalogue, found = re.subn(rf"(?m)^{key}\s*=\s*\d+", f"{key} = {value}", catalogue)
        if not found:
            lines = f"{key} = {value}\n"
            header = re.compile(r"(?m)^\[policy\]\s*$")
            if header.search(catalogue):
                catalogue = header.sub(f"[policy]\n{lines}", catalogue, count=1)
            else:  # a table of its own at the end
                catalogue = f"{catalogue.rstrip()}\n\n[policy]\n{lines}"
    return catalogue


def start_engine(
    settings: Settings,
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 60.0,
) -> subprocess.Popen[bytes]:
    """`insession run` with the demo catalogue, returned once it reads its topics (its
    `/readyz` answers 200), so that the visitor's first click is not missed. `env` is the
    engine's environment (default: this process's, whose settings it then shares)."""
    port = _free_port()
    env = {
        **(os.environ if env is None else env),
        "INSESSION_CATALOGUE_FILE": str(demo_catalogue(settings)),
    }
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "insession.cli", "run", "--metrics-port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C at the terminal reaches the shop only
        )
    deadline = time.monotonic() + timeout_s
    while not _ready(f"http://{settings.metrics_host}:{port}/readyz"):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_engine(process)
            raise RuntimeError(f"the shop's engine did not start; its log: {log_path}")
        time.sleep(0.2)
    return process


def stop_engine(process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    """Ask the engine to stop once (SIGINT: it sends what it holds), kill it if it has not
    within `timeout_s`."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
