"""Bytewax recovery for `insession run`: snapshots of keyed state and input offsets.

A recovery directory holds SQLite partitions that Bytewax writes a snapshot into at the end
of every epoch (`epoch_ms`). A flow started on a directory that has snapshots resumes from
the last complete one: each input partition from its snapshotted offset, each customer's,
device's and offer model arm's state as it was. Outputs after that snapshot are produced
again; offers keep their ids, and the offer ledger (`insession.offer_ledger`) resends each
id's first content, so storefronts see duplicates they drop, never a second version.
"""

from __future__ import annotations

from pathlib import Path

from bytewax.recovery import init_db_dir


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
