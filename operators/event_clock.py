"""The stream's clock: a watermark over the input partitions, the slowest one wins.

Time in a live flow must come from the streams, not from whichever event claims to be the
latest: one event dated decades ahead must not close every other shopper's reward window, and
a flow catching up on a backlog (or resuming from a snapshot) must not fast-forward the windows
it restored. So, as in Flink and Kafka Streams, each input partition keeps the latest event
time read from it, and the flow's watermark is the slowest of the partitions that still have
messages to read, less an allowed lateness:

- a partition whose position is not known yet holds the watermark (nothing is known);
- a partition with unread messages stands at the latest event time read from it;
- a partition read to its end is idle and holds nothing back (what it sends next is new), and
  neither does one whose input ended (`--no-tail`);
- with every partition idle, the watermark is the latest event time read anywhere, and after
  `IDLE_AFTER_S` of quiet it runs on with the wall clock, so a quiet shop's windows still end.

It never passes the wall clock. Events later than the watermark when they arrive are late:
they are applied when they come.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

Partition = tuple[str, int]
"""(topic, partition)."""

IDLE_AFTER_S = 0.5
"""Quiet for this long, with every partition read to its end, the clock follows the wall
(not at once: a partition read to the end of its last fetch in the middle of a backlog must
not move time)."""
CACHE_S = 0.002
"""The watermark is recomputed at most this often while only event times move: the steps ask
for it on every batch. A partition catching up, falling behind or ending recomputes it."""


PACE_WINDOW_MS = 2_000
"""The watermark's pace (event time per wall time) is measured over this much wall time."""


@dataclass(slots=True)
class _PartitionClock:
    latest_ms: int | None = None
    caught_up: bool = False
    ended: bool = False


