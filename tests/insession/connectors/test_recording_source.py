"""RecordingSource: envelopes become the messages the live flow saw, released at the chosen
speed. Pacing is checked through an injected clock: the waits it asks Bytewax for, never how
long anything took."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from insession.operators.routing import Inbound

from insession.connectors.pacing import Speed
from insession.connectors.recorded_message import UNREADABLE_ENVELOPE
from insession.connectors.recording import (
    EnvelopeWriter,
    RecordedMessage,
    RecordingHeader,
    write_recording,
)
from insession.connectors.recording_source import RecordingSource
from tests.kcat_lines import kcat_line
from tests.samples import sample_contracts

T0 = 1_764_000_000_000


class FakeClock:
    """Wall-clock seconds that only move when the test moves them."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _kafka_recording(
    path: Path, timestamps: Sequence[int | None], topic: str = "shop.cart"
) -> list[RecordedMessage]:
    messages = [
        RecordedMessage(topic, n % 2, 40 + n, stamp, f"c-{n}".encode(), b'{"n": %d}' % n)
        for n, stamp in enumerate(timestamps)
    ]
    with EnvelopeWriter(path, RecordingHeader((topic,), T0)) as writer:
        for message in messages:
            writer.write(message)
    return messages


def _drain(
    source: RecordingSource, path: Path, clock: FakeClock
) -> tuple[list[list[int]], list[float]]:
    """Run one partition as Bytewax would: call again at once, or when it asked to be woken.

    Returns the offsets of each non-empty batch and the wait (s) before each wake-up.
    """
    part = source.build_part("read", str(path), None)
    batches: list[list[int]] = []
    waits: list[float] = []
    while True:
        try:
            batch = part.next_batch()
        except StopIteration:
            break
        if batch:
            batches.append([item.offset for item in batch])
        awake = part.next_awake()
        if awake is not None:
            waits.append(awake.timestamp() - clock.now)
            clock.now = awake.timestamp()
    part.close()
    return batches, waits


