"""The flow end to end over secured Kafka (SASL/SCRAM, TLS, both) and a Redis that asks for a
password over TLS: the local broker's secured listeners and the secured redis-server that
`insession services up` starts, with a CA made by `openssl` in the services folder."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import pytest
from confluent_kafka import Producer
from insession.schemas.codec import decode, encode
from insession.schemas.events import STREAM_OF

from insession.connectors.kafka_admin import broker_ready, create_topics, delete_topics
from insession.connectors.redis_client import REDIS_ERRORS, connect
from insession.connectors.redis_mirror import MirrorLayout
from insession.dev.secured import LocalClients, local_clients
from insession.settings import Settings
from tests.conftest import unavailable
from tests.flow_process import RUN, flow_env, running_flow
from tests.kafka_io import consume
from tests.samples import failed_searches

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

T0 = 1_764_000_000_000


@pytest.fixture(scope="module")
def doors(base_settings: Settings) -> LocalClients:
    """The local services' secured listeners, answering with the folder's credentials."""
    clients = local_clients(base_settings)
    for name, client in clients.kafka.items():
        if not broker_ready(client, timeout=5):
            unavailable(
                f"Kafka's {name} listener is not answering at {client['bootstrap.servers']} "
                "(start it with `insession services up`; a broker started before the secured "
                "listeners existed needs `insession services down` first)"
            )
    for name, url in clients.redis.items():
        redis = connect(url, socket_timeout=5)
        try:
            redis.ping()
        except REDIS_ERRORS:
            unavailable(f"the secured Redis ({name}) is not answering (`insession services up`)")
        finally:
            redis.close()
    return clients


def _secured_settings(base: Settings, client: dict[str, str], run_id: str, test: str) -> Settings:
    properties = {k: v for k, v in client.items() if k != "bootstrap.servers"}
    topics = {stream: f"test.{run_id}.{test}.{stream}" for stream in base.topics}
    return dataclasses.replace(
        base,
        bootstrap_servers=client["bootstrap.servers"],
        kafka=properties,
        topics=topics,
        partitions=2,
    )


@dataclasses.dataclass(frozen=True)
class SecuredRun:
    settings: Settings
    prefix: str
    log: Path
    process: subprocess.Popen[bytes]


@pytest.fixture
def flow_over(
    request: pytest.FixtureRequest,
    doors: LocalClients,
    base_settings: Settings,
    run_id: str,
    tmp_path: Path,
) -> Iterator[SecuredRun]:
    """`insession run` over one secured Kafka door and the password + TLS Redis: the Kafka
    properties from `INSESSION_KAFKA_*` (SASL) or an `[insession.kafka]` table (the others).
    """
    door = request.param
    settings = _secured_settings(base_settings, doors.kafka[door], run_id, door)
    prefix = f"test:{run_id}:secured-{door}:"
    create_topics(settings)
    env = flow_env(settings, INSESSION_REDIS_URL=doors.redis["tls"], INSESSION_REDIS_PREFIX=prefix)
    if door == "sasl":
        env.update(
            {f"INSESSION_KAFKA_{k.upper().replace('.', '_')}": v for k, v in settings.kafka.items()}
        )
    else:
        config = tmp_path / "insession.toml"
        table = "\n".join(f'"{k}" = "{v}"' for k, v in settings.kafka.items())
        config.write_text(f"[insession.kafka]\n{table}\n")
        env["INSESSION_CONFIG"] = str(config)
    log_path = tmp_path / "run.log"
    try:
        with running_flow(env, log_path) as process:
            yield SecuredRun(settings, prefix, log_path, process)
    finally:
        delete_topics(settings.kafka_client(), settings.topics.values())
        redis = connect(doors.redis["tls"])
        for key in redis.scan_iter(match=prefix + "*"):
            redis.delete(key)
        redis.close()


@pytest.mark.parametrize("flow_over", ["sasl", "tls", "sasl_tls"], indirect=True)
def test_the_flow_offers_over_secured_kafka_and_mirrors_to_a_password_tls_redis(
    flow_over: SecuredRun, doors: LocalClients, run_id: str
) -> None:
    settings, prefix, log_path = flow_over.settings, flow_over.prefix, flow_over.log
    customer = f"shopper-{uuid.uuid4().hex[:6]}"
    producer = Producer(settings.kafka_client())
    for event in failed_searches(customer, T0):
        producer.produce(
            settings.topic(STREAM_OF[event.type]), encode(event), key=customer.encode()
        )
    assert producer.flush(30) == 0

    deadline = time.monotonic() + 90
    offers: list = []
    while time.monotonic() < deadline and not offers and flow_over.process.poll() is None:
        found = consume(settings, ["offers"], f"secured-{run_id}", at_least=1, timeout=5)
        offers = [o for o in map(decode, (m.value() for m in found)) if o.customer_id == customer]
    assert offers, f"no offer over the secured listener; the run said:\n{log_path.read_text()}"
    assert offers[0].kind == "help"

    redis = connect(doors.redis["tls"])
    summary_key = MirrorLayout(prefix=prefix).summary_key(customer)
    while time.monotonic() < deadline and not redis.exists(summary_key):
        time.sleep(0.2)
    summary = orjson.loads(redis.get(summary_key) or b"null")
    redis.close()
    assert summary is not None, "the mirror wrote to the TLS Redis as its ACL user"
    assert summary["session"]["failed_searches"] >= 2

    said = log_path.read_text()
    assert "over SASL" in said or "over SSL" in said, said
    for secret in (settings.kafka.get("sasl.password"), urlsplit(doors.redis["tls"]).password):
        if secret:
            assert secret not in said, "a password was printed"


def test_a_run_refused_by_the_broker_says_why_and_stops(
    doors: LocalClients, base_settings: Settings, tmp_path: Path
) -> None:
    wrong = "not-the-password"
    client = doors.kafka["sasl"]
    env = {
        **os.environ,
        "INSESSION_BOOTSTRAP_SERVERS": client["bootstrap.servers"],
        "INSESSION_KAFKA_SECURITY_PROTOCOL": client["security.protocol"],
        "INSESSION_KAFKA_SASL_MECHANISM": client["sasl.mechanism"],
        "INSESSION_KAFKA_SASL_USERNAME": client["sasl.username"],
        "INSESSION_KAFKA_SASL_PASSWORD": wrong,
    }
    started = time.monotonic()
    done = subprocess.run(
        [*RUN, "--no-redis"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "refused this client" in done.stderr and "Authentication failed" in done.stderr
    assert wrong not in done.stderr + done.stdout
    assert time.monotonic() - started < 30, "a refusal is not waited out"


@pytest.mark.parametrize("door", ["password", "acl", "tls"])
def test_redis_urls_with_passwords_acl_users_and_tls_reach_the_secured_server(
    doors: LocalClients, door: str
) -> None:
    url = doors.redis[door]
    client = connect(url, fail_fast=True)
    assert client.ping()
    assert client.acl_whoami() == ("default" if door == "password" else "shop")
    client.close()
    wrong = connect(url.replace("@", "x@", 1), fail_fast=True)  # the password, one letter more
    with pytest.raises(REDIS_ERRORS):
        wrong.ping()
    wrong.close()
