"""One settings object for the whole engine, read from a TOML file and `INSESSION_*` variables.

Precedence, lowest first: built-in defaults, the TOML file (`INSESSION_CONFIG`, else
`./insession.toml` if present), environment variables. Nothing else reads the environment.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from insession.schemas.events import STREAMS

ENV_PREFIX = "INSESSION_"
DEFAULT_CONFIG_FILE = "insession.toml"


def _default_topics() -> dict[str, str]:
    return {stream: "insession." + stream.replace("_", "-") for stream in STREAMS}


@dataclass(frozen=True, slots=True)
class Settings:
    """Where the services are and what the topics are called."""

    bootstrap_servers: str = "127.0.0.1:9092"
    redis_url: str = "redis://127.0.0.1:6379/0"
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
    key_secret: str = field(default="", repr=False)
    """HMAC key that hashes people in Redis key names and offer message keys (`insession.keys`);
    empty: raw ids."""

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
        if "topics" in from_env:  # rename single topics without forgetting the file's names
            from_env["topics"] = {**values.get("topics", {}), **from_env["topics"]}
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
            elif name == "topic_partitions":
                kwargs[name] = {k: _to_int(f"topic_partitions.{k}", v) for k, v in value.items()}
            else:
                kwargs[name] = str(value)
        if "{" in kwargs.get("redis_prefix", "") or "}" in kwargs.get("redis_prefix", ""):
            raise ValueError(
                f"setting redis_prefix: {kwargs['redis_prefix']!r} has a brace, which would "
                "make a Redis Cluster hash tag of it (the engine tags its own keys)"
            )
        return cls(**kwargs)


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
    """`INSESSION_REDIS_URL` -> redis_url; `INSESSION_TOPIC_CART` -> topics['cart']."""
    values: dict[str, Any] = {}
    topics: dict[str, str] = {}
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX) or key == ENV_PREFIX + "CONFIG":
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name.startswith("topic_"):
            topics[name[len("topic_") :]] = value
        else:
            values[name] = value
    if topics:
        values["topics"] = topics
    return values
