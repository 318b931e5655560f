"""Reading back what a test sent to the real broker."""

from __future__ import annotations

import time
from collections.abc import Iterable

from confluent_kafka import Consumer, Message

from insession.settings import Settings


def consume(
    settings: Settings,
    streams: Iterable[str],
    group: str,
    *,
    at_least: int,
    timeout: float = 30.0,
) -> list[Message]:
    """The streams' messages from the start: once `at_least` arrived, until a poll is empty."""
    consumer = Consumer(
        {
            **settings.kafka_client(),
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([settings.topic(stream) for stream in streams])
    found: list[Message] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and not message.error():
            found.append(message)
        elif message is None and len(found) >= at_least:
            break
    consumer.close()
    return found
