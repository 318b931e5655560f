"""Where the model's arms are published: Redis for running flows, a JSON file for replays.

Redis layout: one hash `{prefix}model:{policy}` with a field per offer (action id) holding
the arm's state as JSON, including its update count; deciders in every process load arms
whose count is ahead of theirs (`operators.learning.ModelHub.sync`). The file store keeps a
whole `ModelHub.snapshot()`, written atomically so a crash never leaves half a file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import redis
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from insession.connectors.breaker import Breaker
from insession.connectors.redis_client import REDIS_ERRORS, RedisClient
from insession.operators.learning import ArmUpdate, ModelHub

log = logging.getLogger(__name__)


class RedisModelStore:
    """Arms as fields of one Redis hash per policy."""

    def __init__(
        self, client: RedisClient, prefix: str, policy: str, breaker: Breaker | None = None
    ) -> None:
        self.client = client
        self.key = f"{prefix}model:{policy}"
        self.breaker = breaker or Breaker(pause_s=5.0)

    def load(self) -> dict[str, dict[str, Any]]:
        """The published arms; none while Redis is unreachable (deciding goes on with the
        model this process has, and a later sync catches up)."""
        if not self.breaker.allow():
            return {}
        try:
            fields = self.client.hgetall(self.key)
        except REDIS_ERRORS:
            self.breaker.failed()
            return {}
        return {arm.decode(): orjson.loads(state) for arm, state in fields.items()}

    def save(self, arms: Mapping[str, Mapping[str, Any]]) -> None:
        """Publish arms; raises `redis.RedisError` while Redis is down (even untried)."""
        if not self.breaker.allow():
            raise redis.ConnectionError("Redis unavailable: not retried yet")
        try:
            self.client.hset(self.key, mapping={a: orjson.dumps(s) for a, s in arms.items()})
        except REDIS_ERRORS:
            self.breaker.failed()
            raise


def save_snapshot(hub: ModelHub, arms: list[str], path: Path) -> dict[str, Any]:
    """Write the model's snapshot to `path` (atomically: a temporary file, then a rename)."""
    snapshot = hub.snapshot(arms)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_bytes(orjson.dumps(snapshot))
    os.replace(partial, path)
    return snapshot


def load_snapshot(hub: ModelHub, path: Path) -> str | None:
    """Restore the model from `path` if it exists; the version it restored, else None."""
    if not path.is_file():
        return None
    try:
        snapshot = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as error:
        raise ValueError(f"{path}: not a model snapshot ({error})") from None
    try:
        hub.restore(snapshot)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    return str(snapshot["version"])


class _PublishPartition(StatelessSinkPartition[ArmUpdate]):
    def __init__(self, hub: ModelHub) -> None:
        self.hub = hub
        self.unpublished: dict[str, ArmUpdate] = {}
        self.errors = 0

    def write_batch(self, items: list[ArmUpdate]) -> None:
        # Only an arm's latest state matters: what Redis refused is retried with the next batch.
        for update in items:
            self.unpublished[update.arm] = update
        try:
            self.hub.publish(self.unpublished.values())
        except REDIS_ERRORS as error:
            self.errors += 1
            if self.errors == 1 or self.errors % 100 == 0:
                log.warning("model not published (%s); retrying", error)
            return
        self.unpublished.clear()


class ModelPublishSink(DynamicSink[ArmUpdate]):
    """Publishes the learners' arm updates to the hub's store, batch by batch."""

    def __init__(self, hub: ModelHub) -> None:
        self.hub = hub

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _PublishPartition:
        return _PublishPartition(self.hub)
