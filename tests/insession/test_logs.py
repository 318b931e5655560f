"""The engine's log lines: text or JSON on stderr, the level by setting."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from insession.logs import ROOT, configure_logging
from insession.settings import Settings


@pytest.fixture
def engine_log() -> Iterator[logging.Logger]:
    """A module's logger; the `insession` logger is put back as it was afterwards."""
    root = logging.getLogger(ROOT)
    handlers, level, propagate = list(root.handlers), root.level, root.propagate
    yield logging.getLogger(f"{ROOT}.connectors.example")
    root.handlers[:] = handlers
    root.setLevel(level)
    root.propagate = propagate


def test_json_lines_carry_the_fields_a_collector_indexes(
    engine_log: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", "json")
    engine_log.warning("%s to %s not delivered", "a message", "offers", extra={"failures": 3})
    try:
        raise ConnectionError("broker away")
    except ConnectionError:
        engine_log.exception("send failed")
    first, second = (orjson.loads(line) for line in capsys.readouterr().err.splitlines())
    assert first["level"] == "WARNING" and first["logger"] == "insession.connectors.example"
    assert first["message"] == "a message to offers not delivered" and first["failures"] == 3
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", first["ts"])
    assert second["level"] == "ERROR" and "ConnectionError: broker away" in second["exception"]


def test_the_level_setting_filters_and_text_names_level_and_module(
    engine_log: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("WARNING", "text")
    engine_log.info("routine")
    engine_log.warning("Redis away")
    printed = capsys.readouterr().err
    assert "routine" not in printed
    assert re.search(r"WARNING insession\.connectors\.example: Redis away$", printed.strip())


def test_a_second_configuration_replaces_the_first(
    engine_log: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", "text")
    configure_logging("INFO", "json")
    engine_log.info("once")
    assert len(capsys.readouterr().err.splitlines()) == 1


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"INSESSION_LOG_FORMAT": "xml"}, "log_format: 'xml' is not text or json"),
        ({"INSESSION_LOG_LEVEL": "chatty"}, "log_level: 'chatty' is not a log level"),
    ],
)
def test_bad_log_settings_say_which(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Settings.load(env=env, config_file=Path("/nonexistent.toml"))


def test_log_levels_are_read_in_any_case() -> None:
    env = {"INSESSION_LOG_LEVEL": "debug"}
    assert Settings.load(env=env, config_file=Path("/x.toml")).log_level == "DEBUG"
