"""The demo shop in real headless Chromium, over the real engine on Kafka and Redis: a visitor
who hesitates over a product, buys a jacket, searches in vain and revokes consent sees the
engine answer each within the session, with the reason codes on hover."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from insession.client import Storefront
from insession.runner.engine import default_catalogue
from insession.settings import Settings
from insession.shop.engine import start_engine
from insession.shop.front import ShopFront
from insession.shop.server import ShopServer
from tests.flow_process import flow_env
from tests.insession.ops.test_ops_page import browser

pytestmark = [pytest.mark.kafka, pytest.mark.redis]
__all__ = ["browser"]  # the fixture, used by name below

WAIT_S = 30.0
LOOK_S = 1.2
"""A visitor's pause between clicks (the demo engine spaces offers 2 s apart)."""


@pytest.fixture
def shop_url(kafka_settings: Settings, redis_prefix: str, tmp_path: Path) -> Iterator[str]:
    """The engine as `insession shop` starts it, and the shop's page, on this test's topics."""
    settings = dataclasses.replace(
        kafka_settings, redis_prefix=redis_prefix, services_dir=tmp_path, policy="baseline"
    )
    env = flow_env(settings, INSESSION_REDIS_PREFIX=redis_prefix)
    engine = start_engine(settings, tmp_path / "engine.log", env=env)
    storefront = Storefront(settings)
    server = ShopServer(ShopFront(storefront, default_catalogue(settings)), port=0)
    try:
        yield server.url
    finally:
        server.stop()
        storefront.close()
        engine.terminate()
        engine.wait(30)


