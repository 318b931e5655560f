"""A keyed step that processes each key's items in one total order, whatever the workers.

Bytewax hands a stateful step the items of one epoch in arrival order, and with several
workers that order depends on thread scheduling. This step buffers items per epoch; when a
later epoch reaches the worker (Bytewax only processes epoch e after every earlier epoch is
closed), it releases every key's earlier epochs in one sweep: key after key in the order of
their earliest item, each key's items sorted by a deterministic key, then the timers the
sweep's event time has reached. With `epoch_interval=0` and fixed-size source batches, batch
k of each input partition is epoch k + 1, so the outputs are the same with any worker count.
A key whose next event comes days later so never waits for it (or for the end of input).

Live flows order by the stream's watermark instead (`Watermarked`): each key's items are held
until every input partition has been read past their event time (less the allowed lateness),
then applied in event-time order, so a backlog caught up after a crash across seven topics is
applied as it happened, and the result matches a replay of the same events.
"""

from __future__ import annotations

import heapq
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

import bytewax.operators as op
from bytewax.dataflow import Stream, operator
from bytewax.operators import KeyedStream, StatefulBatchLogic
from insession.flows.worker_threads import keep_thread_state
from insession.operators.event_clock import EventClock, HeldBack

S = TypeVar("S")
X = TypeVar("X")
W = TypeVar("W")

Step = Callable[[S | None, X], tuple[S | None, list[W]]]
Finish = Callable[[S | None, list[W]], list[W]]
"""Called with a key's state and what one release of its items emitted: work done once per
batch instead of once per item (e.g. the person's shelf after their last product event)."""


@dataclass(frozen=True, slots=True)
class Timer(Generic[S, X, W]):
    """A per-key timer: `due(state)` says when (epoch ms, event time) `fire(state, now_ms)`
    has work; `event_time(item)` is an input item's event time.

    Live flows fire it on the stream's watermark (`EventClock`): the event time every input
    partition has reached. A flow catching up on a backlog (or resuming from a snapshot)
    so never fires a timer before the events that precede it were read, and one event dated
    in the future moves nobody's clock. Replays fire it when a new epoch reaches the worker
    (after a strict step's sweep), at the earliest event time the epochs before it brought:
    whatever a partition holds after them is no earlier (in a recording of ordered
    partitions), and one event dated years ahead fires nothing, so a replay's outputs never
    depend on how fast it ran. At the end of their input strict steps fire it with
    `now_ms=None`.
    """

    due: Callable[[S], int | None]
    fire: Callable[[S, int | None], tuple[S, list[W]]]
    event_time: Callable[[X], int]
    idle: bool = False
    """Live: `due` measures idleness, so it counts from when the key's events came (in stream
    time), not from when they happened: a session read days behind the watermark is not idle
    the moment it is applied. (A deadline, such as a reward window, counts from the event.)"""


@dataclass(frozen=True, slots=True)
class Watermarked(Generic[X]):
    """Live ordering: hold each key's items until the watermark passes their event time, then
    apply them in `sort_key` order, so a backlog read from several topics at once is applied
    as it happened. `max_hold_ms` bounds the wait when a partition stops moving."""

    clock: EventClock
    event_time: Callable[[X], int]
    max_hold_ms: int = 10_000
    holds: HeldBack | None = None
    """Where this step tells the next one what it still holds back."""
    after: HeldBack | None = None
    """What the step before this one still holds back: nothing later is applied first."""

    def threshold(self) -> int | None:
        """Items at or before this event time may be applied now (None: none may)."""
        watermark = self.clock.watermark()
        if watermark is None or self.after is None:
            return watermark
        upstream = self.after.earliest()
        return watermark if upstream is None else min(watermark, upstream - 1)


@dataclass(frozen=True, slots=True)
class Crossing(Generic[X]):
    """How a step's items travel to the worker that owns their key: `pack`ed into plain
    values where they are (cheap to pickle), `unpack`ed on arrival. About half the items of a
    keyed step cross to another process when there are two."""

    pack: Callable[[X], Any]
    unpack: Callable[[Any], X]


