"""The item knowledge shared by every process and kept across restarts: a Redis stream of what
each process learned, the sink that appends the flow's observations, the thread that applies
the others'.

Layout: one stream `{prefix}items:log`, an entry per `Observation`, its one field `o` holding
`[origin, session, item, time_ms, kind, event id]` as JSON (`encode_entry`; kind `v`iew,
`c`art, `p`urchase or `f`orget; origin is the writing process). Each `XADD` trims with
`MAXLEN ~ max_entries`: the stream holds about the last `max_entries` observations of the
whole cluster (2,000,000 by default: the 200,000 sessions of `Bounds.max_sessions` at ten
events each; measured cost in docs/recommendations.md).

A process learns its own shoppers' events in its flow; `ItemLogSink` appends what they taught
(`FlowOutputs.items`) and `ItemFollower` applies what the other processes appended. At start,
`ItemLog.replay` rebuilds the knowledge from the whole stream (every origin) and returns the
event ids this process had written, so the engine does not learn twice the events Bytewax
replays after a restart.

Erasure: a `FORGET` observation travels like the others, so every process, and every replay,
forgets the session. The stream itself still holds the erased session's item entries, under
its opaque session token, until `MAXLEN` trims them: a replay learns them and then forgets
them again. Observations of an erased session that still wait in the backlog are dropped
instead of written.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import redis
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from insession.connectors.breaker import Breaker
from insession.connectors.redis_client import REDIS_ERRORS, RedisClient
from insession.connectors.writer import LINGER_S, BackgroundWriter
from insession.models.items import FORGET, Observation

DEFAULT_MAX_ENTRIES = 2_000_000
SEND_AT_MOST = 5_000
"""Entries per round trip: a backlog left by an outage goes in slices, so that no one round trip
(nor the time a failed one wastes) grows with the outage."""

_CODE = {"view": "v", "cart": "c", "purchase": "p", FORGET: "f"}
_KIND = {code: kind for kind, code in _CODE.items()}

Apply = Callable[[list[Observation]], object]
"""Takes a chunk of observations in stream order, e.g. `ItemKnowledge.learn` under its lock."""


@dataclass(slots=True)
class ItemLogCounters:
    """For the metrics: what was written, waits, was lost, and was read."""

    published: int = 0
    """Entries the stream took."""
    batches: int = 0
    """Round trips that wrote."""
    dropped: int = 0
    """Observations dropped because the backlog was full while Redis was down."""
    refused: int = 0
    """`XADD`s Redis refused (e.g. the key holds another type): dropped, not retried."""
    send_errors: int = 0
    replayed: int = 0
    """Entries `replay` applied."""
    applied: int = 0
    """Entries of other processes `catch_up` applied."""
    bad_entries: int = 0
    """Entries that are not an observation (garbled, or written by something else): skipped."""
    read_errors: int = 0
    """Reads that failed (Redis) and chunks the callback failed on."""
    last_error: str = ""


def encode_entry(seen: Observation, origin: str) -> bytes:
    """The value of the entry's one field `o`: `[origin, session, item, time_ms, kind code,
    event id]` as JSON (one field, not six: redis-py packs and parses each argument in Python,
    so six fields cost 4x the time to write and to read).

    >>> encode_entry(Observation("ses", "tent", 7, "view", "e1"), "0")
    b'["0","ses","tent",7,"v","e1"]'
    """
    return orjson.dumps(
        [origin, seen.session_id, seen.item_id, seen.time_ms, _CODE[seen.kind], seen.event_id]
    )


def decode_entry(fields: dict[bytes, bytes]) -> tuple[Observation, str]:
    """The observation and origin of an entry's fields; ValueError if they are not one.

    >>> decode_entry({b"o": b'["0","ses","tent",7,"v","e1"]'})
    (Observation(session_id='ses', item_id='tent', time_ms=7, kind='view', event_id='e1'), '0')
    """
    try:
        origin, session, item, time_ms, code, event_id = orjson.loads(fields[b"o"])
        kind = _KIND[code]
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"not an observation ({type(error).__name__}: {error})") from None
    texts = (origin, session, item, event_id)
    if not isinstance(time_ms, int) or not all(isinstance(t, str) for t in texts):
        raise ValueError("not an observation (a field of the wrong type)")
    if not session or (not item and kind != FORGET):
        raise ValueError("not an observation (no session, or no item but in a forget)")
    return Observation(session, item, time_ms, kind, event_id), origin


def _entries_of(answer: Any) -> Sequence[tuple[bytes, dict[bytes, bytes]]]:
    """The entries of an `XREAD` answer on one stream (RESP2 a list, RESP3 a dict)."""
    if not answer:
        return []
    if isinstance(answer, dict):
        return next(iter(answer.values()))[0]
    return answer[0][1]


def _entry_ms(entry_id: bytes) -> int:
    """When Redis appended the entry (its id's first part, the server's clock in ms)."""
    return int(entry_id.partition(b"-")[0])


class ItemLog:
    """The cluster's observations as one bounded Redis stream: publish, replay, catch up.

    `client` should be a fail-fast one (`redis_client.flow_client`), without decoded
    responses. `publish` never raises for Redis: while it is down, observations wait in a
    backlog of at most `max_backlog` (the oldest dropped first, and counted, but never an
    erasure), and sending waits `retry_after_s` after a failure (`Breaker`), so a dead server
    costs the flow one refused connection, and a hung one one socket timeout, per
    `retry_after_s`.
    """

    def __init__(
        self,
        client: RedisClient,
        origin: str,
        *,
        prefix: str = "insession:",
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_backlog: int = 100_000,
        chunk: int = 1_000,
        retry_after_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.origin = origin
        self.key = f"{prefix}items:log"
        self.max_entries = max_entries
        self.max_backlog = max_backlog
        self.chunk = chunk
        self.breaker = Breaker(retry_after_s, clock)
        self.counters = ItemLogCounters()
        self.last_id = "0-0"
        """The last entry read (by `replay` or `catch_up`): `catch_up` reads on from it."""
        self._backlog: list[Observation] = []
        self._lock = threading.Lock()
        self._writer: BackgroundWriter | None = None

    @property
    def pending(self) -> int:
        """Observations waiting for Redis."""
        return len(self._backlog)

    # -- writing --------------------------------------------------------------------------

    def publish(self, observations: Iterable[Observation]) -> int:
        """Append the observations (after any that wait) in one pipelined round trip; how many
        the stream took (0 while Redis is down or failed under `retry_after_s` ago)."""
        with self._lock:
            self._queue(observations)
        return self._send()

    def submit(self, observations: Iterable[Observation]) -> None:
        """Queue the observations for the background writer (`start`), which appends them
        off the caller's thread: the flow need not wait for the round trip, since nothing it
        decides depends on the stream (the other processes follow it; a restart reads it)."""
        with self._lock:
            self._queue(observations)
        if self._writer is not None:
            self._writer.wake()

    def start(self, *, interval_s: float = 0.05, linger_s: float = LINGER_S) -> None:
        """Send what `submit` queued from a daemon thread (once per log: its workers share it)."""
        with self._lock:
            if self._writer is not None:
                return
            self._writer = BackgroundWriter(
                self._send,
                "item-log-writer",
                self._failed,
                interval_s=interval_s,
                linger_s=linger_s,
            )
        self._writer.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the writer and make a last attempt to send what waits."""
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.stop(timeout_s)
        self._send()

    def _failed(self, error: Exception) -> None:
        self.counters.send_errors += 1
        self.counters.last_error = f"{type(error).__name__}: {error}"

    def _queue(self, observations: Iterable[Observation]) -> None:
        backlog = self._backlog
        for seen in observations:
            if seen.kind == FORGET and backlog:
                # What still waits of an erased session need never reach the stream.
                backlog[:] = [o for o in backlog if o.session_id != seen.session_id]
            backlog.append(seen)
        self._bound()

    def _bound(self) -> None:
        backlog = self._backlog
        excess = len(backlog) - self.max_backlog
        if excess > 0:
            # The oldest go, but never an erasure: every process must still forget the session.
            kept = [o for o in backlog[:excess] if o.kind == FORGET]
            self.counters.dropped += excess - len(kept)
            backlog[:] = kept + backlog[excess:]

    def _send(self) -> int:
        sent = 0
        while self._backlog and self.breaker.allow():
            with self._lock:
                batch = self._backlog[:SEND_AT_MOST]
                del self._backlog[:SEND_AT_MOST]
            pipe = self.client.pipeline(transaction=False)
            for seen in batch:
                fields: Any = {"o": encode_entry(seen, self.origin)}
                pipe.xadd(self.key, fields, maxlen=self.max_entries, approximate=True)
            try:
                results = pipe.execute(raise_on_error=False)
            except REDIS_ERRORS as error:
                self.breaker.failed()
                self.counters.send_errors += 1
                self.counters.last_error = str(error)
                self._put_back(batch)
                break
            # Refused now, refused again: counted and dropped, so one bad key cannot hold up
            # the log. A batch Redis took but whose answer was lost is sent again (at least once).
            refused = [r for r in results if isinstance(r, redis.ResponseError)]
            if refused:
                self.counters.refused += len(refused)
                self.counters.last_error = str(refused[0])
            self.counters.batches += 1
            self.counters.published += len(batch) - len(refused)
            sent += len(batch) - len(refused)
        return sent

    def _put_back(self, batch: list[Observation]) -> None:
        with self._lock:
            forgotten = {o.session_id for o in self._backlog if o.kind == FORGET}
            if forgotten:  # erased while the batch was in flight
                batch = [o for o in batch if o.kind == FORGET or o.session_id not in forgotten]
            self._backlog[:0] = batch
            self._bound()

    # -- reading --------------------------------------------------------------------------

    def replay(
        self, apply: Apply, *, own_origin: str | None = None, ids_since_ms: int = 0
    ) -> set[str]:
        """Apply the whole stream, oldest first, a chunk at a time; the event ids of the entries
        `own_origin` (default: this log's origin) wrote, appended at `ids_since_ms` or later
        (Redis's clock; how far back Bytewax may replay bounds what the engine needs).

        Raises `redis.RedisError` if Redis fails part-way: what was read stays applied and
        `last_id` marks where it stopped, so `catch_up` goes on from there (but skips this
        origin's entries: of those, the ones not read yet are missing from this knowledge).
        """
        own = self.origin if own_origin is None else own_origin
        ids: set[str] = set()
        start = "-"
        while True:
            entries = self.client.xrange(self.key, min=start, max="+", count=self.chunk)
            batch = []
            for entry_id, fields in entries:
                decoded = self._decode(fields)
                if decoded is None:
                    continue
                seen, origin = decoded
                batch.append(seen)
                if origin == own and seen.event_id and _entry_ms(entry_id) >= ids_since_ms:
                    ids.add(seen.event_id)
            if entries:
                self.last_id = entries[-1][0].decode()
            if batch:
                apply(batch)
                self.counters.replayed += len(batch)
            if len(entries) < self.chunk:
                return ids
            start = f"({self.last_id}"

    def catch_up(self, apply: Apply) -> int:
        """Apply the other processes' entries appended since `last_id`; how many.

        Never raises for Redis (counted in `read_errors`; the next call tries again). A chunk
        is marked read before `apply` sees it: a callback that raises on it would raise again,
        so the chunk is not retried (the caller counts the error, `ItemFollower` does).
        """
        if not self.breaker.allow():
            return 0
        applied = 0
        while True:
            try:
                answer = self.client.xread({self.key: self.last_id}, count=self.chunk)
            except REDIS_ERRORS as error:
                self.breaker.failed()
                self.counters.read_errors += 1
                self.counters.last_error = str(error)
                break
            entries = _entries_of(answer)
            if not entries:
                break
            self.last_id = entries[-1][0].decode()
            batch = []
            for _, fields in entries:
                decoded = self._decode(fields)
                if decoded is not None and decoded[1] != self.origin:
                    batch.append(decoded[0])
            if batch:
                applied += len(batch)
                self.counters.applied += len(batch)
                apply(batch)
            if len(entries) < self.chunk:
                break
        return applied

    def _decode(self, fields: dict[bytes, bytes]) -> tuple[Observation, str] | None:
        try:
            return decode_entry(fields)
        except ValueError as error:
            self.counters.bad_entries += 1
            self.counters.last_error = f"bad entry in {self.key}: {error!r}"
            return None


class ItemFollower:
    """Applies what the other processes append to the log, every `sync_every_s`, from a daemon
    thread: no decision waits on Redis. It holds no lock: `apply` takes its owner's."""

    def __init__(self, log: ItemLog, apply: Apply, *, sync_every_s: float = 1.0) -> None:
        self.log = log
        self.apply = apply
        self.sync_every_s = sync_every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sync(self) -> int:
        """One catch-up; entries applied. A callback that fails is counted, not raised."""
        try:
            return self.log.catch_up(self.apply)
        except Exception as error:  # the follower must outlive any one bad chunk
            self.log.counters.read_errors += 1
            self.log.counters.last_error = f"{type(error).__name__}: {error}"
            return 0

    def start(self) -> None:
        if self._thread is not None:
            return

        def run() -> None:
            while not self._stop.wait(self.sync_every_s):
                self.sync()

        self._thread = threading.Thread(target=run, name="item-log-follower", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)


class _ItemLogPartition(StatelessSinkPartition[Observation]):
    def __init__(self, log: ItemLog) -> None:
        self.log = log
        log.start()

    def write_batch(self, items: list[Observation]) -> None:
        self.log.submit(items)

    def close(self) -> None:
        self.log.stop()  # and a last attempt at what waits


class ItemLogSink(DynamicSink[Observation]):
    """Appends the flow's observations to the process's `ItemLog` from its background writer
    (about every 10 ms, several batches a round trip); every worker of the process shares the
    log (its backlog and its writer)."""

    def __init__(self, log: ItemLog) -> None:
        self.log = log

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _ItemLogPartition:
        return _ItemLogPartition(self.log)
