"""What `insession run` logs, as an on-call engineer's log collector reads it: with
`INSESSION_LOG_FORMAT=json` every line on stderr is a JSON object, and nothing logged at INFO
or above names a customer, a device or what they wrote, even while Redis is away and the
flow warns about it."""

from __future__ import annotations

import socket
import time

import orjson
import pytest
from confluent_kafka import Producer
from insession.schemas.codec import decode, encode
from insession.schemas.events import STREAM_OF, Consent, ProductView, Search, SocialPost

from insession.settings import Settings
from tests.flow_process import flow_env, running_flow
from tests.kafka_io import consume

pytestmark = pytest.mark.kafka

T0 = 1_764_000_000_000
CUSTOMER = "shopper-7fa2c19e"
DEVICE = "device-93be5d0a"
POST = "my parcel never came, worst delivery ever"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _traffic() -> list:
    def ev(cls, n: int, **kw):
        return cls(event_id=f"log-{n}", event_time=T0 + n * 1000, channel="web", **kw)

    return [
        ev(Consent, 1, customer_id=CUSTOMER, granted=True),
        *(ev(ProductView, n, anonymous_id=DEVICE, product_id="boots", price=90.0) for n in (2, 3)),
        ev(SocialPost, 4, customer_id=CUSTOMER, text=POST, platform="x"),
        ev(Search, 5, customer_id=CUSTOMER, query="delivery", result_count=0),
        ev(Search, 6, customer_id=CUSTOMER, query="shipping", result_count=0),
    ]


def test_a_run_logs_json_lines_that_name_nobody(
    kafka_settings: Settings, run_id: str, tmp_path
) -> None:
    env = flow_env(
        kafka_settings,
        INSESSION_REDIS_URL=f"redis://127.0.0.1:{_closed_port()}/0",  # away: warnings
        INSESSION_LOG_FORMAT="json",
        INSESSION_LOG_LEVEL="INFO",
    )
    log_path = tmp_path / "run.log"
    with running_flow(env, log_path) as process:
        producer = Producer(kafka_settings.kafka_client())
        for event in _traffic():
            topic = kafka_settings.topic(STREAM_OF[event.type])
            producer.produce(topic, encode(event), key=(event.partition_key() or "").encode())
        assert producer.flush(30) == 0
        deadline = time.monotonic() + 60
        offered = False
        while not offered and time.monotonic() < deadline and process.poll() is None:
            found = consume(kafka_settings, ["offers"], f"log-{run_id}", at_least=1, timeout=5)
            offered = any(decode(m.value()).customer_id == CUSTOMER for m in found)
        assert offered, log_path.read_text()
        time.sleep(2)  # the mirror's writer tries Redis again meanwhile

    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            records.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            pytest.fail(f"not a JSON line on stderr: {line!r}")
    assert all({"ts", "level", "logger", "message"} <= set(r) for r in records), records
    assert any(r["level"] == "INFO" and "reading" in r["message"] for r in records)
    assert any(r["level"] == "WARNING" and "unavailable" in r["message"] for r in records), (
        "Redis away is logged"
    )
    for secret in (CUSTOMER, DEVICE, POST, "parcel"):
        assert secret not in log_path.read_text(), f"{secret!r} was logged"
