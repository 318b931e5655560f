"""Contracts produced to a Kafka topic, keyed (e.g. by customer) for partition affinity."""

from __future__ import annotations

from collections.abc import Callable

from bytewax.outputs import DynamicSink, StatelessSinkPartition

from insession.connectors.kafka_producer import TopicProducer, TopicTarget
from insession.schemas.codec import encode
from insession.schemas.events import Contract


class _KafkaPartition(StatelessSinkPartition[Contract]):
    def __init__(
        self,
        producer: TopicProducer,
        key: Callable[[Contract], str | None],
        durable: bool,
    ) -> None:
        self.producer = producer
        self.key = key
        self.durable = durable

    def write_batch(self, items: list[Contract]) -> None:
        for item in items:
            self.producer.send(encode(item), self.key(item))
        self.producer.deliver(self.durable)

    def close(self) -> None:
        self.producer.close()


class ContractKafkaSink(DynamicSink[Contract]):
    """Produces contracts to one topic, keyed (e.g. by customer) for partition affinity.

    Produces asynchronously (librdkafka batches for at most `linger.ms`) and flushes when the
    flow stops; with `durable` (recovery on), each batch waits for the broker's ack. A message
    Kafka refuses is counted in `on_error(topic)` and logged, never raised (`TopicProducer`).
    """

    def __init__(self, target: TopicTarget, key: Callable[[Contract], str | None]) -> None:
        self.target = target
        self.key = key

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _KafkaPartition:
        return _KafkaPartition(self.target.producer(), self.key, self.target.durable)
