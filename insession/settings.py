"""One settings object for the whole engine, read from a TOML file and `INSESSION_*` variables.

Precedence, lowest first: built-in defaults, the TOML file (`INSESSION_CONFIG`, else
`./insession.toml` if present), environment variables. Nothing else reads the environment.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from insession.models.sentiment import SENTIMENTS
from insession.schemas.events import STREAMS
from insession.urls import is_secret_property

ENV_PREFIX = "INSESSION_"
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEFAULT_CONFIG_FILE = "insession.toml"


def _default_topics() -> dict[str, str]:
    return {stream: "insession." + stream.replace("_", "-") for stream in STREAMS}


@dataclass(frozen=True, slots=True)
class Settings:
    """Where the services are and what the topics are called."""

    bootstrap_servers: str = "127.0.0.1:9092"
    kafka: dict[str, str] = field(default_factory=dict, repr=False)
    """librdkafka properties (`[insession.kafka]`, `INSESSION_KAFKA_<PROPERTY>`) merged into
    every producer, consumer and admin client the engine makes: security (SASL, TLS), client
    id, timeouts. Never printed: it holds passwords (`kafka_client`)."""
    replication_factor: int = 1
    """Replicas of each topic `insession topics create` makes (3 on a managed cluster)."""
    redis_url: str = field(default="redis://127.0.0.1:6379/0", repr=False)
    """Never printed whole: it may hold a password (`insession.urls.redacted_url`)."""
    redis_prefix: str = "insession:"
    topics: dict[str, str] = field(default_factory=_default_topics)
    partitions: int = 4
    topic_partitions: dict[str, int] = field(default_factory=dict)
    max_message_bytes: int = 1_048_576
    services_dir: Path = Path(".insession/services")
    recordings_dir: Path = Path(".insession/recordings")
    cache_dir: Path = Path.home() / ".cache" / "insession"
    kafka_version: str = "4.1.1"
    kafka_controller_port: int = 9093
    kafka_heap: str = "512m"
    data_dir: Path = Path("../shared/data")
    catalogue_file: str = ""
    session_gap_s: int = 1800
    idle_eviction_s: int = 3 * 24 * 3600
    """People idle this long (event time) leave the flow's memory for Redis (live runs;
    `operators.dormant`); 0 keeps everyone."""
    input_batch: int = 1000
    workers: int = 1
    epoch_ms: int = 200
    control_share: float = 0.02
    control_mode: str = "random"
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9108
    policy: str = "thompson"
    """baseline, thompson, epsilon-greedy or river (`models.policy.POLICIES`)."""
    sentiment: str = "learned"
    """What reads the posts that arrive without a score: `learned` (a linear model learned from
    labelled tweets, shipped with the package) or `vader` (a lexicon). The learned one finds
    more of the unhappy on held-out tweets (docs/sentiment.md)."""
    exploration: float = 0.3
    epsilon: float = 0.1
    model_sync_s: float = 1.0
    model_namespace: str = ""
    """Redis namespace of the shared model (empty: `live` for runs, a fresh one per replay)."""
    model_snapshot: str = ""
    """A JSON file the model is restored from at start and saved to at the end of a replay."""
    decision_budget_us: float = 0.0
    """A decision whose model call takes longer gets the catalogue's fallback offer (0: none)."""
    recommendations: bool = True
    """Learn item-to-item knowledge from the stream, keep shelves and fill strategy offers
    (`operators.recommendations`); off: product offers show only fixed items."""
    assume_consent: bool = False
    """Treat people who never sent a consent event as consenting to personalisation. Only
    for the public data sets, whose terms allow it (`insession replay --datasets-consent`);
    never for real shoppers. An explicit revoke still wins."""
    recovery_dir: str = ""
    """Where `insession run` keeps Bytewax snapshots to resume from after a crash."""
    consumer_group: str = "insession"
    """Kafka consumer group whose committed offsets a restart without snapshots resumes from."""
    allowed_lateness_s: float = 0.0
    """How long a live flow waits for late events: each person's events are applied in event
    time order once every input partition has been read that far past them."""
    event_ahead_tolerance_s: float = 300.0
    """Events dated further ahead of the wall clock are dead-lettered (`event_time_ahead`)."""
    order_max_hold_s: float = 10.0
    """The longest a live flow holds an event for a partition that has stopped moving."""
    identity_secret: str = field(default="", repr=False)
    """HMAC key identity links must be signed with (`schemas.signatures`); empty: unsigned."""
    unlinked_customer: str = "device"
    """A client event whose customer id its device is not linked to: `device` (handled as the
    device's, without that id) or `dead_letter` (`operators.identity`)."""
    log_level: str = "INFO"
    """DEBUG, INFO, WARNING or ERROR: what the engine logs to stderr (`insession.logs`)."""
    log_format: str = "text"
    """`text` (for a terminal) or `json` (one JSON object a line, for a log collector)."""
    key_secret: str = field(default="", repr=False)
    """HMAC key that hashes people in Redis key names and offer message keys (`insession.keys`);
    empty: raw ids."""

    def kafka_client(self) -> dict[str, str]:
        """The properties every Kafka client of the engine starts from: the brokers and the
        `kafka` table (which never holds an engine-owned property: `ENGINE_KAFKA_PROPERTIES`)."""
        return {"bootstrap.servers": self.bootstrap_servers, **self.kafka}

    def topic(self, stream: str) -> str:
        """The Kafka topic that carries `stream` (a key of `schemas.events.STREAMS`)."""
        return self.topics[stream]

    def partitions_for(self, stream: str) -> int:
        """Partition count for a stream's topic: its own setting, else the default."""
        return self.topic_partitions.get(stream, self.partitions)

    @classmethod
    def load(
        cls, env: Mapping[str, str] | None = None, config_file: Path | None = None
    ) -> Settings:
        """Build settings from the TOML file and the environment (defaults: `os.environ`)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        path = config_file or Path(env.get(ENV_PREFIX + "CONFIG", DEFAULT_CONFIG_FILE))
        if path.is_file():
            with path.open("rb") as handle:
                values.update(tomllib.load(handle).get("insession", {}))
        from_env = _from_env(env)
        for table in ("topics", "kafka"):  # a variable sets one entry, keeping the file's others
            if table in from_env:
                from_env[table] = {**values.get(table, {}), **from_env[table]}
        values.update(from_env)
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Settings:
        """Build settings from plain values, converting and checking each one."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
        kwargs: dict[str, Any] = {}
        for name, value in values.items():
            default = getattr(cls(), name)
            if isinstance(default, Path):
                kwargs[name] = Path(value).expanduser()
            elif isinstance(default, bool):
                kwargs[name] = _to_bool(name, value)
            elif isinstance(default, int):
                kwargs[name] = _to_int(name, value)
            elif isinstance(default, float):
                kwargs[name] = _to_float(name, value)
            elif name == "topics":
                unknown_streams = sorted(set(value) - set(STREAMS))
                if unknown_streams:
                    raise ValueError(f"topics: unknown stream(s) {', '.join(unknown_streams)}")
                kwargs[name] = {**_default_topics(), **value}
            elif name == "kafka":
                kwargs[name] = _kafka_properties(value)
            elif name == "topic_partitions":
                kwargs[name] = {k: _to_int(f"topic_partitions.{k}", v) for k, v in value.items()}
            else:
                kwargs[name] = str(value)
        if kwargs.get("log_format", "text") not in LOG_FORMATS:
            raise ValueError(f"setting log_format: {kwargs['log_format']!r} is not text or json")
        if kwargs.get("sentiment", SENTIMENTS[0]) not in SENTIMENTS:
            raise ValueError(
                f"setting sentiment: {kwargs['sentiment']!r} is not one of {', '.join(SENTIMENTS)}"
            )
        level = kwargs.setdefault("log_level", "INFO").upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"setting log_level: {kwargs['log_level']!r} is not a log level")
        kwargs["log_level"] = level
        if "{" in kwargs.get("redis_prefix", "") or "}" in kwargs.get("redis_prefix", ""):
            raise ValueError(
                f"setting redis_prefix: {kwargs['redis_prefix']!r} has a brace, which would "
                "make a Redis Cluster hash tag of it (the engine tags its own keys)"
            )
        return cls(**kwargs)