RECHECK_MS = 50
"""How often a key with held items asks again while some partition is behind."""

BACKLOG_MS = 1_000
"""A watermark further behind the wall clock than this is reading a backlog (a catch-up, a
`--from-beginning`): held items wait for it at its pace, not at the wall clock's."""

BACKLOG_RECHECK_MS = 1_000
"""The longest a key with held items waits for a look while a backlog is read (the
watermark's pace is a guess: one that comes late delays those items, never reorders them)."""


class _ReplayWorker:
    """What one build's replay step shares on one worker thread: the highest epoch seen, the
    keys holding items (strict steps), the earliest event time each epoch brought (the
    timers' clock), and the keys' timers (a heap of (due, sequence, key))."""

    __slots__ = ("earliest", "ended", "highest", "holding", "pushed", "timers")

    def __init__(self) -> None:
        self.highest = 0
        self.holding: dict[int, _EpochSorted[Any, Any, Any]] = {}
        self.earliest: dict[int, int] = {}
        self.timers: list[tuple[int, int, _EpochSorted[Any, Any, Any]]] = []
        self.pushed = 0
        self.ended = False

    def saw(self, epoch: int, event_ms: int) -> None:
        if event_ms < self.earliest.get(epoch, event_ms + 1):
            self.earliest[epoch] = event_ms

    def sweep(self, below: int | None) -> list[Any]:
        """Release every held epoch before `below` (all: None), key after key in the order of
        their earliest item."""
        ready = []
        for logic in self.holding.values():
            first = logic.first_held(below)
            if first is not None:
                ready.append((first, logic))
        ready.sort(key=lambda pair: pair[0])
        out: list[Any] = []
        for _, logic in ready:
            out.extend(logic.release_strict(below))
        return out

    def advance(self, top: int) -> list[Any]:
        """Epoch `top` has come: fire the timers due by the earliest event time the epochs
        before it brought."""
        times = [self.earliest.pop(epoch) for epoch in list(self.earliest) if epoch < top]
        return self.fire(min(times)) if times else []

    def schedule(self, logic: _EpochSorted[Any, Any, Any], due: int) -> None:
        """Look at `logic`'s timer at `due` (an earlier look already queued stands)."""
        if logic.queued_due is not None and logic.queued_due <= due:
            return
        logic.queued_due = due
        self.pushed += 1
        heapq.heappush(self.timers, (due, self.pushed, logic))

    def fire(self, now_ms: int) -> list[Any]:
        out: list[Any] = []
        while self.timers and self.timers[0][0] <= now_ms:
            due, _, logic = heapq.heappop(self.timers)
            if logic.queued_due != due:
                continue  # a later look replaced this one
            logic.queued_due = None
            out.extend(logic.fire_strict(now_ms))
        return out


# What each replay step of each built flow shares on each worker thread. Keyed by a per-build
# token, not the step id: a later flow in the same process (tests, benchmarks) starts again at
# epoch 1 and must not inherit an earlier run's epochs or keys.
_WORKERS: dict[tuple[str, int], _ReplayWorker] = {}


def _replay_worker(epoch_key: str) -> _ReplayWorker:
    where = (epoch_key, threading.get_ident())
    worker = _WORKERS.get(where)
    if worker is None:
        worker = _WORKERS[where] = _ReplayWorker()
    return worker


