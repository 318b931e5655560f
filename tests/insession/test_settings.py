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
        ({"INSESSION_KAFKA_SERVERS": "x"}, 'No such configuration property: "servers"'),
        ({"INSESSION_KAFKA_GROUP_ID": "shop"}, "kafka.group.id: set consumer_group instead"),
        ({"INSESSION_KAFKA_METADATA_BROKER_LIST": "b:1"}, "metadata.broker.list: set bootstrap_"),
        ({"INSESSION_KAFKA_SECURITY_PROTOCOL": "TLS"}, 'Invalid value "TLS" for configuration'),
        ({"INSESSION_REPLICATION_FACTOR": "0"}, "replication_factor: must be positive"),
        ({"INSESSION_TOPIC_CLIKSTREAM": "x"}, "unknown stream(s) clikstream"),
        ({"INSESSION_REDIS_PREFIX": "shop{1}:"}, "redis_prefix: 'shop{1}:' has a brace"),
        ({"INSESSION_SENTIMENT": "bert"}, "sentiment: 'bert' is not one of vader, learned"),
    ],
)
def test_bad_settings_say_which_and_why(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Settings.load(env=env, config_file=Path("/nonexistent.toml"))


def test_zero_turns_idle_eviction_off() -> None:
    settings = Settings.load(env={"INSESSION_IDLE_EVICTION_S": "0"}, config_file=Path("/x.toml"))
    assert settings.idle_eviction_s == 0


def test_kafka_properties_come_from_a_table_and_variables(tmp_path: Path) -> None:
    config = tmp_path / "insession.toml"
    config.write_text(
        '[insession]\nbootstrap_servers = "broker:9096"\nreplication_factor = 3\n'
        '[insession.kafka]\n"security.protocol" = "SASL_SSL"\n"sasl.mechanism" = "PLAIN"\n'
        '"sasl.username" = "shop"\n"sasl.password" = "from-the-file"\n'
        '"enable.ssl.certificate.verification" = true\n"socket.timeout.ms" = 30000\n'
    )
    env = {
        "INSESSION_CONFIG": str(config),
        "INSESSION_KAFKA_SASL_PASSWORD": "from-the-environment",
        "INSESSION_KAFKA_CLIENT_ID": "storefront-eu",
        "INSESSION_KAFKA_HEAP": "1g",  # a setting of its own, not a client property
    }
    settings = Settings.load(env=env)
    assert settings.kafka_client() == {
        "bootstrap.servers": "broker:9096",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "shop",
        "sasl.password": "from-the-environment",
        "enable.ssl.certificate.verification": "true",
        "socket.timeout.ms": "30000",
        "client.id": "storefront-eu",
    }
    assert settings.kafka_heap == "1g"
    assert settings.replication_factor == 3
    assert "from-the" not in repr(settings), "the kafka table is never printed"


def test_a_bad_secret_value_is_not_repeated_in_the_error() -> None:
    env = {"INSESSION_KAFKA_SECURITY_PROTOCOL": "SSL", "INSESSION_KAFKA_SSL_KEY_PEM": "hunter2"}
    with pytest.raises(ValueError, match=re.escape("ssl.key.pem failed")) as refused:
        Settings.load(env=env, config_file=Path("/nonexistent.toml"))
    assert "hunter2" not in str(refused.value)


def test_a_callback_is_no_setting() -> None:
    with pytest.raises(ValueError, match=re.escape("kafka.error_cb: a callback")):
        Settings.from_mapping({"kafka": {"error_cb": "print"}})