ENGINE_KAFKA_PROPERTIES = {
    "bootstrap.servers": "set bootstrap_servers instead",
    "group.id": "set consumer_group instead",
    "message.max.bytes": "set max_message_bytes instead",
    "max.partition.fetch.bytes": "set max_message_bytes instead",
    "enable.auto.commit": "the flow commits the offsets it has processed itself",
    "enable.auto.offset.store": "the flow commits the offsets it has processed itself",
    "enable.partition.eof": "replays and recordings decide where a topic ends",
    "auto.offset.reset": "the flow decides where it starts (--from-beginning, snapshots)",
    "enable.idempotence": "the flow's producers must not write a retried send twice",
    # librdkafka's other names for the same properties
    "metadata.broker.list": "set bootstrap_servers instead",
    "fetch.message.max.bytes": "set max_message_bytes instead",
    "auto.commit.enable": "the flow commits the offsets it has processed itself",
    # what only code can give
    **{
        name: "a callback, which the engine sets itself"
        for name in ("error_cb", "throttle_cb", "stats_cb", "oauth_cb", "on_delivery", "logger")
    },
}
"""librdkafka properties the `kafka` table may not set, and why: the engine's guarantees
(no offer lost or written twice, resuming where it stopped) rest on them."""


def _kafka_properties(table: Any) -> dict[str, str]:
    """The `kafka` table as librdkafka strings, checked as librdkafka would check them."""
    if not isinstance(table, Mapping):
        raise ValueError(f"setting kafka: must be a table of librdkafka properties, got {table!r}")
    properties: dict[str, str] = {}
    for name, value in table.items():
        if name in ENGINE_KAFKA_PROPERTIES:
            raise ValueError(f"setting kafka.{name}: {ENGINE_KAFKA_PROPERTIES[name]}")
        if isinstance(value, bool):
            properties[name] = "true" if value else "false"
        elif isinstance(value, int | float | str):
            properties[name] = str(value)
        else:
            raise ValueError(f"setting kafka.{name}: must be a string, number or boolean")
    if properties:
        _check_with_librdkafka(properties)
    return properties


