"""Talking to the Kafka broker as an administrator: wait until it answers, create topics."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterable, Mapping

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


KafkaClient = Mapping[str, str]
"""librdkafka properties a client is made from: `Settings.kafka_client()` (the brokers, and
the security and other properties of the `kafka` table)."""


def brokers(client: KafkaClient) -> str:
    """The broker addresses of `client`, to name in messages (never its other properties)."""
    return client["bootstrap.servers"]


def describe(client: KafkaClient) -> str:
    """`127.0.0.1:9094 over SASL_SSL, SCRAM-SHA-512`: where and how, for logs (no secrets)."""
    how = client.get("security.protocol", "plaintext")
    mechanism = client.get("sasl.mechanism") or client.get("sasl.mechanisms")
    if mechanism and how.upper().startswith("SASL"):
        how += f", {mechanism}"
    return f"{brokers(client)} over {how}"


def admin_client(client: KafkaClient) -> AdminClient:
    """An AdminClient that does not flood stderr while the broker is down."""
    return AdminClient({**client, "logger": _QUIET})


def broker_ready(client: KafkaClient, timeout: float = 2.0) -> bool:
    """True when the broker answers a metadata request (not merely an open port), which
    over SASL or TLS means it accepted the client's credentials too."""
    first = brokers(client).split(",")[0]
    if not port_open(*split_address(first)):
        return False
    try:
        metadata = admin_client(client).list_topics(timeout=timeout)
    except KafkaException:
        return False
    return bool(metadata.brokers)


REFUSALS = frozenset({KafkaError._AUTHENTICATION, KafkaError._SSL})
"""What the brokers answer when they will not take the client as it is (its credentials, or
the certificate it was told to trust): waiting does not mend either."""


REFUSAL_GRACE_S = 2.0
"""How long `refusal` goes on asking once the brokers seem down (a connection refused), in case
their refusal comes after (a TLS handshake, then authentication)."""


def refusal(client: KafkaClient, timeout: float = 10.0) -> str | None:
    """Why the brokers refuse `client` (librdkafka's words: a SASL authentication failure, a
    certificate that could not be verified), or None if they answer or are merely down. A run
    ends on a refusal at once, where it would wait out a broker that is down."""
    errors: list[KafkaError] = []
    admin = AdminClient({**client, "logger": _QUIET, "error_cb": errors.append})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            admin.list_topics(timeout=0.5)
            return None
        except KafkaException:
            admin.poll(0)  # serves the error callback
        refused = [error.str() for error in errors if error.code() in REFUSALS]
        if refused:
            return refused[0]
        if errors:  # down, it seems: a refusal would follow within a few tries
            deadline = min(deadline, time.monotonic() + REFUSAL_GRACE_S)
    return None


def wait_for_broker(client: KafkaClient, timeout: float = 60.0) -> float:
    """Block until the broker answers; return the seconds waited. Raises TimeoutError."""
    started = time.monotonic()
    while not broker_ready(client):
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"Kafka at {brokers(client)} did not answer within {timeout:.0f} s")
        time.sleep(0.2)
    return time.monotonic() - started


def create_topics(
    settings: Settings, streams: Iterable[str] | None = None, timeout: float = 30.0
) -> list[str]:
    """Create the topics for `streams` (default: all) with their partition counts.

    Each topic takes records up to `record_limit` (the broker's default, 1 MiB + 12 bytes,
    refuses a 1 MiB message in its batch). Idempotent: topics that already exist are left as
    they are. Each has `Settings.replication_factor` replicas. Returns the names created.
    """
    wait_for_broker(settings.kafka_client(), timeout)
    chosen = list(streams) if streams is not None else list(settings.topics)
    client = admin_client(settings.kafka_client())
    config = {"max.message.bytes": str(record_limit(settings.max_message_bytes))}
    wanted = [
        NewTopic(
            settings.topic(s),
            num_partitions=settings.partitions_for(s),
            replication_factor=settings.replication_factor,
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


def delete_topics(client: KafkaClient, names: Iterable[str], timeout: float = 30.0) -> None:
    """Delete topics, ignoring those that are already gone."""
    names = list(names)
    if not names:
        return
    admin = admin_client(client)
    for future in admin.delete_topics(names, operation_timeout=timeout).values():
        try:
            future.result()
        except KafkaException as failure:
            if failure.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise


def list_topics(client: KafkaClient, timeout: float = 10.0) -> dict[str, int]:
    """Topic name -> partition count, internal topics excluded."""
    metadata = admin_client(client).list_topics(timeout=timeout)
    return {
        name: len(topic.partitions)
        for name, topic in metadata.topics.items()
        if not name.startswith("__")
    }
