"""Poison messages on the real broker, through `insession run`: a message near the 1 MiB limit
(or over it) is dead-lettered in a record Kafka takes, its original cut and the cut said, and
the flow goes on to the events after it, with and without recovery."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import orjson
import pytest
import redis
from insession.schemas.codec import decode, encode
from insession.schemas.events import DeadLetter

from insession.settings import Settings
from tests.integration.fault_scenarios import (
    RunningFlow,
    Traffic,
    produce,
    scrape,
    session_counts,
    total,
    wait_for,
)
from tests.kafka_io import consume

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

NEAR_LIMIT = 1_000_000
"""Bytes of the poison messages under the limit: their base64 alone (1,333,336) is over it."""


def _padded(document: dict, field: str, size: int) -> bytes:
    """`document` as JSON of exactly `size` bytes, `field` padded with x's."""
    short = orjson.dumps({**document, field: ""})
    return orjson.dumps({**document, field: "x" * (size - len(short))})


def poison(limit: int, now_ms: int) -> dict[str, bytes]:
    """By the reason each should be dead-lettered for: invalid JSON and a field far too long
    (both just under the limit), another contract fed back to an input topic (decodes, but
    is no input event), and one byte over the limit."""
    event = {
        "type": "product_view",
        "schema_version": "1.0",
        "event_id": "poison-1",
        "event_time": now_ms,
        "channel": "web",
        "customer_id": "poison",
        "price": 10.0,
    }
    letter = orjson.loads(
        encode(
            DeadLetter(
                original="",
                source_topic="elsewhere",
                stage="decode",
                reason="invalid_json",
                error="not JSON",
                failed_at=now_ms,
            )
        )
    )
    return {
        "invalid_json": b"{" + b"x" * (NEAR_LIMIT - 1),
        "too_long": _padded(event, "product_id", NEAR_LIMIT),
        "not_an_input_event": _padded(letter, "original", NEAR_LIMIT),
        "too_large": b" " * (limit + 1),
    }


@pytest.mark.parametrize("recovery", [False, True], ids=["plain", "recovery"])
def test_messages_near_the_size_limit_are_dead_lettered_and_the_flow_goes_on(
    flow_settings: Settings,
    redis_client: redis.Redis,
    redis_prefix: str,
    run_id: str,
    tmp_path: Path,
    recovery: bool,
) -> None:
    limit = flow_settings.max_message_bytes
    now_ms = int(time.time() * 1000)
    bad = poison(limit, now_ms)
    before = Traffic(customers=5, each=6, tag="before")
    after = Traffic(customers=5, each=6, tag="after")
    args = ("--recovery-dir", str(tmp_path / "recovery")) if recovery else ()
    flow = RunningFlow(flow_settings, tmp_path / "run.log")
    flow.start(*args)
    try:
        produce(flow_settings, before.events(now_ms), rate=500)
        produce(flow_settings, list(bad.values()), rate=50)
        produce(flow_settings, after.events(now_ms + 1000), rate=500)

        people = [*before.expected(), *after.expected()]
        expected = {**before.expected(), **after.expected()}
        assert (
            wait_for(lambda: session_counts(redis_client, redis_prefix, people) == expected, 60)
            is not None
        ), f"every good event, also after the poison, counted once:\n{_tail(flow)}"
        assert flow.alive(), _tail(flow)

        messages = consume(flow_settings, ["dead_letter"], f"dlq-{run_id}", at_least=len(bad))
        letters = {}
        for message in messages:
            assert len(message.value()) <= limit, "the dead letter fits the message limit"
            letter = decode(message.value(), max_bytes=limit)
            assert isinstance(letter, DeadLetter), letter
            letters[letter.reason] = letter
        assert set(letters) == set(bad)
        for reason, raw in bad.items():
            letter = letters[reason]
            kept = base64.b64decode(letter.original)
            assert letter.truncated and letter.original_bytes == len(raw)
            assert 0 < len(kept) < len(raw) and raw.startswith(kept)
            assert letter.source_topic == flow_settings.topic("clickstream")

        samples = scrape(flow.metrics_url)
        assert total(samples, "insession_dead_letters_total") == len(bad)
        assert total(samples, "insession_kafka_produce_errors_total") == 0
    finally:
        flow.stop()


def _tail(flow: RunningFlow) -> str:
    return flow.log.read_text(errors="replace")[-3000:]
