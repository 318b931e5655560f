"""Settings come from defaults, a TOML file and INSESSION_* variables, in that order."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from insession.settings import Settings


def test_defaults_name_one_topic_per_stream() -> None:
    settings = Settings.load(env={}, config_file=Path("/nonexistent.toml"))
    assert settings.topic("clickstream") == "insession.clickstream"
    assert settings.topic("offer_feedback") == "insession.offer-feedback"
    assert settings.partitions_for("cart") == 4


def test_environment_overrides_file(tmp_path: Path) -> None:
    config = tmp_path / "insession.toml"
    config.write_text(
        '[insession]\nbootstrap_servers = "kafka:19092"\npartitions = 8\n'
        "[insession.topic_partitions]\noffers = 12\n"
        '[insession.topics]\ncart = "shop.cart"\n'
    )
    env = {
        "INSESSION_CONFIG": str(config),
        "INSESSION_PARTITIONS": "6",
        "INSESSION_TOPIC_OFFERS": "shop.offers",
        "UNRELATED": "x",
    }
    settings = Settings.load(env=env)
    assert settings.bootstrap_servers == "kafka:19092"
    assert settings.partitions == 6
    assert settings.partitions_for("offers") == 12
    assert settings.topic("cart") == "shop.cart"
    assert settings.topic("offers") == "shop.offers"
    assert settings.topic("social") == "insession.social"


def test_numbers_with_fractions_are_read_as_floats() -> None:
    settings = Settings.load(env={"INSESSION_CONTROL_SHARE": "0.05"}, config_file=Path("/x.toml"))
    assert settings.control_share == 0.05


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"INSESSION_PARTITIONS": "many"}, "partitions: 'many' is not a whole number"),
        ({"INSESSION_PARTITIONS": "0"}, "partitions: must be positive"),
        ({"INSESSION_IDLE_EVICTION_S": "-1"}, "idle_eviction_s: must be positive"),
        ({"INSESSION_CONTROL_SHARE": "two percent"}, "control_share: 'two percent' is not a num"),
        ({"INSESSION_KAFKA_SERVERS": "x"}, "unknown setting(s): kafka_servers"),
        ({"INSESSION_TOPIC_CLIKSTREAM": "x"}, "unknown stream(s) clikstream"),
        ({"INSESSION_REDIS_PREFIX": "shop{1}:"}, "redis_prefix: 'shop{1}:' has a brace"),
    ],
)
def test_bad_settings_say_which_and_why(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Settings.load(env=env, config_file=Path("/nonexistent.toml"))


def test_zero_turns_idle_eviction_off() -> None:
    settings = Settings.load(env={"INSESSION_IDLE_EVICTION_S": "0"}, config_file=Path("/x.toml"))
    assert settings.idle_eviction_s == 0
