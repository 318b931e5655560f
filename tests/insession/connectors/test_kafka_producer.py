"""TopicProducer on the real broker: what Kafka refuses is counted and logged, never raised,
and the topics, producers and consumers agree on how large a message may be."""

from __future__ import annotations

import dataclasses
import os

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import ConfigResource

from insession.connectors.kafka_admin import (
    admin_client,
    consumer_limits,
    create_topics,
    record_limit,
)
from insession.connectors.kafka_producer import TopicProducer, producer_config
from insession.settings import Settings
from tests.kafka_io import consume

pytestmark = pytest.mark.kafka


def test_a_message_over_the_producers_limit_is_counted_and_the_next_one_goes(
    kafka_settings: Settings, run_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    topic = kafka_settings.topic("dead_letter")
    refused: list[str] = []
    producer = TopicProducer(kafka_settings.kafka_client(), topic, on_error=refused.append)
    too_large = record_limit(kafka_settings.max_message_bytes) + 1
    assert producer.send(b"x" * too_large, None) is False
    assert producer.send(b"fine", "k") is True
    producer.deliver(durable=True)
    producer.close()
    assert refused == [topic] and producer.failures == 1
    assert f"a {too_large:,}-byte message to {topic} was not delivered" in caplog.text
    assert [
        m.value() for m in consume(kafka_settings, ["dead_letter"], f"p-{run_id}", at_least=1)
    ] == [b"fine"]


def test_a_message_the_broker_refuses_is_counted_at_delivery(
    kafka_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    topic = kafka_settings.topic("offers")
    refused: list[str] = []
    # This producer would take 4 MiB; the topic takes what the settings allow.
    producer = TopicProducer(
        kafka_settings.kafka_client(),
        topic,
        max_message_bytes=4 * 1_048_576,
        on_error=refused.append,
    )
    # Random bytes: lz4 would shrink anything repetitive below the topic's limit.
    assert producer.send(os.urandom(2 * 1_048_576), None) is True
    producer.deliver(durable=True)
    producer.close()
    assert refused == [topic]
    assert "was not delivered" in caplog.text


def test_a_message_of_the_documented_limit_passes_topic_producer_and_consumer(
    kafka_settings: Settings,
) -> None:
    limit = kafka_settings.max_message_bytes
    topic = kafka_settings.topic("clickstream")
    admin = admin_client(kafka_settings.kafka_client())
    (described,) = admin.describe_configs(
        [ConfigResource(ConfigResource.Type.TOPIC, topic)]
    ).values()
    assert int(described.result()["max.message.bytes"].value) == record_limit(limit)

    producer = TopicProducer(kafka_settings.kafka_client(), topic, on_error=pytest.fail)
    message = bytes(range(256)) * (limit // 256)
    assert len(message) == limit
    assert producer.send(message, "k")
    producer.deliver(durable=True)
    producer.close()

    consumer = Consumer(
        {
            **kafka_settings.kafka_client(),
            "group.id": "limits",
            **consumer_limits(limit),
        }
    )
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(kafka_settings.partitions)])
        received = None
        for _ in range(40):
            found = consumer.poll(0.5)
            if found is not None and not found.error():
                received = found.value()
                break
    finally:
        consumer.close()
    assert received == message


def test_the_kafka_table_tunes_the_producer_but_never_its_guarantees() -> None:
    client = {"bootstrap.servers": "b:9092", "linger.ms": "20", "sasl.username": "shop"}
    config = producer_config(client, 1_000_000)
    assert config["linger.ms"] == "20" and config["sasl.username"] == "shop"
    assert config["enable.idempotence"] is True
    assert config["message.max.bytes"] == str(record_limit(1_000_000))


def test_topics_are_made_with_the_replication_factor_set(
    kafka_settings: Settings, run_id: str
) -> None:
    wanted = dataclasses.replace(
        kafka_settings, replication_factor=2, topics={"cart": f"test.{run_id}.replicated"}
    )
    with pytest.raises(KafkaException, match=r"(?i)replication factor"):
        create_topics(wanted, ["cart"])  # one broker here: two replicas cannot be placed
