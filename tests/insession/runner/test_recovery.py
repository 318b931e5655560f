"""Scrubbing Bytewax recovery partitions: a dropped key leaves no row and no bytes behind,
and the flow still resumes from what remains."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig
from bytewax.testing import TestingSink, TestingSource, run_main

from insession.runner.recovery import SnapshotScrubber, prepare_recovery, scrub_snapshots

SECRET = "erased-customer-7"


def _count(state: str | None, value: str | None) -> tuple[str | None, str]:
    """Per key: append to the key's state; None drops it (an erasure)."""
    if value is None:
        return None, "dropped"
    state = (state or "") + value
    return state, state


def _run(directory: Path, items: list[tuple[str, str | None]]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    flow = Dataflow("scrub")
    counted = op.stateful_map("count", op.input("in", flow, TestingSource(items)), _count)
    op.output("out", counted, TestingSink(out))
    run_main(flow, epoch_interval=timedelta(0), recovery_config=RecoveryConfig(directory))
    return out


def _files_naming(directory: Path, needle: str) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if needle.encode() in p.read_bytes())


def test_a_dropped_key_leaves_nothing_in_the_recovery_files(tmp_path: Path) -> None:
    directory = tmp_path / "recovery"
    prepare_recovery(directory, 1)
    first: list[tuple[str, str | None]] = [
        *[(SECRET, f"<{SECRET} state {n}>") for n in range(3)],
        (SECRET, None),
        *[("other", "x") for _ in range(5)],
    ]
    _run(directory, first)
    assert _files_naming(directory, SECRET), "Bytewax keeps a row naming the dropped key"

    report = scrub_snapshots(directory)
    assert report.deleted == 1 and report.waiting == 0
    assert _files_naming(directory, SECRET) == []

    resumed = _run(directory, [*first, ("other", "y"), (SECRET, "z")])
    assert resumed == [("other", "xxxxxy"), (SECRET, "z")], "the rest resumes as it was"


def test_a_scrub_leaves_live_state_and_pending_drops_alone(tmp_path: Path) -> None:
    directory = tmp_path / "recovery"
    prepare_recovery(directory, 1)
    _run(directory, [("a", "1"), ("b", "2")])
    assert scrub_snapshots(directory).deleted == 0
    assert _run(directory, [("a", "1"), ("b", "2"), ("a", "3")]) == [("a", "13")]


def test_the_scrubber_scrubs_after_an_erasure_and_at_stop(tmp_path: Path) -> None:
    directory = tmp_path / "recovery"
    prepare_recovery(directory, 1)
    _run(directory, [(SECRET, "a"), (SECRET, None), ("other", "x")])
    scrubber = SnapshotScrubber(directory, delay_s=0.05)
    scrubber.start()
    assert scrubber.scrubs == 0, "nothing to do before an erasure"
    scrubber.erased()
    deadline = time.monotonic() + 10
    while scrubber.scrubs == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _files_naming(directory, SECRET) == []
    scrubber.erased()  # stopped at once after: the thread or the stop scrubs it
    scrubber.stop()
    assert scrubber.scrubs >= 2
