"""The ops page on a real flow: `insession run` on Kafka and Redis, `insession ops` scraping
it, headless Chromium reading the page while simulated traffic and feedback flow."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from insession.schemas.codec import decode, encode
from insession.schemas.events import Offer, OfferFeedback

from insession.settings import Settings
from tests.insession.ops.test_ops_page import OpsPage, browser, ops_command
from tests.integration.fault_scenarios import RunningFlow, Traffic, produce

pytestmark = [pytest.mark.kafka, pytest.mark.redis]
__all__ = ["browser"]  # the fixture, used by name below


class Storefront(threading.Thread):
    """Answers every other offer to a known customer with `accepted`, the rest `dismissed`."""

    def __init__(self, settings: Settings, group: str) -> None:
        super().__init__(daemon=True)
        self.settings = settings
        self.group = group
        self.stopped = threading.Event()

    def run(self) -> None:
        consumer = Consumer(
            {
                **self.settings.kafka_client(),
                "group.id": self.group,
                "auto.offset.reset": "earliest",
            }
        )
        consumer.subscribe([self.settings.topic("offers")])
        producer = Producer({**self.settings.kafka_client()})
        answered = 0
        while not self.stopped.is_set():
            message = consumer.poll(0.2)
            if message is None or message.error():
                continue
            offer = decode(message.value())
            if not isinstance(offer, Offer) or offer.customer_id is None:
                continue
            answered += 1
            feedback = OfferFeedback(
                event_id=f"fb-{offer.offer_id}",
                event_time=offer.decided_at + 2_000,
                channel=offer.channel,
                customer_id=offer.customer_id,
                offer_id=offer.offer_id,
                outcome="accepted" if answered % 2 else "dismissed",
            )
            producer.produce(
                self.settings.topic("offer_feedback"),
                encode(feedback),
                key=offer.customer_id.encode(),
            )
            producer.poll(0)
        producer.flush(10)
        consumer.close()


def test_the_ops_page_moves_with_a_real_flow(
    flow_settings: Settings, redis_prefix: str, run_id: str, tmp_path: Path, browser: Any
) -> None:
    flow = RunningFlow(flow_settings, tmp_path / "run.log", env={"INSESSION_CONTROL_SHARE": "0.5"})
    flow.start()
    storefront = Storefront(flow_settings, f"storefront-{run_id}")
    storefront.start()
    traffic = Traffic(customers=40, each=60, tag="live")
    producing = threading.Thread(
        target=produce, args=(flow_settings, traffic.events(int(time.time() * 1000)), 150.0)
    )
    producing.start()
    try:
        with ops_command(flow.metrics_url.removesuffix("/metrics"), window_s=3) as url:
            page = OpsPage(browser, url).open()
            assert page.wait_for("events-per-s", lambda v: v > 0, "above zero") > 0
            first = page.wait_for("events-total", lambda v: v > 0, "above zero")
            time.sleep(2)
            later = page.value("events-total")
            assert later is not None and later > first, "the total moves while traffic flows"
            assert page.wait_for("offers-policy", lambda v: v > 0) > 0
            assert page.wait_for("offers-control", lambda v: v > 0) > 0
            policy = page.wait_for("acceptance-policy", lambda v: 0 < v <= 1)
            control = page.wait_for("acceptance-control", lambda v: 0 < v <= 1)
            assert 0.2 <= policy <= 0.8 and 0.2 <= control <= 0.8, (policy, control)
            assert page.text("model-version").startswith("thompson")
            assert page.value("lag-total") is not None
            assert page.text("endpoints-up") == "1/1"
    finally:
        producing.join()
        storefront.stopped.set()
        storefront.join(15)
        flow.stop()
