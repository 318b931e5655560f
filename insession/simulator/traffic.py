"""The whole simulation: every customer's and public poster's events, merged in time order."""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Iterable, Iterator

from insession.schemas.events import Event
from insession.simulator.catalogue import Shop
from insession.simulator.config import SimulationConfig
from insession.simulator.malformed import with_malformed
from insession.simulator.social import public_posts
from insession.simulator.timeline import Wake, customer_events


def _erasure_customers(config: SimulationConfig) -> set[int]:
    """Exactly round(rate × customers) of them: too rare to leave to a per-customer coin."""
    rng = random.Random(f"{config.seed}:erasure")
    count = min(config.customers, int(config.erasure_rate * config.customers + 0.5))
    return set(rng.sample(range(config.customers), count))


def simulate(config: SimulationConfig) -> Iterator[Event | bytes]:
    """Every customer's and public poster's events, merged in event-time order.

    Yields bytes only for deliberately malformed messages (`malformed_rate` > 0).
    """
    shop = Shop(config)
    erasing = _erasure_customers(config)
    timelines: list[Iterable[Event | Wake]] = [public_posts(shop)]
    timelines.extend(
        customer_events(shop, index, index in erasing) for index in range(config.customers)
    )
    merged: Iterator[Event] = (
        item  # type: ignore[misc]
        for item in heapq.merge(*timelines, key=_event_time)
        if type(item) is not Wake
    )
    items = with_malformed(merged, config) if config.malformed_rate > 0 else merged
    return itertools.islice(items, config.max_events) if config.max_events is not None else items


def _event_time(event: Event | Wake) -> int:
    return event.event_time
