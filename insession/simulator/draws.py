"""Repeatable ids and weighted picks drawn from a simulation's random streams."""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping


def new_event_id(rng: random.Random) -> str:
    """A UUID-4 event id drawn from the customer's stream (uuid4() would not be repeatable)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def new_device_id(rng: random.Random) -> str:
    return f"dev-{rng.getrandbits(48):012x}"


def pick(rng: random.Random, weights: Mapping[str, float]) -> str:
    return rng.choices(tuple(weights), tuple(weights.values()))[0]
