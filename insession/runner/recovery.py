"""Bytewax recovery for `insession run`: snapshots of keyed state and input offsets.

A recovery directory holds SQLite partitions that Bytewax writes a snapshot into at the end
of every epoch (`epoch_ms`). A flow started on a directory that has snapshots resumes from
the last complete one: each input partition from its snapshotted offset, each customer's,
device's and offer model arm's state as it was. Outputs after that snapshot are produced
again; offers keep their ids, and the offer ledger (`insession.offer_ledger`) resends each
id's first content, so storefronts see duplicates they drop, never a second version.

Erasure. When a key's state is dropped (an erased customer, their devices' links), Bytewax
writes a last row for the key with no state and keeps it for good: a row naming the key. And
SQLite leaves deleted rows' bytes in free pages. `scrub_snapshots` deletes such rows once no
older row of their key is left (Bytewax has collected those, so the row says nothing a
missing row would not), then rewrites the partition (`VACUUM`) and empties its write-ahead
log, so no byte of the erased state stays in the directory. `SnapshotScrubber` runs it
shortly after each erasure, once the snapshot that dropped the state has been written.
"""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import orjson
from bytewax.recovery import init_db_dir

log = logging.getLogger(__name__)


def prepare_recovery(directory: Path, partitions: int) -> bool:
    """Create the recovery partitions unless there are some; True when resuming from them.

    Partitions are created once; more workers later can still resume from them (Bytewax
    routes state by key to whichever partition holds it).
    """
    if partitions < 1:
        raise ValueError(f"recovery partitions must be >= 1, got {partitions}")
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"recovery directory {directory} is a file")
    existing = sorted(directory.glob("part-*.sqlite3")) if directory.is_dir() else []
    if existing:
        return True
    directory.mkdir(parents=True, exist_ok=True)
    init_db_dir(directory, partitions)
    return False


_DROPPED = """
    snaps.ser_change IS NULL AND NOT EXISTS (
        SELECT 1 FROM snaps AS older
        WHERE older.step_id = snaps.step_id AND older.state_key = snaps.state_key
          AND older.snap_epoch < snaps.snap_epoch
    )
"""
"""A dropped key's last row with nothing older of the key left: safe to delete."""

_WAITING = """
    snaps.ser_change IS NULL AND EXISTS (
        SELECT 1 FROM snaps AS older
        WHERE older.step_id = snaps.step_id AND older.state_key = snaps.state_key
          AND older.snap_epoch < snaps.snap_epoch
    )
"""
"""A dropped key whose older rows Bytewax has not collected yet."""

BUSY_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class ScrubReport:
    """What a scrub did: dropped keys' rows deleted, and dropped keys still awaiting Bytewax's
    collection of their older rows (scrub again later)."""

    deleted: int
    waiting: int


def scrub_snapshots(directory: Path) -> ScrubReport:
    """Delete dropped keys' rows and rewrite every recovery partition, leaving no bytes of
    deleted rows behind. Safe while another process's Bytewax writes to them (SQLite locks;
    Bytewax waits), but never from the process running the flow: Bytewax links a SQLite of
    its own, and two SQLite libraries in one process break each other's file locks (a killed
    flow then left a malformed database, found by bench/soak.py). A running flow scrubs
    through `scrub_in_child`."""
    deleted = waiting = 0
    for part in sorted(directory.glob("part-*.sqlite3")):
        with closing(sqlite3.connect(part, timeout=BUSY_TIMEOUT_S, isolation_level=None)) as db:
            db.execute("PRAGMA secure_delete = ON")
            deleted += db.execute(f"DELETE FROM snaps WHERE {_DROPPED}").rowcount
            waiting += db.execute(f"SELECT count(*) FROM snaps WHERE {_WAITING}").fetchone()[0]
            db.execute("VACUUM")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return ScrubReport(deleted, waiting)


def scrub_in_child(directory: Path, timeout_s: float = 120.0) -> ScrubReport:
    """`scrub_snapshots` in a child process (see there why); raises sqlite3.Error if it failed."""
    code = (
        "import sys, orjson; from pathlib import Path; "
        "from insession.runner.recovery import scrub_snapshots; "
        "r = scrub_snapshots(Path(sys.argv[1])); "
        "print(orjson.dumps([r.deleted, r.waiting]).decode())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(directory)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise sqlite3.Error(f"scrub process exited {done.returncode}: {last[0]}")
    deleted, waiting = orjson.loads(done.stdout)
    return ScrubReport(int(deleted), int(waiting))


class SnapshotScrubber:
    """Scrubs a recovery directory after erasures, from a thread of its own.

    `erased()` asks for a scrub `delay_s` later (enough epochs for the snapshot that dropped
    the customer's state to be written and its older rows collected); while dropped keys still
    wait for collection it scrubs again, up to `attempts` times. Erasures that come while one
    is pending share its scrub. `stop()` (after the flow has stopped) scrubs once more if an
    erasure is not yet scrubbed clean.
    """

    def __init__(self, directory: Path, delay_s: float, attempts: int = 10) -> None:
        self.directory = directory
        self.delay_s = delay_s
        self.attempts = attempts
        self.scrubs = 0
        self._dirty = False
        self._wanted = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def erased(self) -> None:
        """A customer was erased: their dropped state is to be scrubbed from the snapshots."""
        self._dirty = True
        self._wanted.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="recovery-scrub", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stopping.set()
        self._wanted.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._dirty:
            self._scrub()

    def _scrub(self) -> ScrubReport | None:
        self._wanted.clear()
        dirty_before = self._dirty
        self._dirty = False
        try:
            report = scrub_in_child(self.directory)
        except (
            sqlite3.Error,
            subprocess.TimeoutExpired,
        ) as error:  # the next erasure, or the next start, tries again
            log.error("recovery scrub failed (%s); the next erasure or start tries again", error)
            self._dirty = dirty_before
            return None
        self.scrubs += 1
        if report.waiting:
            self._dirty = True
        return report

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wanted.wait()
            for _ in range(self.attempts):
                if self._stopping.wait(self.delay_s):
                    return
                report = self._scrub()
                if report is None or not self._dirty:
                    break
