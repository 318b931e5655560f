"""TopicProducer on the real broker: what Kafka refuses is counted and logged, never raised,
and the topics, producers and consumers agree on how large a message may be."""

from __future__ import annotations

import os

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import ConfigResource

from insession.connectors.kafka_admin import admin_client, consumer_limits, record_limit
from insession.connectors.kafka_producer import TopicProducer
from insession.settings import Settings
from tests.kafka_io import consume

pytestmark = pytest.mark.kafka


def test_a_message_over_the_producers_limit_is_counted_and_the_next_one_goes(
    kafka_settings: Settings, run_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = kafka_settings.topic("dead_letter")
    refused: list[str] = []
    producer = TopicProducer(kafka_settings.bootstrap_servers, topic, on_error=refused.append)
    too_large = record_limit(kafka_settings.max_message_bytes) + 1
    assert producer.send(b"x" * too_large, None) is False
    assert producer.send(b"fine", "k") is True
    producer.deliver(durable=True)
    producer.close()
    assert refused == [topic] and producer.failures == 1
    assert f"a {too_large:,}-byte message to {topic} was not delivered" in capsys.readouterr().err
    assert [
        m.value() for m in consume(kafka_settings, ["dead_letter"], f"p-{run_id}", at_least=1)
    ] == [b"fine"]


def test_a_message_the_broker_refuses_is_counted_at_delivery(
    kafka_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = kafka_settings.topic("offers")
    refused: list[str] = []
    # This producer would take 4 MiB; the topic takes what the settings allow.
    producer = TopicProducer(
        kafka_settings.bootstrap_servers,
        topic,
        max_message_bytes=4 * 1_048_576,
        on_error=refused.append,
    )
    # Random bytes: lz4 would shrink anything repetitive below the topic's limit.
    assert producer.send(os.urandom(2 * 1_048_576), None) is True
    producer.deliver(durable=True)
    producer.close()
    assert refused == [topic]
    assert "was not delivered" in capsys.readouterr().err


def test_a_message_of_the_documented_limit_passes_topic_producer_and_consumer(
    kafka_settings: Settings,
) -> None:
    limit = kafka_settings.max_message_bytes
    topic = kafka_settings.topic("clickstream")
    admin = admin_client(kafka_settings.bootstrap_servers)
    (described,) = admin.describe_configs(
        [ConfigResource(ConfigResource.Type.TOPIC, topic)]
    ).values()
    assert int(described.result()["max.message.bytes"].value) == record_limit(limit)

    producer = TopicProducer(kafka_settings.bootstrap_servers, topic, on_error=pytest.fail)
    message = bytes(range(256)) * (limit // 256)
    assert len(message) == limit
    assert producer.send(message, "k")
    producer.deliver(durable=True)
    producer.close()

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_settings.bootstrap_servers,
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
