"""The local service manager starts real servers, reuses running ones, and stops only its own."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import pytest

from insession.connectors.redis_client import connect
from insession.dev import services
from insession.settings import Settings


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_kafka_binds_to_loopback_only() -> None:
    for secured in (False, True):
        properties = services._kafka_properties(Settings(), Path("/data"), secured)
        listeners = dict(
            line.split("=", 1) for line in properties.splitlines() if "listeners=" in line
        )
        addresses = [a.split("://")[1] for a in listeners["listeners"].split(",")]
        assert all(a.startswith("127.0.0.1:") for a in addresses), addresses
        assert "PLAINTEXT://127.0.0.1:9092" in listeners["advertised.listeners"]
        assert "CONTROLLER://127.0.0.1:9093" in listeners["listeners"]
        assert ("SASL_SSL://127.0.0.1:9096" in listeners["listeners"]) is secured
        assert "process.roles=broker,controller" in properties


@pytest.mark.redis
def test_redis_lifecycle_on_a_spare_port(tmp_path: Path) -> None:
    if services.shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (scripts/bootstrap.sh installs it)")
    settings = Settings(redis_url=f"redis://127.0.0.1:{_free_port()}/0", services_dir=tmp_path)
    assert not services.redis_ready(settings)
    assert services.start_redis(settings) > 0
    assert services.redis_ready(settings)
    assert services.start_redis(settings) == 0.0, "a second start must reuse the running server"
    assert services.down(settings) == ["redis"]
    assert not services.redis_ready(settings)
    assert not (tmp_path / "redis.pid").exists()


def test_a_redis_cluster_starts_on_spare_ports_serves_every_slot_and_stops(
    tmp_path: Path,
) -> None:
    if services.shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (scripts/bootstrap.sh installs it)")
    # Each node also listens on its port + 10000 (the cluster bus): ports low enough for that.
    ports = tuple(
        p
        for p in range(7301, 7400)
        if not services.port_open("127.0.0.1", p) and not services.port_open("127.0.0.1", p + 10000)
    )[:3]
    settings = Settings(services_dir=tmp_path)
    try:
        took = services.start_redis_cluster(settings, ports=ports)
        assert took > 0 and services.cluster_ready(ports)
        assert services.start_redis_cluster(settings, ports=ports) == 0.0, "reused"
        cluster = connect(f"redis+cluster://127.0.0.1:{ports[0]}", socket_timeout=5)
        for n in range(30):  # keys in slots all over the three masters
            cluster.set(f"k{n}", n)
        assert [int(cluster.get(f"k{n}")) for n in range(30)] == list(range(30))
        masters = {node.port for node in cluster.get_primaries()}
        assert masters == set(ports)
        cluster.close()
    finally:
        stopped = [services.stop(settings, f"redis-cluster-{port}") for port in ports]
    assert stopped == [True] * 3 and not services.cluster_ready(ports)


@pytest.mark.kafka
@pytest.mark.redis
def test_running_services_are_reused_and_never_stopped_by_others(
    kafka_settings: Settings, redis_client, redis_cluster, tmp_path: Path
) -> None:
    stranger = dataclasses.replace(kafka_settings, services_dir=tmp_path)
    assert set(services.up(stranger).values()) == {0.0}  # each one reused
    assert services.down(stranger) == []
    assert all(state.answering for state in services.status(stranger))
    assert not any(state.started_here for state in services.status(stranger))


def test_kafka_cluster_ids_never_look_like_an_option() -> None:
    """Kafka's storage tool reads an id starting with "-" as an option (seen in CI)."""
    ids = [services.kafka_cluster_id() for _ in range(2000)]
    assert not any(i.startswith("-") for i in ids)
    assert all(len(i) == 22 for i in ids) and len(set(ids)) == len(ids)