_LIBRDKAFKA_QUIET = logging.getLogger("insession.settings.kafka")
_LIBRDKAFKA_QUIET.addHandler(logging.NullHandler())
_LIBRDKAFKA_QUIET.propagate = False
"""Where the checking client's own lines go (it has no brokers and says so)."""


def _check_with_librdkafka(properties: dict[str, str]) -> None:
    """librdkafka checks names and values when a client is made; one made without brokers
    never connects, so a misspelt property fails here, at load, not in a running flow. The
    message names the property, and a secret's value never."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    try:
        AdminClient({**properties, "logger": _LIBRDKAFKA_QUIET})
    except (KafkaException, TypeError) as refused:
        why = refused.args[0].str() if isinstance(refused, KafkaException) else str(refused)
        for name, value in properties.items():  # librdkafka quotes a bad value
            if value and is_secret_property(name):
                why = why.replace(value, "***")
        raise ValueError(f"setting kafka: {why}") from None


def _to_bool(name: str, value: Any) -> bool:
    """A TOML boolean, or true/false, yes/no, on/off, 1/0 from the environment."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ValueError(f"setting {name}: {value!r} is not a boolean (true or false)")


ZERO_MEANS_OFF = frozenset({"idle_eviction_s"})
"""Whole-number settings for which 0 turns the feature off; the others must be positive."""


def _to_int(name: str, value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"setting {name}: {value!r} is not a whole number") from None
    if number == 0 and name in ZERO_MEANS_OFF:
        return 0
    if number <= 0:
        raise ValueError(f"setting {name}: must be positive, got {number}")
    return number


def _to_float(name: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"setting {name}: {value!r} is not a number") from None


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """`INSESSION_REDIS_URL` -> redis_url; `INSESSION_TOPIC_CART` -> topics['cart'];
    `INSESSION_KAFKA_SASL_MECHANISM` -> kafka['sasl.mechanism'] (a name that is a setting of
    its own, such as `INSESSION_KAFKA_HEAP`, stays that setting)."""
    values: dict[str, Any] = {}
    topics: dict[str, str] = {}
    kafka: dict[str, str] = {}
    own = {f.name for f in dataclasses.fields(Settings)}
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX) or key == ENV_PREFIX + "CONFIG":
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name.startswith("topic_"):
            topics[name[len("topic_") :]] = value
        elif name.startswith("kafka_") and name not in own:
            kafka[name[len("kafka_") :].replace("_", ".")] = value
        else:
            values[name] = value
    if topics:
        values["topics"] = topics
    if kafka:
        values["kafka"] = kafka
    return values
