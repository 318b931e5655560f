"""Reading back every key name and value a test's prefix holds in the real Redis."""

from __future__ import annotations

import redis


def keys_and_values(client: redis.Redis, prefix: str) -> dict[bytes, list[bytes]]:
    """Each key under `prefix` with the bytes it holds (members and fields of lists, sets,
    sorted sets and hashes alike)."""
    found: dict[bytes, list[bytes]] = {}
    for key in client.scan_iter(match=prefix + "*", count=1000):
        kind = client.type(key).decode()
        if kind == "string":
            values = [client.get(key) or b""]
        elif kind == "list":
            values = client.lrange(key, 0, -1)
        elif kind == "set":
            values = list(client.smembers(key))
        elif kind == "zset":
            values = client.zrange(key, 0, -1)
        elif kind == "hash":
            values = [part for pair in client.hgetall(key).items() for part in pair]
        else:
            values = []  # gone between the scan and the read
        found[key] = values
    return found


def naming(client: redis.Redis, prefix: str, needle: str) -> list[str]:
    """The keys under `prefix` whose name or value contains `needle`."""
    wanted = needle.encode()
    return sorted(
        key.decode()
        for key, values in keys_and_values(client, prefix).items()
        if wanted in key or any(wanted in value for value in values)
    )
