"""One message of a recording, as every recording layout gives it, and the error of a file
that cannot be read as a recording."""

from __future__ import annotations

from dataclasses import dataclass

Headers = tuple[tuple[str, bytes | None], ...]
"""Kafka headers as sent: in order, a name may repeat and a value may be null."""

UNREADABLE_ENVELOPE = "unreadable_envelope"
"""The dead-letter reason of a recording's line that holds no message the engine could read
(`RecordedMessage.error`)."""


class RecordingError(ValueError):
    """A recording that cannot be read as one: the message names the file, line and cause."""


@dataclass(frozen=True, slots=True)
class RecordedMessage:
    """One message of a recording and where it was recorded.

    Messages of plain recordings have no timestamp, key or headers; their topic is the
    file's name, their partition 0 and their offset the line number. Headers are kept for
    fidelity: the engine reads none, live or replayed. `error` says why a line of a kcat
    recording holds no readable message (its value is then the line): the replay
    dead-letters it and reads on, as the live flow does a malformed message.
    """

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: bytes | None
    value: bytes | None
    line_no: int = 0
    headers: Headers = ()
    error: str | None = None
