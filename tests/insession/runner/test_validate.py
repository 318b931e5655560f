"""`insession replay` counts good events and dead-letters every bad line with its reason."""

from __future__ import annotations

import base64
import gzip
import io
from pathlib import Path

from insession.schemas.codec import decode, encode
from insession.schemas.events import DeadLetter

from insession.cli import main
from insession.connectors.recording import read_lines, write_recording
from insession.runner.validate import print_summary, replay
from tests.samples import sample_contracts

BAD_LINES = [
    b'{"type": "product_view"',
    b'{"type": "teleport", "schema_version": "1.0"}',
    b'{"type": "search", "schema_version": "1.0", "event_id": "x", "event_time": 1764000000000,'
    b' "channel": "web", "customer_id": "c", "query": "q", "result_count": -1}',
]


def _recording_with_bad_lines(path: Path) -> list[bytes]:
    good = [encode(c) for c in sample_contracts()]
    lines = [*good[:5], BAD_LINES[0], *good[5:10], *BAD_LINES[1:], b"", *good[10:]]
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as handle:
        handle.write(b"\n".join(lines) + b"\n")
    return good


def test_replay_counts_good_events_and_dead_letters_bad_ones(tmp_path: Path) -> None:
    recording = tmp_path / "mixed.jsonl.gz"
    good = _recording_with_bad_lines(recording)
    dead_path = tmp_path / "dead.jsonl"

    summary = replay([recording], dead_path)

    assert summary.good == len(good)
    assert summary.bad_by_reason == {"invalid_json": 1, "unknown_type": 1, "out_of_range": 1}
    assert summary.by_type["offer"] == 1 and summary.by_channel["instagram"] == 1
    assert summary.customers == {"c-42"}
    dead = [decode(line.raw) for line in read_lines(dead_path)]
    assert all(isinstance(d, DeadLetter) for d in dead)
    assert [base64.b64decode(d.original) for d in dead] == BAD_LINES
    assert [d.source_offset for d in dead] == [6, 12, 13]
    assert dead[2].field == "result_count" and dead[2].source_topic == str(recording)


def test_summary_names_reasons_and_an_example(tmp_path: Path) -> None:
    recording = tmp_path / "mixed.jsonl"
    good = _recording_with_bad_lines(recording)
    summary = replay([recording], tmp_path / "dead.jsonl")
    out = io.StringIO()
    print_summary(summary, tmp_path / "dead.jsonl", out)
    text = out.getvalue()
    assert f"{len(good)} good events, 3 bad" in text
    assert "mixed.jsonl:13: result_count: -1 is below the minimum 0" in text


def test_written_recordings_read_back_identically(tmp_path: Path) -> None:
    contracts = sample_contracts()
    for name in ("plain.jsonl", "packed.jsonl.gz"):
        path = tmp_path / name
        assert write_recording(path, contracts) == len(contracts)
        assert [decode(line.raw) for line in read_lines(path)] == contracts


def test_cli_replay_exits_0_and_prints_summary(tmp_path: Path, capsys) -> None:
    recording = tmp_path / "mixed.jsonl"
    _recording_with_bad_lines(recording)
    code = main(
        ["replay", str(recording), "--validate-only", "--out", str(tmp_path), "--no-progress"]
    )
    assert code == 0
    assert "bad events by reason" in capsys.readouterr().out


def test_cli_replay_names_a_missing_file(tmp_path: Path, capsys) -> None:
    assert main(["replay", str(tmp_path / "nope.jsonl")]) == 2
    assert "nope.jsonl: no such file" in capsys.readouterr().err
