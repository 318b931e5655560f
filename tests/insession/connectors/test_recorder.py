"""`insession record` copies what the real broker holds: every key, partition, offset,
timestamp and header, every value byte for byte, and its recordings replay with the same
positions."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, Message, Producer
from insession.schemas.codec import decode, encode
from insession.schemas.events import DeadLetter

from insession.connectors.recorded_message import Headers
from insession.connectors.recorder import RecordError, StopAfter, record
from insession.connectors.recording import read_header, read_lines, read_messages
from insession.runner.validate import replay
from insession.settings import Settings
from tests.samples import sample_contracts

T0 = (int(time.time()) // 60 - 60) * 60_000
"""An hour ago: messages stamped older than the broker's retention (7 days) are deleted by its
first retention check, about 30 s after it starts, taking the test's messages with them."""
MALFORMED = [b"\xff\xfe not UTF-8 at all", b"{not json", b"", b'{"type": "search"}\n{"type"']


Stored = dict[tuple[str, int, int], tuple[int, bytes | None, bytes, Headers]]


def _headers(n: int) -> Headers:
    """None, the usual trace header, or repeated names, a null and bytes that are not text."""
    if n % 3 == 0:
        return ()
    if n % 3 == 1:
        return (("traceparent", f"00-{n:032x}-{n:016x}-01".encode()),)
    return (("hop", b"edge"), ("hop", b"gateway"), ("null", None), ("bin", b"\xff\x00\x80"))


def _send(settings: Settings) -> Stored:
    """Known messages, some malformed, some with headers, at known times; what the broker
    says it stored (delivery reports carry no headers: those are the ones sent)."""
    stored: Stored = {}

    def delivered(headers: Headers, error: KafkaError | None, message: Message) -> None:
        assert error is None, error
        _, stamp = message.timestamp()
        key = (message.topic(), message.partition(), message.offset())
        stored[key] = (stamp, message.key(), message.value(), headers)

    producer = Producer({**settings.kafka_client()})
    values = [encode(c) for c in sample_contracts()] + MALFORMED
    for n, value in enumerate(values):
        stream = "clickstream" if n % 3 else "cart"
        key = None if n % 4 == 0 else f"c-{n}".encode() if n % 5 else b"\x80\x81"
        # Partition 1 is given earlier times than partition 0, so the two interleave in time.
        partition = n % 2
        stamp = T0 + n * 100 - partition * 1000
        producer.produce(
            settings.topic(stream),
            value,
            key=key,
            partition=partition,
            timestamp=stamp,
            headers=list(_headers(n)) or None,
            on_delivery=partial(delivered, _headers(n)),
        )
    assert producer.flush(30) == 0
    assert len(stored) == len(values)
    assert any(headers for *_, headers in stored.values())
    return stored


@pytest.mark.kafka
def test_recording_keeps_every_message_exactly(kafka_settings: Settings, tmp_path: Path) -> None:
    stored = _send(kafka_settings)
    topics = [kafka_settings.topic("clickstream"), kafka_settings.topic("cart")]
    out = tmp_path / "recorded.jsonl.gz"

    result = record(
        kafka_settings,
        topics,
        out,
        from_beginning=True,
        stop=StopAfter(messages=len(stored), idle_s=60),
    )

    messages = list(read_messages(out))
    assert result.messages == len(stored) and result.stopped == f"{len(stored)} messages"
    assert {
        (m.topic, m.partition, m.offset): (m.timestamp_ms, m.key, m.value, m.headers)
        for m in messages
    } == stored
    assert len(messages) == len(stored)
    for topic in topics:
        for partition in (0, 1):
            offsets = [m.offset for m in messages if (m.topic, m.partition) == (topic, partition)]
            assert offsets == sorted(offsets), "each partition's order kept"
    stamps = [m.timestamp_ms or 0 for m in messages]
    assert stamps == sorted(stamps), "merged in timestamp order"
    header = read_header(out)
    assert header is not None and header.topics == tuple(topics)
    assert {
        (p.topic, p.partition): (p.messages, p.first_offset, p.last_offset)
        for p in header.partitions
    } == {
        (t, p): (len(offs), min(offs), max(offs))
        for t in topics
        for p in (0, 1)
        if (offs := [o for (tt, pp, o) in stored if (tt, pp) == (t, p)])
    }
    assert not out.with_name(out.name + ".partial").exists()


@pytest.mark.kafka
def test_replayed_recording_dead_letters_name_the_recorded_position(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    stored = _send(kafka_settings)
    out = tmp_path / "recorded.jsonl"
    record(
        kafka_settings,
        [kafka_settings.topic("clickstream"), kafka_settings.topic("cart")],
        out,
        from_beginning=True,
        stop=StopAfter(messages=len(stored), idle_s=20),
    )

    summary = replay([out], tmp_path / "dead.jsonl")

    letters = [decode(line.raw) for line in read_lines(tmp_path / "dead.jsonl")]
    assert all(isinstance(d, DeadLetter) for d in letters)
    malformed = {key: value for key, (_, _, value, _) in stored.items() if value in MALFORMED}
    assert summary.bad == len(MALFORMED) == len(letters)
    assert {
        (d.source_topic, d.source_partition, d.source_offset):  # type: ignore[union-attr]
        base64.b64decode(d.original)
        for d in letters
    } == malformed  # type: ignore[union-attr]


@pytest.mark.kafka
def test_from_now_records_only_what_arrives_later(kafka_settings: Settings, tmp_path: Path) -> None:
    _send(kafka_settings)

    result = record(
        kafka_settings,
        [kafka_settings.topic("cart")],
        tmp_path / "now.jsonl",
        stop=StopAfter(idle_s=1.5),
    )

    assert result.messages == 0 and result.stopped == "idle for 1.5 s"
    assert result.empty_topics == [kafka_settings.topic("cart")]


@pytest.mark.kafka
def test_a_missing_topic_is_named(kafka_settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="topic 'no-such-topic-here' does not exist"):
        record(
            kafka_settings, ["no-such-topic-here"], tmp_path / "x.jsonl", stop=StopAfter(seconds=1)
        )


@pytest.mark.kafka
def test_cli_records_streams_by_name_and_prints_ranges(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    stored = _send(kafka_settings)
    env = {f"INSESSION_TOPIC_{s.upper()}": t for s, t in kafka_settings.topics.items()}
    env["INSESSION_BOOTSTRAP_SERVERS"] = kafka_settings.bootstrap_servers
    out = tmp_path / "cli.jsonl"

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "insession.cli",
            "record",
            "--topics",
            "cart,clickstream",
            "--out",
            str(out),
            "--from-beginning",
            "--until-idle",
            "2",
            "--no-progress",
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert f"recorded {len(stored)} messages" in done.stdout
    cart = kafka_settings.topic("cart")
    cart_offsets = sorted(o for (t, p, o) in stored if (t, p) == (cart, 0))
    assert f"{cart}  " in done.stdout and f"{cart_offsets[0]}-{cart_offsets[-1]}" in done.stdout
    assert len(list(read_messages(out))) == len(stored)