class _EpochSorted(StatefulBatchLogic[X, W, Any], Generic[X, W, S]):
    def __init__(
        self,
        epoch_key: str,
        step: Step,
        sort_key: Callable[[X], Any],
        resume: tuple[S | None, dict[int, list[X]]] | None,
        strict: bool,
        timer: Timer[S, X, W] | None = None,
        watermarked: Watermarked[X] | None = None,
        finish: Finish | None = None,
        unpack: Callable[[Any], X] | None = None,
    ) -> None:
        keep_thread_state()
        self.unpack = unpack
        self.finish = finish
        self.strict = strict
        self.timer = timer
        self.step = step
        self.sort_key = sort_key
        self.watermarked = watermarked
        self.state, self.buffer = resume if resume is not None else (None, {})
        self._earliest: int | None = None
        """Live: the earliest event time held (None: not known, `_earliest_held` finds it)."""
        # Live: when each held epoch's items arrived (monotonic s); restored ones count from now.
        self.held_since: dict[int, float] = dict.fromkeys(self.buffer, time.monotonic())
        self.queued_due: int | None = None
        # Live: how far behind the watermark the key's last applied events were (ms).
        self.lateness = 0
        self.worker = _replay_worker(epoch_key) if watermarked is None else None
        if self.worker is not None:
            if self.buffer:
                self.worker.holding[id(self)] = self
            self._schedule()

    def first_held(self, below: int | None) -> Any:
        """The sort key of the earliest item held in epochs before `below` (None: none)."""
        keys = [
            self.sort_key(item)
            for epoch, items in self.buffer.items()
            if below is None or epoch < below
            for item in items
        ]
        return min(keys, default=None)

    def release_strict(self, below: int | None) -> list[W]:
        """A sweep's part for this key: its epochs before `below`, in order."""
        assert self.worker is not None
        out, _ = self._release(below)
        if not self.buffer:
            self.worker.holding.pop(id(self), None)
        self._schedule()
        return out

    def fire_strict(self, now_ms: int) -> list[W]:
        """The timer, at a sweep's event time, if it is due."""
        if self.timer is None or self.state is None:
            return []
        due = self.timer.due(self.state)
        if due is None or due > now_ms:
            self._schedule()
            return []
        self.state, fired = self.timer.fire(self.state, now_ms)
        self._schedule(after=now_ms)
        return fired

    def _schedule(self, after: int | None = None) -> None:
        """Queue the next look at this key's timer (strict steps; never at or before `after`,
        so a timer that could not act now is looked at again at the next sweep)."""
        if self.worker is None or self.timer is None or self.state is None:
            return
        due = self.timer.due(self.state)
        if due is not None:
            self.worker.schedule(self, due if after is None else max(due, after + 1))

    def _release(self, below: int | None) -> tuple[list[W], bool]:
        out: list[W] = []
        for epoch in sorted(e for e in self.buffer if below is None or e < below):
            for item in sorted(self.buffer.pop(epoch), key=self.sort_key):
                self.state, emitted = self.step(self.state, item)
                out.extend(emitted)
        self.held_since.clear()
        if out and self.finish is not None:
            out = self.finish(self.state, out)
        return out, self._keep()

    def _keep(self) -> bool:
        done = self.state is None and not self.buffer
        return StatefulBatchLogic.DISCARD if done else StatefulBatchLogic.RETAIN

    def _release_watermarked(self, marks: Watermarked[X], *, final: bool) -> list[W]:
        """Apply, in order, every held item the watermark has passed (all of them at the end
        of input, and those held longer than `max_hold_ms`)."""
        if not self.buffer:
            return []
        watermark = marks.threshold()
        held_out = time.monotonic() - marks.max_hold_ms / 1000
        self._earliest = None
        ready: list[X] = []
        for epoch in list(self.buffer):
            items = self.buffer[epoch]
            if final or self.held_since.get(epoch, 0.0) <= held_out:
                ready.extend(items)
                del self.buffer[epoch]
                self.held_since.pop(epoch, None)
            elif watermark is not None:
                keep = [item for item in items if marks.event_time(item) > watermark]
                if len(keep) < len(items):
                    ready.extend(item for item in items if marks.event_time(item) <= watermark)
                    if keep:
                        self.buffer[epoch] = keep
                    else:
                        del self.buffer[epoch]
                        self.held_since.pop(epoch, None)
        if marks.holds is not None:
            marks.holds.hold(id(self), self._earliest_held(marks))
        if ready and watermark is not None and self.timer is not None and self.timer.idle:
            newest = max(marks.event_time(item) for item in ready)
            self.lateness = max(0, watermark - newest)
        out: list[W] = []
        for item in sorted(ready, key=self.sort_key):
            self.state, emitted = self.step(self.state, item)
            out.extend(emitted)
        if out and self.finish is not None:
            out = self.finish(self.state, out)
        return out

    def _earliest_held(self, marks: Watermarked[X]) -> int | None:
        if self._earliest is None:
            self._earliest = min(
                (marks.event_time(i) for items in self.buffer.values() for i in items),
                default=None,
            )
        return self._earliest

    def _nothing_to_release(self, marks: Watermarked[X]) -> bool:
        """Live: whether a look now would release nothing (the watermark is before every held
        item and none has waited `max_hold_ms`): most looks while a backlog is read."""
        earliest = self._earliest_held(marks)
        if earliest is None:
            return True
        watermark = marks.threshold()
        if watermark is not None and earliest <= watermark:
            return False
        oldest = min(self.held_since.values(), default=None)
        return oldest is None or oldest > time.monotonic() - marks.max_hold_ms / 1000

    def on_batch(self, values: list[X]) -> tuple[Iterable[W], bool]:
        if self.unpack is not None:
            values = list(map(self.unpack, values))
        top = 0
        for value in values:
            epoch = value.epoch  # type: ignore[attr-defined]
            self.buffer.setdefault(epoch, []).append(value)
            top = max(top, epoch)
        if self.watermarked is not None:
            arrived = time.monotonic()
            for value in values:
                self.held_since.setdefault(value.epoch, arrived)  # type: ignore[attr-defined]
            out = self._release_watermarked(self.watermarked, final=False)
            out.extend(self._fire_timer(self.watermarked))
            return out, self._keep()
        worker = self.worker
        assert worker is not None
        if self.timer is not None:
            for value in values:
                worker.saw(value.epoch, self.timer.event_time(value))  # type: ignore[attr-defined]
        out: list[W] = []
        if self.strict:
            worker.holding[id(self)] = self
        else:
            out, _ = self._release(below=None)
            self._schedule()
        if top > worker.highest:
            worker.highest = top
            if self.strict:
                out = worker.sweep(below=top)
            out.extend(worker.advance(top))
        return out, self._keep()

    def _fire_timer(self, marks: Watermarked[X]) -> list[W]:
        if self.timer is None or self.state is None:
            return []
        watermark = marks.threshold()
        due = self._live_due()
        if watermark is None or due is None or due > watermark:
            return []
        self.state, fired = self.timer.fire(self.state, watermark)
        return fired

    def _live_due(self) -> int | None:
        """The timer's due time; an idleness timer's later by how late the key's last events
        came (see `Timer.idle`)."""
        assert self.timer is not None and self.state is not None
        due = self.timer.due(self.state)
        if due is None or not self.timer.idle:
            return due
        return due + self.lateness

    def on_notify(self) -> tuple[Iterable[W], bool]:
        if self.watermarked is not None:
            if self._nothing_to_release(self.watermarked):
                return self._fire_timer(self.watermarked), self._keep()
            out = self._release_watermarked(self.watermarked, final=False)
            out.extend(self._fire_timer(self.watermarked))
            return out, self._keep()
        return [], self._keep()

    def on_eof(self) -> tuple[Iterable[W], bool]:
        if self.watermarked is not None:
            # A live flow stopped at the end of its topics (`--no-tail`): what it holds is
            # applied; pending decisions stay open for the next run.
            return self._release_watermarked(self.watermarked, final=True), self._keep()
        worker = self.worker
        assert worker is not None
        if not self.strict:
            return self._release(below=None)
        out = []
        if not worker.ended:
            # The first key to hear of the end releases what every key holds, in order.
            worker.ended = True
            out = worker.sweep(below=None)
            worker.timers.clear()  # from here on each key's timer fires at its own end
        # A replay's input has ended for good: every pending decision closes.
        if self.timer is not None and self.state is not None:
            self.state, fired = self.timer.fire(self.state, None)
            out.extend(fired)
        return out, self._keep()

    def notify_at(self) -> datetime | None:
        marks = self.watermarked
        if marks is None:
            return None
        ahead: list[int] = []
        wall_ms = marks.clock.wall_ms()
        watermark = marks.threshold()
        # Caught up, the watermark runs with the wall clock: a wait computed from it is exact.
        # Behind, nothing says when it moves: ask again soon.
        running = watermark is not None and watermark >= wall_ms - marks.clock.lateness_ms - 5
        earliest = self._earliest_held(marks) if self.buffer else None
        if earliest is not None:
            wait = earliest + marks.clock.lateness_ms - wall_ms + 1
            if running:
                ahead.append(wait)
            elif watermark is not None and watermark < wall_ms - BACKLOG_MS:
                # Reading a backlog, the wall clock says nothing: the items' times are long
                # past it, and asking "in -3 hours" meant every millisecond (six empty looks
                # per event). The watermark's own pace says when it passes them.
                guess = marks.clock.wall_wait_ms(earliest, watermark)
                ahead.append(min(BACKLOG_RECHECK_MS, max(RECHECK_MS, guess)))
            else:  # a partition a little behind: it may report any moment
                ahead.append(min(wait, RECHECK_MS))
            ahead.append(marks.max_hold_ms)
        if self.timer is not None and self.state is not None:
            due = self._live_due()
            if due is not None:
                # At the watermark's pace: exact when caught up; while a backlog is read (or
                # after a restart) soon enough, not days late (too soon just asks again).
                ahead.append(marks.clock.wall_wait_ms(due, watermark))
        if not ahead:
            return None
        return datetime.now(UTC) + timedelta(milliseconds=max(1, min(ahead)))

    def snapshot(self) -> tuple[S | None, dict[int, list[X]]]:
        return (self.state, {epoch: list(items) for epoch, items in self.buffer.items()})