def test_envelopes_come_out_as_the_messages_kafka_delivered(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl.gz"
    sent = _kafka_recording(path, [T0 + n for n in range(5)])
    part = RecordingSource([path], batch_size=2).build_part("read", str(path), None)

    batches = [part.next_batch(), part.next_batch(), part.next_batch()]

    assert [len(b) for b in batches] == [2, 2, 1], "fixed-size batches as fast as possible"
    assert [item for batch in batches for item in batch] == [
        Inbound(m.topic, m.partition, m.offset, m.value, m.key) for m in sent
    ]
    assert part.next_awake() is None
    with pytest.raises(StopIteration):
        part.next_batch()


def test_a_resumed_partition_starts_after_the_messages_it_had_read(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    _kafka_recording(path, [T0 + n for n in range(5)])
    source = RecordingSource([path], batch_size=3)
    first = source.build_part("read", str(path), None)
    first.next_batch()
    snapshot = first.snapshot()
    first.close()

    resumed = source.build_part("read", str(path), snapshot)

    assert snapshot == 3, "three messages read"
    assert [item.offset for item in resumed.next_batch()] == [43, 44]


def test_a_kcat_recording_resumes_in_its_time_order(tmp_path: Path) -> None:
    path = tmp_path / "kcat.jsonl"
    # Stored partition by partition, as kcat writes them; read merged by time.
    lines = [
        kcat_line("shop.cart", p, o, T0 + o * 2 + p, None, b"{}") for p in (0, 1) for o in range(3)
    ]
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    source = RecordingSource([path], batch_size=4)
    first = source.build_part("read", str(path), None)
    batch = first.next_batch()
    snapshot = first.snapshot()
    first.close()

    resumed = source.build_part("read", str(path), snapshot).next_batch()

    assert [(i.partition, i.offset) for i in batch] == [(0, 0), (1, 0), (0, 1), (1, 1)]
    assert [(i.partition, i.offset) for i in resumed] == [(0, 2), (1, 2)]


def test_an_unreadable_kcat_line_becomes_a_message_to_dead_letter(tmp_path: Path) -> None:
    path = tmp_path / "kcat.jsonl"
    path.write_bytes(kcat_line("shop.cart", 0, 5, T0, b"c-1", b"{}") + b"\n{cut sho\n")

    items = RecordingSource([path]).build_part("read", str(path), None).next_batch()
    good, bad = sorted(items, key=lambda item: item.error is not None)

    assert good == Inbound("shop.cart", 0, 5, b"{}", b"c-1")
    assert (bad.source, bad.partition, bad.offset, bad.raw) == ("kcat.jsonl", 0, 2, b"{cut sho")
    assert bad.error_reason == UNREADABLE_ENVELOPE
    assert bad.error is not None and bad.error.startswith(f"{path}:2: not a kcat")


def test_at_10x_the_source_waits_a_tenth_of_each_recorded_gap(tmp_path: Path) -> None:
    path = tmp_path / "gaps.jsonl"
    gaps_ms = [0, 1500, 200, 0, 3000, 750]
    stamps = [T0 + sum(gaps_ms[: n + 1]) for n in range(len(gaps_ms))]
    _kafka_recording(path, stamps)
    clock = FakeClock()

    batches, waits = _drain(RecordingSource([path], speed=Speed(10.0), clock=clock), path, clock)

    assert waits == pytest.approx([0.15, 0.02, 0.3, 0.075], abs=1e-6)
    assert batches == [[40], [41], [42, 43], [44], [45]], "no gap: released together"


def test_recorded_speed_waits_the_gaps_themselves(tmp_path: Path) -> None:
    path = tmp_path / "gaps.jsonl"
    _kafka_recording(path, [T0, T0 + 2000, T0 + 2500])
    clock = FakeClock()

    _, waits = _drain(
        RecordingSource([path], speed=Speed.parse("recorded"), clock=clock), path, clock
    )

    assert waits == pytest.approx([2.0, 0.5], abs=1e-6)


def test_files_are_paced_from_one_origin_so_they_merge_in_time_order(tmp_path: Path) -> None:
    early, late = tmp_path / "early.jsonl", tmp_path / "late.jsonl"
    _kafka_recording(early, [T0, T0 + 4000])
    _kafka_recording(late, [T0 + 1000, T0 + 3000], topic="shop.clickstream")
    clock = FakeClock(500.0)
    source = RecordingSource([early, late], speed=Speed(2.0), clock=clock)
    parts = {
        name: source.build_part("read", str(p), None)
        for name, p in (("early", early), ("late", late))
    }

    released = []
    while parts:
        for name, part in list(parts.items()):
            awake = part.next_awake()
            if awake is not None and awake.timestamp() > clock.now:
                continue
            try:
                released.extend((clock.now - 500.0, name) for _ in part.next_batch())
            except StopIteration:
                del parts[name]
        wakes = [a.timestamp() for p in parts.values() if (a := p.next_awake()) is not None]
        if wakes:
            clock.now = max(clock.now, min(wakes))

    assert [(pytest.approx(at, abs=1e-6), name) for at, name in released] == [
        (0.0, "early"),
        (0.5, "late"),
        (1.5, "late"),
        (2.0, "early"),
    ]


def test_plain_recordings_are_paced_by_event_time(tmp_path: Path) -> None:
    events = [e for e in sample_contracts() if hasattr(e, "event_time")][:3]
    events = [replace(e, event_time=T0 + n * 6000) for n, e in enumerate(events)]  # type: ignore[type-var]
    path = tmp_path / "plain.jsonl"
    write_recording(path, events)
    with path.open("ab") as handle:
        handle.write(b"{malformed: goes with the one before\n")
    clock = FakeClock()

    batches, waits = _drain(RecordingSource([path], speed=Speed(3.0), clock=clock), path, clock)

    assert waits == pytest.approx([2.0, 2.0], abs=1e-6)
    assert batches == [[1], [2], [3, 4]]


def test_unreadable_lines_ride_along_uncounted_so_the_epochs_stay_those_without_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "kcat.jsonl"
    good = [kcat_line("shop.cart", 0, n, T0 + n, None, b"{}") for n in range(5)]
    path.write_bytes(b"\n".join([good[0], b"% a note", *good[1:3], b"{cut", *good[3:]]) + b"\n")
    part = RecordingSource([path], batch_size=2).build_part("read", str(path), None)

    batches = [part.next_batch() for _ in range(3)]

    assert [sorted(i.offset for i in b if i.error is None) for b in batches] == [
        [0, 1], [2, 3], [4]
    ]  # fmt: skip
    assert sum(len(b) for b in batches) == 7, "and every unreadable line is handed on"
