"""Talking to the Kafka broker as an administrator: wait until it answers, create topics."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterable

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from insession.settings import Settings

# librdkafka logs every refused connection while a broker starts; those lines are noise here.
_QUIET = logging.getLogger("insession.kafka.quiet")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False

RECORD_HEADROOM_BYTES = 65_536
"""Room above `Settings.max_message_bytes` for what Kafka adds to a message on the wire (the
record batch header, the key, headers), so a message of the documented limit still passes."""


def record_limit(max_message_bytes: int) -> int:
    """The largest record batch the topics, producers and consumers allow, all alike: a
    message the flow accepts must pass every one of them, or one message stops a partition."""
    return max_message_bytes + RECORD_HEADROOM_BYTES


def producer_limits(max_message_bytes: int) -> dict[str, str]:
    """Producer settings for records up to `record_limit` (librdkafka's own default, 1e6
    bytes, is below the documented 1 MiB)."""
    return {"message.max.bytes": str(record_limit(max_message_bytes))}


def consumer_limits(max_message_bytes: int) -> dict[str, str]:
    """Consumer settings that fetch a record of `record_limit` in one go (the broker would
    hand a larger one over alone anyway; this keeps fetches and limits consistent)."""
    return {"max.partition.fetch.bytes": str(record_limit(max_message_bytes))}


def split_address(address: str) -> tuple[str, int]:
    """'host:port' -> (host, port)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{address!r} is not host:port")
    return host.strip("[]"), int(port)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def admin_client(bootstrap_servers: str) -> AdminClient:
    """An AdminClient that does not flood stderr while the broker is down."""
    return AdminClient({"bootstrap.servers": bootstrap_servers, "logger": _QUIET})


def broker_ready(bootstrap_servers: str, timeout: float = 2.0) -> bool:
    """True when the broker answers a metadata request (not merely an open port)."""
    first = bootstrap_servers.split(",")[0]
    if not port_open(*split_address(first)):
        return False
    try:
        metadata = admin_client(bootstrap_servers).list_topics(timeout=timeout)
    except KafkaException:
        return False
    return bool(metadata.brokers)


def wait_for_broker(bootstrap_servers: str, timeout: float = 60.0) -> float:
    """Block until the broker answers; return the seconds waited. Raises TimeoutError."""
    started = time.monotonic()
    while not broker_ready(bootstrap_servers):
        if time.monotonic() - started > timeout:
            raise TimeoutError(
                f"Kafka at {bootstrap_servers} did not answer within {timeout:.0f} s"
            )
        time.sleep(0.2)
    return time.monotonic() - started


def create_topics(
    settings: Settings, streams: Iterable[str] | None = None, timeout: float = 30.0
) -> list[str]:
    """Create the topics for `streams` (default: all) with their partition counts.

    Each topic takes records up to `record_limit` (the broker's default, 1 MiB + 12 bytes,
    refuses a 1 MiB message in its batch). Idempotent: topics that already exist are left as
    they are. Returns the names created.
    """
    wait_for_broker(settings.bootstrap_servers, timeout)
    chosen = list(streams) if streams is not None else list(settings.topics)
    client = admin_client(settings.bootstrap_servers)
    config = {"max.message.bytes": str(record_limit(settings.max_message_bytes))}
    wanted = [
        NewTopic(
            settings.topic(s),
            num_partitions=settings.partitions_for(s),
            replication_factor=1,
            config=config,
        )
        for s in chosen
    ]
    created = []
    for name, future in client.create_topics(wanted, operation_timeout=timeout).items():
        try:
            future.result()
            created.append(name)
        except KafkaException as failure:
            if failure.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    return created


def delete_topics(bootstrap_servers: str, names: Iterable[str], timeout: float = 30.0) -> None:
    """Delete topics, ignoring those that are already gone."""
    names = list(names)
    if not names:
        return
    client = admin_client(bootstrap_servers)
    for future in client.delete_topics(names, operation_timeout=timeout).values():
        try:
            future.result()
        except KafkaException as failure:
            if failure.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise


def list_topics(bootstrap_servers: str, timeout: float = 10.0) -> dict[str, int]:
    """Topic name -> partition count, internal topics excluded."""
    metadata = admin_client(bootstrap_servers).list_topics(timeout=timeout)
    return {
        name: len(topic.partitions)
        for name, topic in metadata.topics.items()
        if not name.startswith("__")
    }
