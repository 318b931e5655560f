"""Replay speeds parse from what people type; recorded time comes from Kafka or the event."""

from __future__ import annotations

import pytest
from insession.schemas.codec import encode

from insession.connectors.pacing import Pacer, Speed, recorded_time
from insession.connectors.recording import RecordedMessage
from tests.samples import sample_contracts


@pytest.mark.parametrize(
    ("text", "factor", "shown"),
    [("max", None, "max"), ("recorded", 1.0, "recorded"), ("10x", 10.0, "10x"),
     ("0.5x", 0.5, "0.5x"), (" 2.5X ", 2.5, "2.5x"), ("1x", 1.0, "recorded")],
)  # fmt: skip
def test_speeds_parse_and_print_back(text: str, factor: float | None, shown: str) -> None:
    speed = Speed.parse(text)
    assert speed.factor == factor
    assert str(speed) == shown and Speed.parse(str(speed)) == speed


@pytest.mark.parametrize("text", ["fast", "0x", "-2x", "10", "x", "1e3x", ""])
def test_a_bad_speed_says_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="expected 'max', 'recorded' or a positive factor"):
        Speed.parse(text)


def _message(value: bytes | None, timestamp_ms: int | None = None) -> RecordedMessage:
    return RecordedMessage("t", 0, 0, timestamp_ms, None, value)


def test_recorded_time_is_the_kafka_timestamp_else_the_event_time() -> None:
    event = sample_contracts()[0]
    assert recorded_time(_message(encode(event), 42)) == 42
    assert recorded_time(_message(encode(event))) == event.event_time  # type: ignore[attr-defined]
    assert recorded_time(_message(b"{not json")) is None
    assert recorded_time(_message(b'{"event_time": "yesterday"}')) is None
    assert recorded_time(_message(b"[1]")) is None
    assert recorded_time(_message(None)) is None


def test_the_pacer_starts_its_clock_at_the_first_question() -> None:
    now = [500.0]
    pacer = Pacer(4.0, origin_ms=10_000, clock=lambda: now[0])
    now[0] = 700.0
    assert pacer.due_at(10_000) == 700.0
    now[0] = 900.0
    assert pacer.due_at(18_000) == pytest.approx(702.0)


def test_a_pacer_needs_a_positive_speed() -> None:
    with pytest.raises(ValueError, match="positive"):
        Pacer(0.0, origin_ms=0)
