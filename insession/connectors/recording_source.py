"""Recordings as a Bytewax source: one partition per file, as fast as possible or paced."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from tqdm import tqdm

from insession.connectors.pacing import MAX_SPEED, Pacer, Speed, recorded_time
from insession.connectors.recorded_message import UNREADABLE_ENVELOPE
from insession.connectors.recording import RecordedMessage, read_header, read_messages
from insession.operators.routing import Inbound

DEFAULT_BATCH = 1000


class _RecordingPartition(StatefulSourcePartition[Inbound, int]):
    """One recording, read in batches; the snapshot is how many of its messages were read
    (a kcat recording's come out of line order, merged by time).

    As fast as possible, every batch holds the same number of messages; unreadable lines of a
    kcat recording ride along uncounted, so they shift no epoch and the offers are those of
    the recording without them. Paced, a batch ends at the first message not yet due, and
    Bytewax is asked to come back when it is (`next_awake`), so a waiting file never holds
    up the others.
    """

    def __init__(
        self,
        path: Path,
        batch_size: int,
        resume_read: int | None,
        pacer: Pacer | None = None,
        bar: _ProgressBar | None = None,
    ) -> None:
        self.batch_size = batch_size
        self.read = resume_read or 0
        self.pacer = pacer
        self.bar = bar
        self.recording = read_messages(path, bar.update if bar is not None else None)
        self.messages = itertools.islice(self.recording, self.read, None)
        self.waiting: RecordedMessage | None = None
        self.awake: datetime | None = None

    def next_batch(self) -> list[Inbound]:
        messages = self._next_messages() if self.pacer is None else self._due_messages(self.pacer)
        if not messages:
            if self.awake is None:
                raise StopIteration
            return []
        self.read += len(messages)
        return [_inbound(m) for m in messages]

    def _next_messages(self) -> list[RecordedMessage]:
        """A batch of messages, with the unreadable lines among them."""
        batch: list[RecordedMessage] = []
        counted = 0
        for message in self.messages:
            batch.append(message)
            counted += message.error is None
            if counted == self.batch_size:
                break
        return batch

    def _due_messages(self, pacer: Pacer) -> list[RecordedMessage]:
        """The messages due by now, at most a batch; sets when to come back for the rest."""
        due: list[RecordedMessage] = []
        self.awake = None
        while len(due) < self.batch_size:
            message = self.waiting or next(self.messages, None)
            self.waiting = None
            if message is None:
                break
            recorded = recorded_time(message)
            if recorded is not None:
                due_at = pacer.due_at(recorded)
                if due_at > pacer.clock():
                    self.waiting = message
                    self.awake = datetime.fromtimestamp(due_at, UTC)
                    break
            due.append(message)
        return due

    def next_awake(self) -> datetime | None:
        return self.awake

    def snapshot(self) -> int:
        return self.read

    def close(self) -> None:
        self.recording.close()
        if self.bar is not None:
            self.bar.release()


def _inbound(message: RecordedMessage) -> Inbound:
    """What the live source would hand on; a line that held no message is dead-lettered."""
    if message.error is None:
        return Inbound(message.topic, message.partition, message.offset, message.value, message.key)
    return Inbound(
        message.topic,
        message.partition,
        message.offset,
        message.value,
        error=message.error,
        error_reason=UNREADABLE_ENVELOPE,
    )


class _ProgressBar:
    """One bar (bytes read) for all partitions of a replay in this process.

    Partitions update it from their worker threads; it closes when the last one closes.
    """

    def __init__(self, total_bytes: int, description: str) -> None:
        self.total_bytes = total_bytes
        self.description = description
        self.bar: tqdm[None] | None = None
        self.users = 0
        self.lock = threading.Lock()

    def acquire(self) -> _ProgressBar:
        with self.lock:
            if self.bar is None:
                self.bar = tqdm(
                    total=self.total_bytes,
                    unit="B",
                    unit_scale=True,
                    desc=self.description,
                    leave=False,
                )
            self.users += 1
        return self

    def update(self, read: int) -> None:
        with self.lock:
            if self.bar is not None:
                self.bar.update(read)

    def release(self) -> None:
        with self.lock:
            self.users -= 1
            if self.users == 0 and self.bar is not None:
                self.bar.close()
                self.bar = None


class RecordingSource(FixedPartitionedSource[Inbound, int]):
    """Recordings as input, one partition per file, as fast as possible or paced.

    Messages of Kafka and kcat recordings carry their recorded topic, partition, offset and
    key, so the flow orders them, and names them in dead letters, exactly as it did live. As fast as
    possible, fixed-size batches make the flow's epochs, and so its outputs, the same on every
    run. `progress` shows one bar (bytes read) for all files.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        batch_size: int = DEFAULT_BATCH,
        *,
        speed: Speed = MAX_SPEED,
        progress: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.paths = {str(path): path for path in paths}
        for path in paths:
            read_header(path)  # a recording this insession cannot read fails here, by name
        self.batch_size = batch_size
        self.pacer = (
            None
            if speed.factor is None
            else Pacer(speed.factor, _earliest_time(self.paths.values()), clock)
        )
        self.bar = (
            _ProgressBar(sum(path.stat().st_size for path in paths), f"replay ({speed})")
            if progress
            else None
        )

    def list_parts(self) -> list[str]:
        return list(self.paths)

    def build_part(
        self, step_id: str, for_part: str, resume_state: int | None
    ) -> _RecordingPartition:
        return _RecordingPartition(
            self.paths[for_part],
            self.batch_size,
            resume_state,
            self.pacer,
            self.bar.acquire() if self.bar is not None else None,
        )


def _earliest_time(paths: Iterable[Path], look_ahead: int = 1000) -> int:
    """The earliest recorded time at the start of any file: where paced replays begin."""
    earliest: int | None = None
    for path in paths:
        messages = read_messages(path)
        try:
            for message in itertools.islice(messages, look_ahead):
                recorded = recorded_time(message)
                if recorded is not None:
                    earliest = recorded if earliest is None else min(earliest, recorded)
                    break
        finally:
            messages.close()
    return earliest or 0