class EventClock:
    """Watermarks of one flow in this process, fed by its sources and its decode step.

    Sources call `position` after every poll and `ended` at the end of their input; the decode
    step calls `saw` with each valid event's time. Steps read `watermark()`. Thread-safe for
    this use: each partition is written by one worker thread, and readers take a snapshot.

    >>> clock = EventClock(lateness_ms=0, wall=lambda: 1000.0)
    >>> clock.register(("cart", 0)); clock.register(("social", 0))
    >>> clock.watermark() is None  # nothing is known of either partition yet
    True
    >>> clock.saw(("cart", 0), 400_000); clock.position(("cart", 0), caught_up=False)
    >>> clock.saw(("social", 0), 900_000); clock.position(("social", 0), caught_up=True)
    >>> clock.watermark()  # cart's backlog holds time at what it has read
    400000
    >>> clock.position(("cart", 0), caught_up=True)
    >>> clock.watermark()  # both read to their end: the latest event time read
    900000
    """

    def __init__(self, lateness_ms: int = 0, wall: Callable[[], float] = time.time) -> None:
        self.lateness_ms = lateness_ms
        self._wall = wall
        self._partitions: dict[Partition, _PartitionClock] = {}
        self._cached: tuple[float, int | None] = (-1.0, None)
        self._started_ms = self._moved_at_ms = self.wall_ms()
        self._latest_seen: int | None = None
        self._pace = 1.0
        self._pace_since: tuple[int, int] | None = None

    def wall_ms(self) -> int:
        return int(self._wall() * 1000)

    def register(self, partition: Partition) -> None:
        """A partition this process reads: until it reports, the watermark waits for it."""
        self._partitions.setdefault(partition, _PartitionClock())
        self._stale()

    def saw(self, partition: Partition, event_ms: int) -> None:
        """A valid event read from `partition` (its clock never goes back)."""
        clock = self._partitions.get(partition)
        if clock is None:
            clock = self._partitions[partition] = _PartitionClock()
        if clock.latest_ms is None:
            self._stale()
        if clock.latest_ms is None or event_ms > clock.latest_ms:
            clock.latest_ms = event_ms

    def latest(self, partition: Partition) -> int | None:
        """The latest event time read from `partition` (what its snapshot keeps)."""
        clock = self._partitions.get(partition)
        return clock.latest_ms if clock is not None else None

    def position(self, partition: Partition, *, caught_up: bool | None) -> None:
        """After a poll: whether the partition has been read to its end (None: not known)."""
        clock = self._partitions.get(partition)
        if clock is None:
            clock = self._partitions[partition] = _PartitionClock()
        if clock.caught_up != bool(caught_up):
            clock.caught_up = bool(caught_up)
            self._stale()

    def ended(self, partition: Partition) -> None:
        """The partition's input is over; it no longer holds the watermark back."""
        clock = self._partitions.get(partition)
        if clock is None:
            clock = self._partitions[partition] = _PartitionClock()
        clock.ended = True
        self._stale()

    def _stale(self) -> None:
        """A partition changed how it counts: the next `watermark()` recomputes."""
        self._cached = (-1.0, None)

    def watermark(self) -> int | None:
        """Event time (epoch ms) up to which every partition has been read, less the allowed
        lateness; None while some partition's position is unknown."""
        now = time.monotonic()
        at, cached = self._cached
        if now - at < CACHE_S:
            return cached
        value = self._compute()
        self._cached = (now, value)
        if value is not None:
            self._track_pace(self.wall_ms(), value)
        return value

    def _track_pace(self, wall_ms: int, mark: int) -> None:
        if self._pace_since is None:
            self._pace_since = (wall_ms, mark)
            return
        since_wall, since_mark = self._pace_since
        if wall_ms - since_wall >= PACE_WINDOW_MS:
            self._pace = max(1.0, (mark - since_mark) / (wall_ms - since_wall))
            self._pace_since = (wall_ms, mark)

    def pace(self) -> float:
        """Event milliseconds the watermark has lately moved per wall-clock millisecond: 1 when
        caught up, far more while a backlog is read (never below 1)."""
        return self._pace

    def wall_wait_ms(self, event_ms: int, mark: int | None = None) -> float:
        """About how long (wall ms) until the watermark reaches `event_ms`, at its pace: so a
        timer looked at again then is neither days late while a backlog is read (the watermark
        runs ahead of the wall clock), nor early when caught up. A guess that comes early only
        costs another look. `mark`: the watermark the caller already has (a step's
        threshold), else this clock's."""
        if mark is None:
            mark = self.watermark()
        return max(0, event_ms - (mark if mark is not None else self.wall_ms())) / self._pace

    def _compute(self) -> int | None:
        wall_ms = self.wall_ms()
        slowest: int | None = None
        for clock in list(self._partitions.values()):
            if clock.ended or clock.caught_up:
                continue
            if clock.latest_ms is None:
                return None
            slowest = clock.latest_ms if slowest is None else min(slowest, clock.latest_ms)
        if slowest is None:
            slowest = self._idle_time(wall_ms)
        return min(slowest, wall_ms) - self.lateness_ms

    def _idle_time(self, wall_ms: int) -> int:
        """Every partition idle: the latest event time read, running on with the wall clock
        once nothing has moved it for `IDLE_AFTER_S` (from the start if nothing was read)."""
        latest = max(
            (c.latest_ms for c in self._partitions.values() if c.latest_ms is not None),
            default=None,
        )
        if latest != self._latest_seen:
            self._latest_seen = latest
            self._moved_at_ms = wall_ms
        base = latest if latest is not None else self._started_ms
        quiet_ms = wall_ms - self._moved_at_ms - int(IDLE_AFTER_S * 1000)
        return base + max(0, quiet_ms)

    def all_ended(self) -> bool:
        """Every registered partition's input is over (then nothing is late any more)."""
        return bool(self._partitions) and all(c.ended for c in self._partitions.values())


class HeldBack:
    """The earliest event time each key of an ordering step still holds back.

    The customer step must not apply a person's event while an earlier one of theirs still
    waits in the stitch step (keyed by device) for the watermark: it applies only what is
    earlier than everything held upstream. `earliest()` may be stale only towards the past
    (a new hold that is earlier updates it at once), so a step reading it waits, never skips.

    >>> held = HeldBack()
    >>> held.hold(1, 5_000); held.hold(2, 3_000)
    >>> held.earliest()
    3000
    >>> held.hold(2, None)  # key 2 released all it held
    >>> time.sleep(CACHE_S); held.earliest()
    5000
    """

    def __init__(self) -> None:
        self._held: dict[int, int] = {}
        self._cached: tuple[float, int | None] = (-1.0, None)

    def hold(self, owner: int, earliest_ms: int | None) -> None:
        """`owner` (one key's step) now holds nothing earlier than `earliest_ms` (None:
        nothing at all)."""
        if earliest_ms is None:
            self._held.pop(owner, None)
            return
        self._held[owner] = earliest_ms
        at, cached = self._cached
        if cached is None or earliest_ms < cached:
            self._cached = (at, earliest_ms)

    def earliest(self) -> int | None:
        """The earliest event time held anywhere upstream (None: nothing is held)."""
        now = time.monotonic()
        at, cached = self._cached
        if now - at < CACHE_S:
            return cached
        value = min(self._held.values(), default=None)
        self._cached = (now, value)
        return value
