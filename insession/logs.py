"""Logging for every command: one handler on stderr, text or JSON lines, the level by setting.

`configure_logging` is called once by the CLI (`INSESSION_LOG_LEVEL`, `INSESSION_LOG_FORMAT`).
The engine's modules log to `insession.<module>` loggers; librdkafka's own lines go to
`insession.kafka` (`kafka_logger`). What is logged at INFO or above names no customer, device
or post: counts, topics, error texts of services, setting names. A line that needs a person
(for debugging) is DEBUG.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

ROOT = "insession"

_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
"""A record's own attributes; any other came from `extra=` and goes into the JSON line."""


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a line is logged (pytest swaps it)."""

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        pass


class JsonLines(logging.Formatter):
    """One JSON object a line: `ts`, `level`, `logger`, `message`, the `extra` fields given,
    and `exception` with its traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD:
                line.setdefault(key, value)  # an extra field never stands in for these four
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Send the `insession` loggers to stderr at `level` (`Settings.log_level`), as text or
    JSON lines (`Settings.log_format`, checked when settings load). Called again, the last
    call wins."""
    root = logging.getLogger(ROOT)
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
    handler = _StderrHandler()
    handler.setFormatter(JsonLines() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False


def kafka_logger() -> logging.Logger:
    """The logger librdkafka's lines go to (`"logger"` of a client's config)."""
    return logging.getLogger(f"{ROOT}.kafka")
