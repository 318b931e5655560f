"""Shared fixtures: the real data folder, the real Kafka broker and the real Redis server.

A test that needs a missing service or `../shared/data` is skipped with the reason on a
developer's machine and fails under `CI=true`, so CI never passes by skipping.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from insession.connectors.kafka_admin import broker_ready, create_topics, delete_topics
from insession.connectors.redis_client import REDIS_ERRORS, LazyCluster, connect
from insession.dev.services import CLUSTER_URL
from insession.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def unavailable(what: str) -> None:
    """Fail under CI, skip elsewhere, naming what is missing and how to provide it."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} (CI=true: required, not skipped)", pytrace=False)
    pytest.skip(what)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The public data sets in `../shared/data` (read in place, never copied)."""
    path = Path(os.environ.get("INSESSION_DATA_DIR", ROOT.parent / "shared" / "data"))
    if not (path / "README.md").is_file():
        unavailable(f"real data folder {path} is missing")
    return path


@pytest.fixture(scope="session")
def run_id() -> str:
    """Tags this test run's topics and keys so runs never see each other's data."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    """Settings from the environment, as the CLI would read them."""
    return Settings.load()


@pytest.fixture
def kafka_settings(
    base_settings: Settings, run_id: str, request: pytest.FixtureRequest
) -> Iterator[Settings]:
    """Settings whose topics are this test's own, created on the real broker, deleted after."""
    if not broker_ready(base_settings.kafka_client()):
        unavailable(
            f"Kafka is not answering at {base_settings.bootstrap_servers} "
            "(start it with `insession services up`)"
        )
    test = request.node.name.replace("[", ".").replace("]", "")[:80]
    topics = {stream: f"test.{run_id}.{test}.{stream}" for stream in base_settings.topics}
    settings = dataclasses.replace(base_settings, topics=topics, partitions=2)
    create_topics(settings)
    yield settings
    delete_topics(settings.kafka_client(), topics.values())


@pytest.fixture(scope="session")
def redis_server(base_settings: Settings) -> Iterator[redis.Redis]:
    """A client of the real Redis server."""
    client = redis.Redis.from_url(base_settings.redis_url, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError:
        unavailable(
            f"Redis is not answering at {base_settings.redis_url} "
            "(start it with `insession services up`)"
        )
    yield client
    client.close()


@pytest.fixture(scope="session")
def redis_client(redis_server: redis.Redis) -> redis.Redis:
    """The Redis that tests use: the server (modules that test both override it with
    `any_redis`)."""
    return redis_server


@dataclasses.dataclass(frozen=True)
class RedisUnderTest:
    """A real Redis a test runs against: one server or the local cluster."""

    kind: str
    url: str
    client: redis.Redis


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[redis.Redis]:
    """A client of the real local Redis Cluster (three masters on 7001-7003)."""
    lazy = connect(CLUSTER_URL, socket_timeout=5)
    assert isinstance(lazy, LazyCluster)
    try:
        lazy.ping()
    except REDIS_ERRORS:
        unavailable(
            f"the Redis Cluster is not answering at {CLUSTER_URL} "
            "(start it with `insession services up`)"
        )
    yield lazy.client()  # type: ignore[misc]
    lazy.close()


@pytest.fixture(params=["redis", "cluster"])
def any_redis(request: pytest.FixtureRequest, base_settings: Settings) -> RedisUnderTest:
    """Each test that takes it runs twice: against the Redis server and the Redis Cluster."""
    if request.param == "redis":
        client = request.getfixturevalue("redis_server")
        return RedisUnderTest("redis", base_settings.redis_url, client)
    return RedisUnderTest("cluster", CLUSTER_URL, request.getfixturevalue("redis_cluster"))


@pytest.fixture
def redis_prefix(
    redis_client: redis.Redis, run_id: str, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A key prefix of this test's own; every key under it is deleted afterwards."""
    # Brackets (of parametrized tests) would be a character class in the SCAN pattern.
    test = request.node.name.replace("[", ".").replace("]", "")
    prefix = f"test:{run_id}:{test}:"
    yield prefix
    for key in redis_client.scan_iter(match=prefix + "*", count=1000):
        redis_client.delete(key)


@pytest.fixture
def flow_settings(kafka_settings: Settings, redis_prefix: str) -> Settings:
    """This test's own topics and Redis prefix, for a flow run as its own process."""
    return dataclasses.replace(kafka_settings, redis_prefix=redis_prefix)