class ShopPage:
    """The page as a visitor uses it."""

    def __init__(self, driver: Any, url: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver, self.url, self.by = driver, url, By
        driver.get(url)
        driver.execute_script("localStorage.clear()")  # a new visitor: a new device
        driver.get(url)
        self.until(lambda: self.all(".product"), "the home page's products")

    def all(self, css: str) -> list[Any]:
        return list(self.driver.find_elements(self.by.CSS_SELECTOR, css))

    def click(self, css: str) -> None:
        self.until(lambda: self.all(css), css)[0].click()

    def within(self, found: Callable[[], Any], timeout_s: float) -> Any:
        """What `found` returns once it is truthy, or None after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            result = found()
            if result:
                return result
            time.sleep(0.2)
        return None

    def until(self, found: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> Any:
        result = self.within(found, timeout_s)
        if not result:
            body = self.driver.find_element(self.by.TAG_NAME, "body").text
            raise AssertionError(f"no {what} on the page: {body}")
        return result

    def offers(self) -> list[dict[str, str]]:
        """Each offer shown: its kind, action, text and hover (the reason codes), read in one
        go (the page redraws them as they change)."""
        return list(
            self.driver.execute_script(
                "return [...document.querySelectorAll('.offer')].map((el) => ({kind: "
                "el.dataset.kind, action: el.dataset.action, text: el.innerText, hover: el.title}))"
            )
        )

    def sign_in_and_consent(self) -> None:
        self.click("#sign-in")
        self.until(lambda: self.all("#consent:not([disabled])"), "the consent box")
        self.click("#consent")

    def search(self, query: str) -> None:
        box = self.all("#search")[0]
        box.clear()
        box.send_keys(query)
        self.click("#search-go")


def test_the_shop_shows_the_engines_answers_within_the_session(shop_url: str, browser: Any) -> None:
    # Hesitation: the same product viewed three times (and again until the engine answers).
    page = ShopPage(browser, shop_url)
    page.sign_in_and_consent()
    time.sleep(LOOK_S)

    def hesitation() -> list[dict[str, str]]:
        return [o for o in page.offers() if "scenario:hesitation" in o["hover"]]

    for _ in range(3):
        page.click(".product")
        time.sleep(LOOK_S)
    for _ in range(4):  # a view too soon after an earlier offer is not answered: view again
        if page.within(hesitation, 4):
            break
        page.click(".product")
    shown = page.until(hesitation, "hesitation offer")
    assert shown[0]["hover"].startswith("Why: ") and "consent:" in shown[0]["hover"]

    # Consent revoked: the personalised offer is taken back, and no other comes.
    page.click("#consent")
    page.until(lambda: not hesitation(), "withdrawal of the hesitation offer")
    for _ in range(2):
        page.click(".product")
        time.sleep(LOOK_S)
    time.sleep(2 * LOOK_S)
    assert all("consent:not_needed" in o["hover"] for o in page.offers()), page.offers()

    # A jacket bought: something that goes with it.
    page = ShopPage(browser, shop_url)
    page.sign_in_and_consent()
    page.search("jacket")
    page.until(lambda: page.all(".product"), "jackets")
    page.click(".product")
    page.click("#add-to-cart")
    page.until(lambda: page.all("#cart-count")[0].text == "1", "the cart count")
    time.sleep(2 * LOOK_S)
    page.click("#checkout")
    time.sleep(2 * LOOK_S)  # paying takes a moment
    page.click("#buy")

    def complementary() -> list[dict[str, str]]:
        return [o for o in page.offers() if o["action"] in ("care-kit", "goes-with-purchase")]

    bought_with = page.until(complementary, "complementary offer")
    assert "care kit" in bought_with[0]["text"] or bought_with[0]["action"] == "goes-with-purchase"
    if os.environ.get("SHOP_SCREENSHOT"):
        browser.set_window_size(1280, 800)
        browser.save_screenshot(os.environ["SHOP_SCREENSHOT"])

    # Two searches that find nothing: help.
    page = ShopPage(browser, shop_url)
    page.search("qwertyuiop")
    time.sleep(LOOK_S)
    page.search("zxcvbnmlkj")
    page.until(lambda: [o for o in page.offers() if o["kind"] == "help"], "help offer")


def test_insession_shop_serves_the_page_and_its_api_and_stops_on_sigterm(
    kafka_settings: Settings, redis_prefix: str, tmp_path: Path
) -> None:
    env = flow_env(kafka_settings, INSESSION_REDIS_PREFIX=redis_prefix)
    log_path = tmp_path / "shop.log"
    with log_path.open("wb") as log:
        shop = subprocess.Popen(
            [sys.executable, "-m", "insession.cli", "shop", "--port", "0", "--no-engine"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        url = None
        while url is None and time.monotonic() < deadline and shop.poll() is None:
            said = log_path.read_text().splitlines()
            url = next(
                (line.split()[2] for line in said if line.startswith("insession shop: ")), None
            )
            time.sleep(0.2)
        assert url is not None, log_path.read_text()
        with urllib.request.urlopen(url, timeout=5) as page:
            assert b"Maison insession" in page.read()

        def call(path: str, body: bytes, **headers: str) -> urllib.request.Request:
            headers.setdefault("Content-Type", "application/json")
            return urllib.request.Request(f"{url}api/{path}", data=body, headers=headers)

        with urllib.request.urlopen(call("home", b'{"device": "device-0123abcd"}')) as home:
            products = orjson.loads(home.read())
        assert products and {"id", "name", "price"} <= set(products[0])
        refused = {
            "no product": call("view", b'{"device": "device-0123abcd", "product_id": "no"}'),
            "not a device id": call("home", b'{"device": "<script>"}'),
            "true or false": call("consent", b'{"device": "device-0123abcd", "granted": "no"}'),
            "application/json": call("home", b"{}", **{"Content-Type": "text/plain"}),
            "its own address": call("home", b"{}", Host="shop.example:80"),
        }
        for why, request in refused.items():
            with pytest.raises(urllib.error.HTTPError) as answer:
                urllib.request.urlopen(request, timeout=5)
            assert 400 <= answer.value.code < 500 and why in answer.value.read().decode(), why
        # A GET reaches no call: nothing a page elsewhere links to changes anything.
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(f"{url}api/buy?device=device-0123abcd", timeout=5)
        assert answer.value.code == 404
    finally:
        shop.send_signal(signal.SIGTERM)
        assert shop.wait(30) == 0, log_path.read_text()
