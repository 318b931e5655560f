"""Replay speed: as fast as possible, at the recorded pace, or that pace N times faster.

A paced replay maps recorded time onto the wall clock: the earliest recorded timestamp of all
the files is the moment the replay starts, and a message recorded t ms later is due
t / N ms after it. Every source partition paces against that one origin, so the files'
messages come out merged in timestamp order.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from insession.connectors.recording import RecordedMessage

_FACTOR = re.compile(r"(\d+(?:\.\d*)?|\.\d+)x")


@dataclass(frozen=True, slots=True)
class Speed:
    """How fast to replay: `factor` times the recorded pace, or None for as fast as possible."""

    factor: float | None = None

    @classmethod
    def parse(cls, text: str) -> Speed:
        """'max', 'recorded' (1x) or 'Nx' such as '10x' or '0.5x'."""
        spoken = text.strip().lower()
        if spoken == "max":
            return cls(None)
        if spoken == "recorded":
            return cls(1.0)
        matched = _FACTOR.fullmatch(spoken)
        if matched is None or float(matched.group(1)) <= 0:
            raise ValueError(
                f"speed {text!r}: expected 'max', 'recorded' or a positive factor such as '10x'"
            )
        return cls(float(matched.group(1)))

    def __str__(self) -> str:
        if self.factor is None:
            return "max"
        return "recorded" if self.factor == 1.0 else f"{self.factor:g}x"


MAX_SPEED = Speed()


def recorded_time(message: RecordedMessage) -> int | None:
    """When a message was recorded: its Kafka timestamp, else (plain recordings) its event time.

    None when it has neither (a malformed line): such a message goes with the one before it.
    """
    if message.timestamp_ms is not None:
        return message.timestamp_ms
    if message.value is None:
        return None
    try:
        fields = orjson.loads(message.value)
    except orjson.JSONDecodeError:
        return None
    event_time = fields.get("event_time") if type(fields) is dict else None
    return event_time if type(event_time) is int else None


class Pacer:
    """Says when a recorded moment is due on the wall clock; shared by a replay's partitions.

    The wall-clock start is taken when the first message is asked about, not when the flow
    is built, so start-up time does not eat into the first gaps.
    """

    def __init__(
        self, speed: float, origin_ms: int, clock: Callable[[], float] = time.time
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed factor must be positive, got {speed}")
        self.speed = speed
        self.origin_ms = origin_ms
        self.clock = clock
        self.started: float | None = None
        self._lock = threading.Lock()

    def due_at(self, recorded_ms: int) -> float:
        """When (on `clock`, in seconds) a message recorded at `recorded_ms` is due."""
        if self.started is None:
            with self._lock:
                if self.started is None:
                    self.started = self.clock()
        return self.started + (recorded_ms - self.origin_ms) / 1000 / self.speed
