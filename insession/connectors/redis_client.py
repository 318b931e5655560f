"""Redis clients for one server or a Redis Cluster, chosen by the URL.

`redis://` and `rediss://` name one server; `redis+cluster://host:port` and
`rediss+cluster://` name any node of a Redis Cluster, from which the client learns the others.
Every part of the engine that writes to Redis (the mirror, the offer ledger, the model store,
the item log) takes either.

The keys that a script touches together share a slot through a hash tag (`insession.keys`),
and pipelines send one key per command, so nothing the engine sends is refused as cross-slot.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.exceptions import ClusterDownError, RedisClusterException, TryAgainError
from redis.retry import Retry

from insession.urls import redacted_url

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}

REDIS_ERRORS: tuple[type[Exception], ...] = (redis.RedisError, RedisClusterException)
"""What a failed call to either kind of client raises (a cluster's own errors are not all
`RedisError`s)."""

RETRY_LATER: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    ClusterDownError,
    TryAgainError,
)
"""Errors a pipelined command may come back with that say "not now" rather than "never": a node
down, a slot moving. A batch with one of them is kept and sent again, not dropped."""


def is_cluster_url(url: str) -> bool:
    """Whether `url` names a Redis Cluster (`redis+cluster://`, `rediss+cluster://`)."""
    return urlsplit(url).scheme in CLUSTER_SCHEMES


class LazyCluster:
    """A `RedisCluster` made at its first use, which then stands in for it.

    A `RedisCluster` asks its nodes for the slot map when it is made, and raises if none
    answers: made lazily, a flow starts while the cluster is down and keeps what it would write
    (as it does with one server), and the failure surfaces as a `redis.ConnectionError` where
    the engine already handles one.
    """

    def __init__(self, url: str, options: dict[str, Any]) -> None:
        scheme = urlsplit(url).scheme
        self.url = urlunsplit(urlsplit(url)._replace(scheme=CLUSTER_SCHEMES[scheme]))
        self.options = options
        self._client: RedisCluster | None = None

    def client(self) -> RedisCluster:
        if self._client is None:
            try:
                self._client = RedisCluster.from_url(self.url, **self.options)
            except REDIS_ERRORS as error:
                raise redis.ConnectionError(
                    f"Redis Cluster at {redacted_url(self.url)} unreachable: {error}"
                ) from error
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client(), name)


RedisClient = redis.Redis | LazyCluster


def connect(url: str, *, fail_fast: bool = False, **options: Any) -> RedisClient:
    """A client for the server or cluster `url` names.

    `fail_fast`: give up after one try with short timeouts (redis-py retries a refused
    connection for seconds by default), for callers that keep what Redis refused and try again
    later themselves.
    """
    if fail_fast:
        options = {
            "socket_timeout": 0.5,
            "socket_connect_timeout": 0.5,
            "retry": Retry(NoBackoff(), 0),
            **options,
        }
    if is_cluster_url(url):
        return LazyCluster(url, options)
    return redis.Redis.from_url(url, **options)


def flow_client(url: str) -> RedisClient:
    """A client for the flow's writes: it fails fast instead of retrying, since the flow keeps
    what Redis refused and tries again later itself. Half a second is hundreds of times a
    loopback round trip, and bounds what a hung server costs each caller before its breaker
    opens."""
    return connect(url, fail_fast=True)


def delete_prefixed(url: str, prefix: str) -> int:
    """Delete every key under `prefix` (a benchmark's or a test's own); how many. A cluster's
    nodes are scanned one by one (SCAN covers one node)."""
    client = connect(url)
    deleted = 0
    try:
        if isinstance(client, LazyCluster):
            names = [
                name
                for node in client.get_primaries()
                for name in client.scan_iter(match=f"{prefix}*", count=1000, target_nodes=node)
            ]
        else:
            names = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(names), 1000):
            pipe = client.pipeline(transaction=False)
            for name in names[start : start + 1000]:  # one key each: no DEL across slots
                pipe.delete(name)
            deleted += sum(pipe.execute())
    finally:
        client.close()
    return deleted
