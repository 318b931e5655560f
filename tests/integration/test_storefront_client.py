"""`insession.client` against the real flow on Kafka and Redis: a storefront sends a shopper's
clicks, follows her offers (each once, withdrawn ones taken out), answers one and reads her
shelf and summary as the engine wrote them."""

from __future__ import annotations

import dataclasses
import itertools
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from insession.schemas.events import (
    Consent,
    IdentityLink,
    ProductView,
    Search,
)

from insession.client import OfferFeed, Storefront
from insession.settings import Settings
from tests.flow_process import flow_env, running_flow

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def shop_settings(kafka_settings: Settings, redis_prefix: str) -> Settings:
    return dataclasses.replace(kafka_settings, redis_prefix=redis_prefix)


@pytest.fixture
def engine(shop_settings: Settings, tmp_path: Path) -> Iterator[Path]:
    """The flow, live on this test's topics; yields its log."""
    env = flow_env(shop_settings, INSESSION_REDIS_PREFIX=shop_settings.redis_prefix)
    log = tmp_path / "run.log"
    with running_flow(env, log) as process:
        yield log
        assert process.poll() is None, log.read_text()


def _wait_for(feed: OfferFeed, log: Path, what: str, **match: str) -> None:
    deadline = time.monotonic() + 60
    seen = []
    while time.monotonic() < deadline:
        for offer in feed.wait(timeout_s=2):
            if all(getattr(offer, k) == v for k, v in match.items()):
                return
            seen.append((offer.action_id, offer.reason_codes))
    raise AssertionError(f"no {what} among {seen}: {log.read_text()}")


def _paced_clock() -> Callable[[], float]:
    """Event times 30 s apart, from 20 minutes ago: the default contact policy's 20 s gap
    between offers lets each decision through, and every offer is still live now."""
    times = itertools.count(time.time() - 20 * 60, 30)
    return lambda: next(times)


def test_a_storefront_follows_its_shoppers_offers_answers_them_and_reads_her_shelf(
    shop_settings: Settings, engine: Path
) -> None:
    shopper, device = f"c-{uuid.uuid4().hex[:8]}", f"d-{uuid.uuid4().hex[:8]}"
    with Storefront(shop_settings, clock=_paced_clock()) as shop:
        # Other shoppers view boots, then socks: the item knowledge learns they go together.
        for n in range(4):
            other = f"o-{n}-{shopper}"
            shop.send(Consent, customer_id=other, granted=True)
            for product, price in (("boots", 90.0), ("socks", 80.0)):  # one price level
                shop.send(ProductView, customer_id=other, product_id=product, price=price)
        feed = OfferFeed(shop_settings, customer_id=shopper, anonymous_id=device)
        everyone = OfferFeed(shop_settings, start="latest")
        # A device whose id is her customer id: her offers' message key, but not its shopper.
        impostor = OfferFeed(shop_settings, anonymous_id=shopper)

        shop.send(ProductView, anonymous_id=device, product_id="boots", price=90.0)
        shop.send(IdentityLink, anonymous_id=device, customer_id=shopper)
        shop.send(Consent, customer_id=shopper, granted=True)
        for _ in range(4):  # hesitating over the boots
            shop.send(ProductView, customer_id=shopper, product_id="boots", price=90.0)
        shop.flush()
        _wait_for(feed, engine, "hesitation offer", action_id="variant-cheaper")
        hesitation = next(o for o in feed.current() if o.action_id == "variant-cheaper")
        assert all(o.customer_id == shopper for o in feed.current())

        shop.feedback(hesitation, "shown")
        shop.flush()
        deadline = time.monotonic() + 30
        outcome = None
        while outcome != "shown" and time.monotonic() < deadline:
            summary = shop.summary(customer_id=shopper) or {}
            offers = summary.get("session", {}).get("offers", [])
            outcome = next(
                (o["outcome"] for o in offers if o["offer_id"] == hesitation.offer_id), None
            )
            time.sleep(0.2)
        assert outcome == "shown", "the engine read the storefront's feedback"

        # Her shelf: what the others viewed with the boots (once the engine has learned it).
        deadline = time.monotonic() + 30
        shelf = None
        while time.monotonic() < deadline and not (shelf and shelf.items):
            shop.send(ProductView, customer_id=shopper, product_id="boots", price=90.0)
            shop.flush()
            time.sleep(1)
            shelf = shop.shelf(customer_id=shopper)
        assert shelf is not None and "socks" in [i.item for i in shelf.items], shelf

        # A revoke withdraws her personalised offers: the feed takes them out.
        shop.send(Consent, customer_id=shopper, granted=False)
        shop.flush()
        deadline = time.monotonic() + 60
        while hesitation.offer_id in {o.offer_id for o in feed.current()}:
            assert time.monotonic() < deadline, engine.read_text()
            feed.poll(1.0)

        # A feed from the beginning sees the same offers once each, whatever was resent.
        again = OfferFeed(shop_settings, customer_id=shopper, start="earliest")
        seen = [u.offer.offer_id for u in again.poll(5.0) + again.poll(2.0) if u.offer]
        assert len(seen) == len(set(seen)) and hesitation.offer_id in seen
        assert hesitation.offer_id not in {o.offer_id for o in again.current()}, "withdrawn"

        # The feed of everyone sees other shoppers' offers too; hers are among them.
        assert shopper in {o.customer_id for o in everyone.wait(timeout_s=5, at_least=1000)}
        assert impostor.wait(timeout_s=3, at_least=1) == [], "another shopper's offers"
        for f in (feed, everyone, again, impostor):
            f.close()


def test_an_event_the_engine_would_dead_letter_is_refused_before_it_leaves(
    shop_settings: Settings,
) -> None:
    with Storefront(shop_settings) as shop:
        with pytest.raises(ValueError, match="customer_id or anonymous_id is required"):
            shop.send(Search, query="boots", result_count=3)
        with pytest.raises(ValueError, match="result_count"):
            shop.send(Search, customer_id="c", query="boots", result_count=-1)


def test_the_example_runs_against_the_engine(shop_settings: Settings, engine: Path) -> None:
    env = flow_env(shop_settings, INSESSION_REDIS_PREFIX=shop_settings.redis_prefix)
    done = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "examples" / "storefront_client.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr + engine.read_text()
    assert "offer: help" in done.stdout, done.stdout
