"""Recordings keep Kafka messages byte for byte, headers too, and readers tell the layouts
apart."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest
from insession.schemas.codec import decode, encode
from insession.schemas.events import Offer, Search

from insession.connectors.recorded_message import Headers
from insession.connectors.recording import (
    EnvelopeWriter,
    PartitionRange,
    RecordedMessage,
    RecordingError,
    RecordingHeader,
    read_header,
    read_lines,
    read_messages,
    write_recording,
)
from insession.runner.replay import replay_flow
from insession.settings import Settings
from tests.samples import sample_contracts

T0 = 1_764_000_000_000
AWKWARD_VALUES = [
    b"\xff\xfe\x00 not UTF-8",
    b'{"type": "search",\n "schema_version": "1.0"}',
    b"",
    None,
    "caf\u00e9 \u2603 \\u0000".encode(),
    b"\x00\x01\x02",
]


def _messages() -> list[RecordedMessage]:
    good = [encode(c) for c in sample_contracts()[:4]]
    values = [*good, *AWKWARD_VALUES]
    keys: list[bytes | None] = [b"c-1", None, b"\xc3\x28", b"", "d\u00e9".encode()]
    headers: list[Headers] = [
        (),
        (("trace-id", b"4bf92f35"), ("trace-id", b"again"), ("empty", b""), ("null", None)),
        (("bin\u00e4r", b"\xff\x00\x01"),),
    ]
    return [
        RecordedMessage(
            "shop.clickstream" if n % 3 else "shop.cart",
            n % 2,
            100 + n,
            T0 + n * 250 if n != 5 else None,
            keys[n % len(keys)],
            value,
            line_no=n + 2,
            headers=headers[n % len(headers)],
        )
        for n, value in enumerate(values)
    ]


HEADER = RecordingHeader(
    topics=("shop.clickstream", "shop.cart"),
    recorded_at=T0,
    partitions=(PartitionRange("shop.cart", 0, 4, 100, 109, T0, T0 + 2250),),
)


@pytest.mark.parametrize("name", ["kafka.jsonl", "kafka.jsonl.gz"])
def test_envelopes_keep_every_byte_key_and_position(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    sent = _messages()
    with EnvelopeWriter(path, HEADER) as writer:
        for message in sent:
            writer.write(message)

    assert list(read_messages(path)) == sent
    assert read_header(path) == HEADER
    stored = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
    assert stored.startswith(b'{"insession_recording":1,')
    lines = stored.splitlines()
    assert b'"headers"' not in lines[1], "no field for a message without headers"
    assert b'{"key":"trace-id","value":"4bf92f35"}' in lines[2]


def _failed_search(n: int) -> bytes:
    search = Search(event_id=f"e{n}", event_time=T0 + n * 1000, channel="web",
                    customer_id="c-2", query="delivery", result_count=0)  # fmt: skip
    return encode(search)


def test_a_recording_made_before_headers_were_kept_still_reads_and_replays(
    tmp_path: Path,
) -> None:
    # Written field by field as `insession record` wrote them before it kept headers.
    path = tmp_path / "before-headers.jsonl"
    lines = [
        {"insession_recording": 1, "topics": ["shop.clickstream"], "recorded_at": T0,
         "partitions": [{"topic": "shop.clickstream", "partition": 0, "messages": 2,
                         "first_offset": 7, "last_offset": 8, "first_timestamp_ms": T0,
                         "last_timestamp_ms": T0 + 1000}]},
        *({"topic": "shop.clickstream", "partition": 0, "offset": 7 + n,
           "timestamp_ms": T0 + n * 1000, "key": "c-2", "value": _failed_search(n).decode()}
          for n in range(2)),
    ]  # fmt: skip
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))

    messages = list(read_messages(path))
    result = replay_flow([path], tmp_path / "out", Settings(policy="baseline"))

    assert [(m.offset, m.key, m.value, m.headers) for m in messages] == [
        (7 + n, b"c-2", _failed_search(n), ()) for n in range(2)
    ]
    offers = [decode(line.raw) for line in read_lines(result.offers_path)]
    assert [(o.customer_id, o.action_id[:5]) for o in offers if isinstance(o, Offer)] == [
        ("c-2", "help-")
    ]


def test_plain_recordings_still_read_as_one_message_a_line(tmp_path: Path) -> None:
    path = tmp_path / "plain.jsonl"
    write_recording(path, sample_contracts()[:3])
    with path.open("ab") as handle:
        handle.write(b"\n{broken\n")

    messages = list(read_messages(path))

    assert read_header(path) is None
    assert [(m.topic, m.partition, m.offset, m.line_no) for m in messages] == [
        ("plain.jsonl", 0, 1, 1),
        ("plain.jsonl", 0, 2, 2),
        ("plain.jsonl", 0, 3, 3),
        ("plain.jsonl", 0, 5, 5),
    ]
    assert messages[0].value == encode(sample_contracts()[0]) and messages[-1].value == b"{broken"
    assert all(m.timestamp_ms is None and m.key is None for m in messages)


def test_a_broken_envelope_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    with EnvelopeWriter(path, HEADER) as writer:
        writer.write(_messages()[0])
    with path.open("ab") as handle:
        handle.write(
            b'{"topic": "t", "partition": "zero", "offset": 1, "timestamp_ms": null,'
            b' "key": null, "value": "{}"}\n'
        )

    with pytest.raises(RecordingError, match=r"broken\.jsonl:3: not a message envelope"):
        list(read_messages(path))


def test_a_newer_recording_format_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "future.jsonl"
    path.write_bytes(b'{"insession_recording": 2, "topics": [], "recorded_at": 0}\n')

    with pytest.raises(RecordingError, match=r"future\.jsonl:1: recording format 2"):
        list(read_messages(path))


def test_replay_names_the_file_and_line_of_an_unreadable_recording(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from insession.cli import main

    bad = tmp_path / "future.jsonl"
    bad.write_text('{"insession_recording": 99}\n')
    assert main(["replay", str(bad), "--out", str(tmp_path / "out")]) == 2
    assert f"{bad}:1: recording format 99" in capsys.readouterr().err
