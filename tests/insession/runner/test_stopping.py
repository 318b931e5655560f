"""stop_on_signals: the first signal asks the flow to stop, a second ends the process."""

from __future__ import annotations

import signal
import subprocess
import sys


def test_a_second_signal_ends_the_process_at_once() -> None:
    program = """
import os, signal, time
from insession.logs import configure_logging
from insession.runner.stopping import stop_on_signals, stop_requested
configure_logging("INFO", "text")
with stop_on_signals():
    os.kill(os.getpid(), signal.SIGTERM)
    assert stop_requested()
    print("asked to stop", flush=True)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(10)
print("never here")
"""
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == -signal.SIGTERM
    assert done.stdout == "asked to stop\n"
    assert "SIGTERM received: stopping" in done.stderr
