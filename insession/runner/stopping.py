"""Stopping `insession run` cleanly on SIGTERM or SIGINT (what container stops and Ctrl-C send).

Bytewax turns a Ctrl-C into an error in the middle of an epoch: exit status 1, a Rust
backtrace, and whatever the sinks still held, unsent. Instead, the first signal only sets a
flag that each Kafka source partition reads at its next poll (`stop_requested`), and ends
on: the flow finishes as at the end of its input (the last epoch closes, every sink flushes
and closes) and the process exits 0. A second signal ends the process at once.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

# Signals are per process, so the flag is too: every source partition of this process reads it.
_requested = threading.Event()


def stop_requested() -> bool:
    """Whether a stop signal arrived: a source partition that sees it ends (StopIteration)."""
    return _requested.is_set()


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    if _requested.is_set():
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)  # the second one: its default action, at once
        return
    _requested.set()
    log.info(
        "%s received: stopping once the flow has sent what it holds (send it again to stop "
        "at once)",
        signal.Signals(signum).name,
    )


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGINT or SIGTERM asks the flow to stop; the handlers before it come
    back after. Call from the main thread (Python runs signal handlers there).

    >>> with stop_on_signals():
    ...     os.kill(os.getpid(), signal.SIGTERM)
    ...     stop_requested()
    True
    >>> stop_requested()
    False
    """
    _requested.clear()
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    for signum in STOP_SIGNALS:
        signal.signal(signum, _on_signal)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _requested.clear()  # a later flow in this process starts unstopped
