"""A circuit breaker for the flow's Redis calls: after a failure, stop trying for a while.

A Redis that hangs (not refusing, just silent) costs every call its full socket timeout;
called per batch or per decision that would stall the flow for the whole outage. After a
failure the breaker answers "not now" for `pause_s`, then lets one call through to probe.

>>> now = [0.0]
>>> breaker = Breaker(pause_s=5.0, clock=lambda: now[0])
>>> breaker.allow(), breaker.failed(), breaker.allow()
(True, None, False)
>>> now[0] = 5.0; breaker.allow()
True
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Breaker:
    """Open (refusing calls) for `pause_s` after each failure; closed otherwise."""

    __slots__ = ("_closed_at", "clock", "failures", "pause_s")

    def __init__(self, pause_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.pause_s = pause_s
        self.clock = clock
        self.failures = 0
        self._closed_at = 0.0

    def allow(self) -> bool:
        """Whether to try the call now."""
        return self.clock() >= self._closed_at

    def failed(self) -> None:
        """The call failed: refuse calls for the next `pause_s`."""
        self.failures += 1
        self._closed_at = self.clock() + self.pause_s
