"""Simulated customers: their tastes, price band, habits, devices and visit times."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from insession.simulator.catalogue import CATEGORIES, Product, Shop
from insession.simulator.config import DAY_MS, HOUR_MS, SimulationConfig
from insession.simulator.draws import pick

HOUR_WEIGHTS = (
    1, 1, 1, 1, 1, 1, 2, 4, 6, 6, 7, 9, 10, 8, 7, 7, 8, 10, 12, 14, 14, 11, 6, 3,
)  # fmt: skip
"""Sessions per hour of the day (UTC, for shoppers in CET): lunch and evening peaks."""
HANDLE_WORDS = ("lena", "max", "sofia", "jonas", "mila", "noah", "emma", "luca", "ines", "tom")
HANDLE_SUFFIXES = (".style", "_wears", ".daily", "_fits", "", ".official", "_looks")


@dataclass(slots=True)
class Customer:
    """One simulated person: who they are (drawn once) and what they have done so far."""

    index: int
    customer_id: str
    favourites: tuple[str, ...]
    price_band: int
    """log(price level / typical price) in tenths: -3 shops 26% below the typical price."""
    loyal: bool
    session_starts: list[int]
    primary_channel: str
    devices: dict[str, str]
    app_logged_in: bool
    handle: str
    social_linked: bool
    erasure: bool
    identified: bool = False
    """Known to the shop at least once: consent is asked then."""
    app_session_kept: bool = False
    """Logged in on the app and stays so: later app sessions carry the customer id at once."""
    orders: int = 0
    bought: list[Product] = field(default_factory=list)


def make_customer(shop: Shop, index: int, erasure: bool) -> Customer:
    """A customer's tastes, price band, habits and devices, from their own random stream.

    Each customer has independent streams, so their story does not change when the number
    of other customers does.
    """
    config = shop.config
    rng = random.Random(f"{config.seed}:customer:{index}")
    loyal = rng.random() < config.loyal_share
    mean_sessions = config.sessions_per_customer * (3.0 if loyal else 0.75)
    sessions = max(1, round(rng.expovariate(1.0 / mean_sessions)))
    primary = pick(rng, shop.mix)
    if loyal and "app" in shop.mix and rng.random() < 0.5:
        primary = "app"  # loyal shoppers tend to install the app
    return Customer(
        index=index,
        customer_id=f"cust-{index:06d}",
        favourites=tuple(rng.sample(tuple(CATEGORIES), rng.choice((2, 3)))),
        price_band=round(rng.gauss(0.0, 3.5)),
        loyal=loyal,
        session_starts=_session_starts(rng, sessions, config),
        primary_channel=primary,
        devices={},
        app_logged_in=rng.random() < config.app_login_rate,
        handle=f"{rng.choice(HANDLE_WORDS)}{rng.choice(HANDLE_SUFFIXES)}{rng.randrange(100)}",
        social_linked=rng.random() < config.social_linked_rate,
        erasure=erasure,
    )


def customer_index(customer_id: str) -> int | None:
    """The simulation index behind a customer id (`cust-000042` -> 42; None: not simulated)."""
    prefix, _, number = customer_id.partition("-")
    return int(number) if prefix == "cust" and number.isdigit() else None


def _session_starts(rng: random.Random, sessions: int, config: SimulationConfig) -> list[int]:
    """Planned session start times over the period, busier at lunch and in the evening."""
    days = max(1, math.ceil(config.days))
    starts = []
    for _ in range(sessions):
        day = rng.randrange(days)
        hour = rng.choices(range(24), HOUR_WEIGHTS)[0]
        offset = day * DAY_MS + hour * HOUR_MS + rng.randrange(HOUR_MS)
        starts.append(config.start_ms + min(offset, int(config.days * DAY_MS) - 1))
    return sorted(starts)
