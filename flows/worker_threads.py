"""Bytewax worker threads keep one Python thread state for their whole life.

With more than one worker, or one worker in each of several processes, Bytewax runs its
workers on threads that Rust started, and every call into Python takes the GIL through
`PyGILState_Ensure` and gives it back through `PyGILState_Release`. A thread that Python does
not know gets a new thread state at each `Ensure` and loses it at the matching `Release`:
a `gettid`, a 16 KiB frame-stack `mmap` and its `munmap` (with TLB-shootdown interrupts to the
other cores) on every operator call (docs/scaling.md, "Worker threads re-create a Python
thread state"). One extra `Ensure` that is never released keeps the state alive, so each
later `Ensure` only counts. Measured on a two-process replay: system time 5.2 s -> 0.8 s.
"""

from __future__ import annotations

import ctypes
import threading

_kept = threading.local()


def keep_thread_state() -> None:
    """Called on a worker thread (cheaply, as often as convenient): from now on its Python
    thread state outlives each call from Bytewax into Python."""
    if getattr(_kept, "done", False):
        return
    _kept.done = True
    # Holding the GIL already (this is Python code), `Ensure` only raises the thread state's
    # count; it is never released, so pyo3's own `Release` never brings it back to zero.
    ctypes.pythonapi.PyGILState_Ensure()