def epoch_key_for(step_id: str) -> str:
    """A key of its own for each build of an ordered step (see `_WORKERS`)."""
    return f"{step_id}:{uuid.uuid4().hex}"


def _stamp_epoch(_step: str, item: tuple[str, Any], epoch: int, _worker: int) -> None:
    item[1].epoch = epoch


@operator
def ordered_stateful(
    step_id: str,
    up: KeyedStream[X],
    step: Step,
    sort_key: Callable[[X], Any],
    strict: bool = True,
    timer: Timer[Any, X, W] | None = None,
    watermarked: Watermarked[X] | None = None,
    finish: Finish | None = None,
    crossing: Crossing[X] | None = None,
) -> KeyedStream[W]:
    """Like `op.stateful_flat_map`, but each key sees its items sorted by `sort_key` per epoch.

    Items must have a writable `epoch` attribute. `strict=False` trades the guarantee for
    latency: each batch is released at once, sorted within itself. `timer` gives each key's
    state a clock (see `Timer`). `watermarked` (live flows) holds items until the stream's
    watermark passes them instead, and fires the timer on that watermark (see
    `Watermarked`). `finish` sees what each release of a key's items emitted (see
    `Finish`). `crossing` says how items travel to the worker that owns their key (see
    `Crossing`).
    """
    stamped: Stream[tuple[str, Any]] = op.inspect_debug("epoch", up, _stamp_epoch)
    if crossing is not None:
        stamped = op.map_value("pack", stamped, crossing.pack)
    epoch_key = epoch_key_for(step_id)
    unpack = crossing.unpack if crossing is not None else None
    return op.stateful_batch(
        "ordered",
        stamped,
        lambda resume: _EpochSorted(
            epoch_key,
            step,
            sort_key,
            resume,
            strict,
            timer,
            watermarked,
            finish,
            unpack,
        ),
    )
