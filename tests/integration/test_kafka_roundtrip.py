"""Every contract survives a trip through the real Kafka broker and the real Redis server."""

from __future__ import annotations

import pytest
import redis
from confluent_kafka import Producer
from insession.schemas.codec import decode, encode
from insession.schemas.events import CONTRACTS, STREAM_OF, STREAMS, Contract, Event

from insession.settings import Settings
from tests.kafka_io import consume
from tests.samples import sample_contracts

pytestmark = [pytest.mark.kafka, pytest.mark.redis]


def _key(contract: Contract) -> bytes | None:
    if isinstance(contract, Event):
        return (contract.partition_key() or "").encode()
    return None


def test_samples_cover_every_contract() -> None:
    assert {c.type for c in sample_contracts()} == set(CONTRACTS)


def test_every_contract_round_trips_through_kafka(kafka_settings: Settings, run_id: str) -> None:
    sent = sample_contracts()
    producer = Producer({**kafka_settings.kafka_client(), "enable.idempotence": True})
    for contract in sent:
        producer.produce(
            kafka_settings.topic(STREAM_OF[contract.type]), encode(contract), key=_key(contract)
        )
    assert producer.flush(30) == 0

    received: list[Contract] = []
    for message in consume(kafka_settings, STREAMS, f"roundtrip-{run_id}", at_least=len(sent)):
        decoded = decode(message.value())
        assert isinstance(decoded, Contract), decoded
        assert message.topic() == kafka_settings.topic(STREAM_OF[decoded.type])
        assert message.key() == _key(decoded)
        received.append(decoded)

    assert sorted(received, key=repr) == sorted(sent, key=repr)


def test_every_contract_round_trips_through_redis(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    sent = sample_contracts()
    with redis_client.pipeline(transaction=False) as pipe:
        for contract in sent:
            pipe.set(redis_prefix + contract.type, encode(contract), ex=60)
        pipe.execute()
    for contract in sent:
        assert decode(redis_client.get(redis_prefix + contract.type)) == contract
