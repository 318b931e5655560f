"""A recording made by the real kcat (`kcat -C -J -e`) from the real broker replays as the
recording `insession record` makes of the same topics: the same messages, headers and
order, the same offers and the same dead letters, plus one for each line that holds no
message (kcat's own notes mixed into the file, a line cut short)."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest
from confluent_kafka import Producer
from insession.schemas.codec import decode
from insession.schemas.events import INPUT_STREAMS, DeadLetter

from insession.connectors.recorded_message import UNREADABLE_ENVELOPE, Headers
from insession.connectors.recorder import StopAfter, record
from insession.connectors.recording import RecordedMessage, read_lines, read_messages
from insession.runner.replay import ReplayResult, replay_flow
from insession.settings import Settings
from insession.simulator import SimulationConfig, encode_item, key_of, simulate, stream_of
from tests.conftest import unavailable

pytestmark = [pytest.mark.kafka]

TRAFFIC = SimulationConfig(
    seed=5, customers=40, sessions_per_customer=1.5, loyal_share=0.05, malformed_rate=0.03
)
AWKWARD = [b"\xff\xfe not UTF-8", None, b"", b'{"type": "search",\n"cut']


def _headers(n: int) -> Headers:
    """Every third message carries a trace header, every seventh repeated names and a null."""
    headers: list[tuple[str, bytes | None]] = []
    if n % 3 == 0:
        headers.append(("traceparent", f"00-{n:032x}-{n:016x}-01".encode()))
    if n % 7 == 0:
        headers += [("hop", b"edge"), ("hop", b"\xff\x00"), ("empty", None)]
    return tuple(headers)


def _send(settings: Settings) -> int:
    """Simulated traffic on the input topics (malformed and awkward messages among it)."""
    producer = Producer({**settings.kafka_client(), "linger.ms": 5})
    values: list[tuple[str, bytes | None, bytes | None]] = [
        (stream_of(item), key_of(item), encode_item(item)) for item in simulate(TRAFFIC)
    ]
    values += [("clickstream", b"k", value) for value in AWKWARD]
    for n, (stream, key, value) in enumerate(values):
        producer.produce(settings.topic(stream), value, key=key, headers=list(_headers(n)))
        producer.poll(0)
    assert producer.flush(30) == 0
    return len(values)


def _kcat(settings: Settings, topic: str) -> bytes:
    """What `kcat -C -J -e` prints of a topic, from its first offset to its end."""
    done = subprocess.run(
        ["kcat", "-C", "-b", settings.bootstrap_servers, "-t", topic, "-J", "-e", "-q",
         "-o", "beginning"],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def _position(m: RecordedMessage) -> tuple[str, int, int]:
    return m.topic, m.partition, m.offset


def _letters(result: ReplayResult) -> set[tuple[object, ...]]:
    letters = [decode(line.raw) for line in read_lines(result.dead_letters_path)]
    assert all(isinstance(d, DeadLetter) for d in letters)
    return {(d.source_topic, d.source_partition, d.source_offset, d.original, d.reason,  # type: ignore[union-attr]
             d.field) for d in letters}  # fmt: skip


def test_a_kcat_recording_replays_as_insession_records(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    if shutil.which("kcat") is None:
        unavailable("kcat is not installed (scripts/bootstrap.sh installs it)")
    sent = _send(kafka_settings)
    topics = [kafka_settings.topic(stream) for stream in INPUT_STREAMS]
    native = tmp_path / "native.jsonl.gz"
    record(kafka_settings, topics, native, from_beginning=True, stop=StopAfter(sent, idle_s=60))
    # One kcat a topic, the outputs concatenated, as an engineer would record several topics.
    # kcat's end-of-partition notes are mixed in (as `2>&1` does) and the last line is cut.
    printed = b"".join(_kcat(kafka_settings, topic) for topic in topics)
    last = printed.splitlines()[-1]
    kcat = tmp_path / "kcat.jsonl"
    kcat.write_bytes(
        b"% Reached end of topic " + topics[0].encode() + b" [1] at offset 0\n"
        + printed + last[: len(last) // 2] + b"\n"
    )  # fmt: skip

    from_insession = list(read_messages(native))
    from_kcat = list(read_messages(kcat))
    replay_settings = dataclasses.replace(kafka_settings, policy="baseline", recommendations=False)
    native_replay = replay_flow([native], tmp_path / "native-out", replay_settings)
    kcat_replay = replay_flow([kcat], tmp_path / "kcat-out", replay_settings)

    readable = [m for m in from_kcat if m.error is None]
    assert len(from_insession) == sent == len(readable)
    assert [_position(m) for m in readable] == [_position(m) for m in from_insession]
    assert [(m.timestamp_ms, m.key, m.value, m.headers) for m in readable] == [
        (m.timestamp_ms, m.key, m.value, m.headers) for m in from_insession
    ]
    assert sum(1 for m in from_insession if m.headers) > sent // 3
    unreadable = [m for m in from_kcat if m.error is not None]
    assert [m.line_no for m in unreadable] == [1, len(printed.splitlines()) + 2]
    assert all(m.error and m.error.startswith(f"{kcat}:") for m in unreadable)

    assert native_replay.offers > 10
    assert kcat_replay.offers_path.read_bytes() == native_replay.offers_path.read_bytes()
    extra = _letters(kcat_replay) - _letters(native_replay)
    assert _letters(native_replay) <= _letters(kcat_replay)
    assert {(where, line, reason) for where, _, line, _, reason, _ in extra} == {
        (kcat.name, m.line_no, UNREADABLE_ENVELOPE) for m in unreadable
    }
