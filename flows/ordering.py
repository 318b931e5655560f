"""A keyed step that processes each key's items in one total order, whatever the workers.

Bytewax hands a stateful step the items of one epoch in arrival order, and with several
workers that order depends on thread scheduling. This step buffers items per epoch and
releases an epoch, sorted by a deterministic key, once a later epoch has reached this
worker (Bytewax only processes epoch e after every earlier epoch is closed), and all of
them at the end of input. With `epoch_interval=0` and fixed-size source batches, batch k of
each input partition is epoch k + 1, so the outputs are the same with any worker count.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

import bytewax.operators as op
from bytewax.dataflow import Stream
from bytewax.operators import KeyedStream, StatefulBatchLogic

S = TypeVar("S")
X = TypeVar("X")
W = TypeVar("W")

Step = Callable[[S | None, X], tuple[S | None, list[W]]]


@dataclass(frozen=True, slots=True)
class Timer(Generic[S, X, W]):
    """A per-key timer: `due(state)` says when (epoch ms, event time) `fire(state, now_ms)`
    has work; `event_time(item)` is an input item's event time.

    Live flows fire it on the stream's clock (`StreamClock`): the event time the worker has
    reached, running on with the wall clock while no events come. A flow catching up on a
    backlog so never fires a timer before the events that precede it were read. Strict
    (replay) flows fire it only at the end of input, with `now_ms=None`, so that their
    outputs never depend on how fast the replay ran.
    """

    due: Callable[[S], int | None]
    fire: Callable[[S, int | None], tuple[S, list[W]]]
    event_time: Callable[[X], int]


IDLE_AFTER_S = 5.0
"""A stream quiet for this long is idle: its clock runs on with the wall clock."""


class StreamClock:
    """The event time a worker's stream has reached; after `IDLE_AFTER_S` without progress it
    advances with the wall clock (a quiet shop's reward windows still end)."""

    __slots__ = ("_at_ms", "_moved_at")

    def __init__(self) -> None:
        self._at_ms = 0
        self._moved_at = time.monotonic()

    def saw(self, event_ms: int) -> None:
        if event_ms > self._at_ms:
            self._at_ms = event_ms
            self._moved_at = time.monotonic()

    def now_ms(self) -> int:
        wall_ms = int(time.time() * 1000)
        if self._at_ms == 0:
            return wall_ms
        quiet_s = time.monotonic() - self._moved_at
        if quiet_s < IDLE_AFTER_S:
            return min(self._at_ms, wall_ms)
        return min(self._at_ms + int((quiet_s - IDLE_AFTER_S) * 1000), wall_ms)


# One clock per ordered step build and worker thread (see `_HIGHEST_EPOCH` for the key).
_CLOCKS: dict[tuple[str, int], StreamClock] = {}


# Highest epoch each ordered step of each built flow has seen on each worker thread. Keyed by
# a per-build token, not the step id: a later flow in the same process (tests, benchmarks)
# starts again at epoch 1 and must not inherit an earlier run's epochs.
_HIGHEST_EPOCH: dict[tuple[str, int], int] = {}


class _EpochSorted(StatefulBatchLogic[X, W, Any], Generic[X, W, S]):
    def __init__(
        self,
        epoch_key: str,
        step: Step,
        sort_key: Callable[[X], Any],
        resume: tuple[S | None, dict[int, list[X]]] | None,
        flush_after: timedelta | None,
        strict: bool,
        timer: Timer[S, X, W] | None = None,
    ) -> None:
        self.epoch_key = epoch_key
        self.strict = strict
        self.timer = timer
        self.step = step
        self.sort_key = sort_key
        self.flush_after = flush_after
        self.state, self.buffer = resume if resume is not None else (None, {})

    def _highest(self) -> int:
        return _HIGHEST_EPOCH.get((self.epoch_key, threading.get_ident()), 0)

    def _release(self, below: int | None) -> tuple[list[W], bool]:
        out: list[W] = []
        for epoch in sorted(e for e in self.buffer if below is None or e < below):
            for item in sorted(self.buffer.pop(epoch), key=self.sort_key):
                self.state, emitted = self.step(self.state, item)
                out.extend(emitted)
        done = self.state is None and not self.buffer
        return out, StatefulBatchLogic.DISCARD if done else StatefulBatchLogic.RETAIN

    def on_batch(self, values: list[X]) -> tuple[Iterable[W], bool]:
        top = 0
        for value in values:
            epoch = value.epoch  # type: ignore[attr-defined]
            self.buffer.setdefault(epoch, []).append(value)
            top = max(top, epoch)
        where = (self.epoch_key, threading.get_ident())
        if top > _HIGHEST_EPOCH.get(where, 0):
            _HIGHEST_EPOCH[where] = top
        if self.timer is not None and not self.strict:
            clock = self._clock()
            for value in values:
                clock.saw(self.timer.event_time(value))
        return self._release(below=self._highest() if self.strict else None)

    def _clock(self) -> StreamClock:
        where = (self.epoch_key, threading.get_ident())
        clock = _CLOCKS.get(where)
        if clock is None:
            clock = _CLOCKS[where] = StreamClock()
        return clock

    def on_notify(self) -> tuple[Iterable[W], bool]:
        out, keep = self._release(below=self._highest())
        if self.timer is not None and not self.strict and self.state is not None:
            now_ms = self._clock().now_ms()
            due = self.timer.due(self.state)
            if due is not None and due <= now_ms:
                self.state, fired = self.timer.fire(self.state, now_ms)
                out.extend(fired)
        return out, keep

    def on_eof(self) -> tuple[Iterable[W], bool]:
        out, keep = self._release(below=None)
        # A replay's input has ended for good; a live flow stopped at the end of its topics
        # (`--no-tail`) has not: its pending decisions stay open for the next run.
        if self.timer is not None and self.strict and self.state is not None:
            self.state, fired = self.timer.fire(self.state, None)
            out.extend(fired)
        return out, keep

    def notify_at(self) -> datetime | None:
        at = None
        if self.buffer and self.flush_after is not None:
            at = datetime.now(UTC) + self.flush_after
        if self.timer is not None and not self.strict and self.state is not None:
            due = self.timer.due(self.state)
            if due is not None:
                # As if the stream's clock ran at wall speed from here: exact when live, never
                # early on a backlog (a timer looked at too soon just asks again).
                ahead_ms = max(0, due - self._clock().now_ms())
                when = datetime.now(UTC) + timedelta(milliseconds=ahead_ms)
                at = when if at is None else min(at, when)
        return at

    def snapshot(self) -> tuple[S | None, dict[int, list[X]]]:
        return (self.state, {epoch: list(items) for epoch, items in self.buffer.items()})


def epoch_key_for(step_id: str) -> str:
    """A key of its own for each build of an ordered step (see `_HIGHEST_EPOCH`)."""
    return f"{step_id}:{uuid.uuid4().hex}"


def _stamp_epoch(_step: str, item: tuple[str, Any], epoch: int, _worker: int) -> None:
    item[1].epoch = epoch


def ordered_stateful(
    step_id: str,
    up: KeyedStream[X],
    step: Step,
    sort_key: Callable[[X], Any],
    flush_after: timedelta | None = None,
    strict: bool = True,
    timer: Timer[Any, X, W] | None = None,
) -> KeyedStream[W]:
    """Like `op.stateful_flat_map`, but each key sees its items sorted by `sort_key` per epoch.

    Items must have a writable `epoch` attribute. `strict=False` trades the guarantee for
    latency: each batch is released at once, sorted within itself (live traffic, where
    arrival order is the truth anyway). `flush_after` releases a closed epoch after that much
    wall-clock time even if no later item arrives for the key; leave it None where outputs
    must not depend on timing. `timer` gives each key's state a clock (see `Timer`).
    """
    stamped: Stream[tuple[str, X]] = op.inspect_debug(f"{step_id}_epoch", up, _stamp_epoch)
    epoch_key = epoch_key_for(step_id)
    return op.stateful_batch(
        step_id,
        stamped,
        lambda resume: _EpochSorted(epoch_key, step, sort_key, resume, flush_after, strict, timer),
    )
