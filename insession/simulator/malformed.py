"""Deliberately malformed messages: the mistakes real producers make, for dead-letter demos."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

from insession.schemas.codec import encode
from insession.schemas.events import Event
from insession.simulator.config import SimulationConfig
from insession.simulator.messages import MALFORMED_STREAM, STREAM_OF


def _truncated(rng: random.Random, raw: bytes, _: dict[str, Any]) -> bytes:
    return raw[: rng.randrange(1, len(raw) - 1)]


def _time_as_text(_: random.Random, __: bytes, obj: dict[str, Any]) -> bytes:
    obj["event_time"] = datetime.fromtimestamp(obj["event_time"] / 1000, UTC).isoformat()
    return orjson.dumps(obj)


def _time_in_seconds(_: random.Random, __: bytes, obj: dict[str, Any]) -> bytes:
    obj["event_time"] //= 1000
    return orjson.dumps(obj)


def _number_as_text(rng: random.Random, __: bytes, obj: dict[str, Any]) -> bytes:
    for name in ("price", "result_count", "dwell_ms"):
        if obj.get(name) is not None:
            obj[name] = str(obj[name]).replace(".", ",")
            return orjson.dumps(obj)
    obj["event_time"] = str(obj["event_time"])
    return orjson.dumps(obj)


def _unknown_type(rng: random.Random, __: bytes, obj: dict[str, Any]) -> bytes:
    obj["type"] = rng.choice(("pageview", "product_viewed", "add_to_wishlist", "PageView"))
    return orjson.dumps(obj)


def _no_ids(_: random.Random, __: bytes, obj: dict[str, Any]) -> bytes:
    obj.pop("customer_id", None)
    obj["anonymous_id"] = None
    return orjson.dumps(obj)


def _bad_channel(rng: random.Random, __: bytes, obj: dict[str, Any]) -> bytes:
    obj["channel"] = rng.choice(("mobile_web", "android", "WEB", ""))
    return orjson.dumps(obj)


def _new_major(_: random.Random, __: bytes, obj: dict[str, Any]) -> bytes:
    obj["schema_version"] = "2.0"
    return orjson.dumps(obj)


def _batched(_: random.Random, __: bytes, obj: dict[str, Any]) -> bytes:
    return orjson.dumps([obj])


def _missing_field(_: random.Random, __: bytes, obj: dict[str, Any]) -> bytes:
    obj.pop("event_id")
    return orjson.dumps(obj)


MALFORMATIONS: tuple[Callable[[random.Random, bytes, dict[str, Any]], bytes], ...] = (
    _truncated,
    _time_as_text,
    _time_in_seconds,
    _number_as_text,
    _unknown_type,
    _no_ids,
    _bad_channel,
    _new_major,
    _batched,
    _missing_field,
)
"""Mistakes real producers make: each one is rejected by `schemas.codec.decode`."""


def malform(event: Event, rng: random.Random) -> bytes:
    """The event as a buggy producer might have sent it."""
    raw = encode(event)
    return rng.choice(MALFORMATIONS)(rng, raw, orjson.loads(raw))


def with_malformed(items: Iterator[Event], config: SimulationConfig) -> Iterator[Event | bytes]:
    """Replace a share of click-stream events by malformed bytes (the event is lost)."""
    rng = random.Random(f"{config.seed}:malformed")
    for event in items:
        if STREAM_OF[event.type] == MALFORMED_STREAM and rng.random() < config.malformed_rate:
            yield malform(event, rng)
        else:
            yield event
