"""kcat's JSON envelope (`kcat -C -J`) replays: the bytes kcat wrote are the message's bytes,
partitions merge in time order, and a line that holds no message is dead-lettered by file and
line while the rest replays. The lines here are written by the tests in kcat 1.7.1's own
byte layout (field order, no spaces, yajl's escapes, bytes that are not UTF-8 copied raw);
tests/integration/test_kcat_recording.py makes them with the real kcat."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from insession.schemas.codec import decode, encode
from insession.schemas.events import DeadLetter, Offer, Search

from insession.cli import main
from insession.connectors.kcat_envelope import kcat_message
from insession.connectors.recorded_message import UNREADABLE_ENVELOPE
from insession.connectors.recording import (
    EnvelopeWriter,
    RecordedMessage,
    RecordingHeader,
    read_lines,
    read_messages,
    recording_layout,
    write_recording,
)
from insession.runner.replay import replay_flow
from insession.settings import Settings
from tests.kcat_lines import kcat_line
from tests.samples import sample_contracts

T0 = 1_764_000_000_000


AWKWARD = [
    RecordedMessage("shop.clickstream", 0, 7, T0, b"c-1", encode(sample_contracts()[0])),
    RecordedMessage("shop.clickstream", 0, 8, T0 + 5, b"\x80\x81", b'\xff\xfe \x00\x1f "q" \\ /'),
    RecordedMessage("shop.clickstream", 1, 3, T0 + 1, None, None),
    RecordedMessage("shop.clickstream", 1, 4, T0 + 2, b"", b""),
    RecordedMessage("shop.clickstream", 1, 5, None, None, "caf\u00e9 \u2603\n\u2028".encode()),
    RecordedMessage(
        "shop.cart",
        0,
        0,
        T0 + 3,
        b"c-1",
        b"{}",
        headers=(("trace", b"abc"), ("bin", b"\xff\x00\x01"), ("null", None), ("trace", b"")),
    ),
]


def _write_kcat(path: Path, lines: list[bytes]) -> None:
    body = b"".join(line + b"\n" for line in lines)
    path.write_bytes(gzip.compress(body) if path.suffix == ".gz" else body)


def _kcat_lines(messages: list[RecordedMessage]) -> list[bytes]:
    return [
        kcat_line(m.topic, m.partition, m.offset, m.timestamp_ms, m.key, m.value, m.headers)
        for m in messages
    ]


@pytest.mark.parametrize("name", ["clicks.jsonl", "clicks.jsonl.gz"])
def test_kcat_lines_read_as_the_messages_the_broker_held(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    _write_kcat(path, _kcat_lines(AWKWARD))

    read = list(read_messages(path))

    assert recording_layout(path) == "kcat"
    position = {(m.topic, m.partition, m.offset): m for m in read}
    assert len(read) == len(AWKWARD) and all(m.error is None for m in read)
    for sent in AWKWARD:
        got = position[sent.topic, sent.partition, sent.offset]
        assert (got.timestamp_ms, got.key, got.value, got.headers) == (
            sent.timestamp_ms,
            sent.key,
            sent.value,
            sent.headers,
        )


any_bytes = st.one_of(st.none(), st.binary(max_size=40))


@settings(max_examples=300, deadline=None)
@given(
    key=any_bytes,
    payload=any_bytes,
    headers=st.lists(st.tuples(st.text(max_size=8), any_bytes), max_size=4),
    ts=st.one_of(st.none(), st.integers(0, 2**53)),
)
def test_any_bytes_kcat_writes_come_back_exactly(
    key: bytes | None,
    payload: bytes | None,
    headers: list[tuple[str, bytes | None]],
    ts: int | None,
) -> None:
    line = kcat_line("t", 3, 9, ts, key, payload, tuple(headers))

    message = kcat_message(Path("k.jsonl"), 1, line)

    assert message.error is None
    assert (message.timestamp_ms, message.key, message.value) == (ts, key, payload)
    assert message.headers == tuple(headers)


def test_partitions_are_merged_in_time_order_each_keeping_its_own(tmp_path: Path) -> None:
    """kcat writes partitions in runs, as its fetches return them; a replay must meet the
    messages as `insession record` would have merged them."""
    path = tmp_path / "runs.jsonl"
    # Partition 0 first, then 1; partition 1's clock is ahead; offset 2 goes back in time.
    stamps = {(0, 0): 10, (0, 1): 30, (0, 2): 20, (1, 0): 15, (1, 1): 25}
    _write_kcat(path, [kcat_line("t", p, o, T0 + s, None, b"{}") for (p, o), s in stamps.items()])

    order = [(m.partition, m.offset) for m in read_messages(path)]

    assert order == [(0, 0), (1, 0), (1, 1), (0, 1), (0, 2)]


def test_kcats_header_map_is_read_too(tmp_path: Path) -> None:
    path = tmp_path / "map.jsonl"
    path.write_bytes(
        b'{"topic":"t","partition":0,"offset":1,"broker":1,'
        b'"headers":{"hop":["a","b"],"trace":"x","none":null},"key":null,"payload":"{}"}\n'
    )

    (message,) = read_messages(path)

    assert message.headers == (("hop", b"a"), ("hop", b"b"), ("trace", b"x"), ("none", None))


GOOD = [kcat_line("shop.clickstream", 0, n, T0 + n, None, b"{}") for n in range(3)]
BAD: list[tuple[bytes, str]] = [
    (b"% Reached end of topic shop.clickstream [0] at offset 3", "not JSON"),
    (GOOD[0][:40], "not JSON"),
    (b'["topic", "partition"]', "not a JSON object"),
    (
        b'{"topic":"t","partition":"0","offset":1,"broker":1,"key":null,"payload":"{}"}',
        "topic must be text, partition and offset whole numbers",
    ),
    (
        b'{"topic":"t","partition":0,"offset":9,"broker":1,"key":null,"payload":null,'
        b'"payload_error":"Invalid CP1 magic byte 123, expected 0"}',
        "kcat could not deserialise the value: Invalid CP1 magic byte 123, expected 0 "
        "(t partition 0 offset 9)",
    ),
    (
        b'{"topic":"t","partition":0,"offset":10,"broker":1,"key":null,'
        b'"payload":{"type":"search"},"value_schema_id":1}',
        "the value is decoded JSON, not the bytes sent (kcat -s)",
    ),
    (
        b'{"topic":"t","partition":0,"offset":11,"broker":1,"headers":["odd"],'
        b'"key":null,"payload":"{}"}',
        "headers must be kcat's array of names and values",
    ),
    (
        b'{"topic":"t","partition":0,"offset":12,"ts":"soon","broker":1,"key":null,"payload":"{}"}',
        "ts must be whole epoch milliseconds",
    ),
    (
        b'{"topic":"t","partition":0,"offset":13,"broker":1,"key":null,"payload":"\\ud800"}',
        "a string holds an escaped surrogate",
    ),
]


def test_an_unreadable_line_names_file_and_line_and_the_rest_is_read(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    lines = [BAD[0][0], GOOD[0], *(line for line, _ in BAD[1:]), GOOD[1], GOOD[2]]
    _write_kcat(path, lines)

    read = list(read_messages(path))

    assert recording_layout(path) == "kcat", "told by the first line that is a JSON object"
    assert sorted(m.offset for m in read if m.topic == "shop.clickstream") == [0, 1, 2]
    errors = {m.line_no: m for m in read if m.error is not None}
    expected = {1: BAD[0][1]} | {k + 2: why for k, (_, why) in enumerate(BAD) if k >= 1}
    assert sorted(errors) == sorted(expected)
    for line_no, why in expected.items():
        assert errors[line_no].error is not None
        assert errors[line_no].error.startswith(f"{path}:{line_no}: ")
        assert why in errors[line_no].error
        assert errors[line_no].value == lines[line_no - 1], "the line itself is kept"
    # A line that names its position keeps it; one that does not stands at file and line.
    assert (errors[6].topic, errors[6].partition, errors[6].offset) == ("t", 0, 9)
    assert (errors[1].topic, errors[1].partition, errors[1].offset) == ("mixed.jsonl", 0, 1)


def test_layouts_are_told_apart_by_their_first_lines(tmp_path: Path) -> None:
    plain, ours, kcat, empty = (tmp_path / n for n in ("p.jsonl", "o.jsonl", "k.jsonl", "e"))
    write_recording(plain, sample_contracts()[:2])
    with EnvelopeWriter(ours, RecordingHeader(("t",), T0)) as writer:
        writer.write(AWKWARD[0])
    _write_kcat(kcat, [b"", b"% Reached end of topic t [1] at offset 0", GOOD[0]])
    empty.write_bytes(b"")

    layouts = [recording_layout(p) for p in (plain, ours, kcat, empty)]

    assert layouts == ["plain", "insession", "kcat", "plain"]


def _searches(customer: str) -> list[bytes]:
    """Two failed searches: a help offer for the customer."""
    return [
        encode(Search(event_id=f"{customer}-{n}", event_time=T0 + n * 1000, channel="web",
                      customer_id=customer, query="delivery", result_count=0))
        for n in range(2)
    ]  # fmt: skip


def test_a_kcat_recording_replays_and_dead_letters_its_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "clicks.jsonl.gz"
    good = [
        kcat_line("shop.clickstream", 0, n, T0 + n * 1000, b"c-2", value)
        for n, value in enumerate(_searches("c-2"))
    ]
    _write_kcat(path, [BAD[0][0], good[0], BAD[1][0], BAD[4][0], good[1]])

    result = replay_flow([path], tmp_path / "out", Settings(policy="baseline"))

    offers = [decode(line.raw) for line in read_lines(result.offers_path)]
    assert [(o.customer_id, o.action_id[:5]) for o in offers if isinstance(o, Offer)] == [
        ("c-2", "help-")
    ]
    letters = [decode(line.raw) for line in read_lines(result.dead_letters_path)]
    assert all(isinstance(d, DeadLetter) for d in letters)
    where = {
        (d.source_topic, d.source_partition, d.source_offset): d  # type: ignore[union-attr]
        for d in letters
    }
    assert sorted(where) == [("clicks.jsonl.gz", 0, 1), ("clicks.jsonl.gz", 0, 3), ("t", 0, 9)]
    first = where["clicks.jsonl.gz", 0, 1]
    assert isinstance(first, DeadLetter) and first.reason == UNREADABLE_ENVELOPE
    assert first.error.startswith(f"{path}:1: not a kcat message envelope: not JSON")
    assert base64.b64decode(first.original) == BAD[0][0]


def test_validate_only_reports_kcat_lines_by_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "clicks.jsonl"
    _write_kcat(path, [GOOD[0], BAD[3][0], kcat_line("t", 1, 4, T0, None, b"{broken")])

    code = main(["replay", str(path), "--validate-only", "--out", str(tmp_path / "out")])

    printed = capsys.readouterr().out
    assert code == 0
    assert "replayed 3 messages" in printed
    assert f"{UNREADABLE_ENVELOPE}: {path}:2: not a kcat message envelope: topic must" in printed
    assert "invalid_json: t[1]@4: " in printed, "a bad message keeps its recorded position"
