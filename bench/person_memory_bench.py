"""Flow memory per person in memory, and what it is made of.

Run (no services needed):

    .venv/bin/python bench/person_memory_bench.py [--customers 8000] [--days 28]

Simulates a month of shoppers (most visit once), runs the flow's keyed steps over it in plain
Python (`insession.evaluation.closed_loop`), thompson with recommendations on. People leave
memory after the idle window (`INSESSION_IDLE_EVICTION_S`, default 3 days) and devices leave
the stitch step, as the timers of a live flow would let them. Events are encoded and decoded
as the flow reads them, so no person shares a string with the simulator. At `--at` of the
events it measures the deep size of every `CustomerState` in memory (each object counted once,
for the first person who reaches it; the engine's and the catalogue's own objects not at all),
and prints the bytes per person with a breakdown by field, and the bytes per device.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import sys
from collections import Counter
from collections.abc import Iterable
from typing import Any

from insession.models.sentiment import text_scorer
from insession.operators.customer_step import close_windows, next_window_end, shelve
from insession.operators.dormant import MemoryDormantStore
from insession.operators.identity import stale_at
from insession.operators.routing import Inbound, Routed, decode_inbound
from insession.operators.session import CustomerState
from insession.schemas.codec import encode
from insession.schemas.events import Event

from insession.evaluation.closed_loop import _Loop
from insession.runner.engine import load_engine
from insession.settings import Settings
from insession.simulator import SimulationConfig, simulate

TIMERS_EVERY = 100
"""Events between two looks at the people's timers (a live flow looks at each batch)."""


def _deep_size(root: Any, seen: set[int], shared: set[int]) -> int:
    """Bytes reachable from `root` that nothing counted before reached (`seen`), leaving out
    `shared` objects and whatever only they reach."""
    total = 0
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or id(obj) in shared or isinstance(obj, type):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


def _fields(obj: Any) -> Iterable[tuple[str, Any]]:
    return ((f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj))


def _parts(state: CustomerState) -> Iterable[tuple[str, Any]]:
    """The state's fields, the session's as `session.<name>`."""
    for name, value in _fields(state):
        if name == "session" and value is not None:
            yield from ((f"session.{inner}", part) for inner, part in _fields(value))
        else:
            yield name, value


def measure(people: dict[str, CustomerState], shared: set[int]) -> tuple[int, Counter[str]]:
    """Total bytes of the people's states, and the bytes of each field (session fields as
    `session.<name>`), each object counted once."""
    seen: set[int] = set()
    by_field: Counter[str] = Counter()
    total = 0
    for state in people.values():
        for shell in (state, state.session):  # the objects themselves, not what they hold
            if shell is not None:
                seen.add(id(shell))
                total += sys.getsizeof(shell)
        for name, value in _parts(state):
            size = _deep_size(value, seen, shared)
            by_field[name] += size
            total += size
    return total, by_field


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=8000)
    parser.add_argument("--days", type=float, default=28)
    parser.add_argument("--sessions", type=float, default=1.3)
    parser.add_argument("--at", type=float, default=0.9, help="share of the events")
    args = parser.parse_args()
    settings = dataclasses.replace(Settings.load(), policy="thompson")
    engine = load_engine(settings, dormant="memory")
    assert isinstance(engine.dormant, MemoryDormantStore)
    config = SimulationConfig(
        customers=args.customers, days=args.days, sessions_per_customer=args.sessions
    )
    events = [e for e in simulate(config) if isinstance(e, Event)]
    events.sort(key=lambda e: e.event_time)
    loop = _Loop(engine)
    sentiment = text_scorer(settings.sentiment)
    idle_ms = engine.config.idle_eviction_ms
    stop_at = int(len(events) * args.at)
    for n, event in enumerate(events[:stop_at]):
        read = decode_inbound(
            Inbound("bench", 0, n, encode(event)), settings.max_message_bytes, sentiment=sentiment
        )
        if not isinstance(read, Routed):
            continue
        for routed in loop.route(read):
            shelve(engine, loop.people.get(routed.person), loop.step(routed))
        if n % TIMERS_EVERY == 0:
            for person, state in list(loop.people.items()):
                due = next_window_end(engine, state)
                if due is not None and due <= event.event_time:
                    kept, _ = close_windows(engine, state, event.event_time)
                    if kept is None:
                        del loop.people[person]
            for device, held in list(loop.devices.items()):
                due = stale_at(held, idle_ms)
                if due is not None and due <= event.event_time:
                    del loop.devices[device]
    # What the states share with the rest of the engine is not theirs.
    shared = {id(o) for o in gc.get_referents(engine)}
    shared |= {id(o) for o in gc.get_referents(engine.catalogue)}
    total, by_field = measure(loop.people, shared)
    people = len(loop.people)
    print(
        f"{stop_at:,} of {len(events):,} events; people in memory {people:,}, "
        f"dormant records {len(engine.dormant.records):,}, devices {len(loop.devices):,}"
    )
    print(f"per person in memory: {total / people:,.0f} B")
    for name, bytes_ in by_field.most_common(14):
        print(f"  {name:<28} {bytes_ / people:>7,.0f} B")
    device_seen: set[int] = set()
    device_bytes = sum(_deep_size(d, device_seen, shared) for d in loop.devices.values())
    if loop.devices:
        print(f"per device in the stitch step: {device_bytes / len(loop.devices):,.0f} B")


if __name__ == "__main__":
    main()
