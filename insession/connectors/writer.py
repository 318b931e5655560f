"""A background writer: the thread that sends what a connector has queued, off the flow's thread.

The flow's thread only queues (the Redis mirror's updates, the item log's observations) and
wakes the writer; the writer waits `linger_s` so that one round trip carries several batches,
sends, and looks again every `interval_s` to retry what a failure left waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

LINGER_S = 0.01
"""How long a woken writer lets more batches gather before it sends (about ten of the flow's
batches at a thousand events a second, each person's updates merged)."""


class BackgroundWriter:
    """Calls `send` from a daemon thread: `linger_s` after `wake`, and every `interval_s`.

    `send` must not raise for the connector's own failures (it keeps what it could not send);
    anything else it raises goes to `on_error` and the writer goes on.
    """

    def __init__(
        self,
        send: Callable[[], object],
        name: str,
        on_error: Callable[[Exception], None],
        *,
        interval_s: float = 0.05,
        linger_s: float = LINGER_S,
    ) -> None:
        self.send = send
        self.name = name
        self.on_error = on_error
        self.interval_s = interval_s
        self.linger_s = linger_s
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread (what still waits is the caller's to send)."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping:
            if self._wake.wait(self.interval_s) and not self._stopping:
                time.sleep(self.linger_s)
            self._wake.clear()
            try:
                self.send()
            except Exception as error:  # the writer must outlive any one bad batch
                self.on_error(error)
