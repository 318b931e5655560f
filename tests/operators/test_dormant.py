"""Idle people leave memory and come back as they were: over a simulated month, the offers with
eviction are exactly the offers without it, while most people spend most of it out of memory."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import orjson
import pytest
from insession.models.items import Recommendation
from insession.models.policy import build_policy
from insession.operators import recommendations
from insession.operators.customer_step import EVICTED, close_windows, next_window_end, shelve
from insession.operators.dormant import (
    MemoryDormantStore,
    dormant_record,
    evictable,
    revive,
)
from insession.operators.personalise import EngineConfig, Personaliser, top_of_shelf
from insession.operators.routing import Routed
from insession.operators.session import CustomerState
from insession.schemas.catalogue import load_catalogue
from insession.schemas.events import Event, Offer

from insession.evaluation.closed_loop import _Loop
from insession.simulator import DAY_MS, SimulationConfig, simulate
from tests.samples import sample_contracts

CATALOGUE = Path(__file__).resolve().parents[2] / "insession" / "catalogue.toml"
IDLE_MS = 2 * DAY_MS


def _engine(policy: str, *, evicting: bool) -> Personaliser:
    catalogue = load_catalogue(CATALOGUE)
    return Personaliser(
        catalogue,
        build_policy(policy, catalogue.offers),
        EngineConfig(idle_eviction_ms=IDLE_MS),
        dormant=MemoryDormantStore() if evicting else None,
    )


def _run(
    policy: str, events: list[Event], monkeypatch: pytest.MonkeyPatch, *, evicting: bool
) -> tuple[list[Offer], dict[str, int]]:
    """The flow's steps over the events; every 100 events the timers of people whose time has
    come fire at the stream's time, as a live flow's watermark fires them."""
    # The item knowledge knows sessions by a random key per person: here the n-th person
    # gets the same key in both runs.
    keys = (f"{n:016x}" for n in itertools.count())
    monkeypatch.setattr(recommendations.secrets, "token_hex", lambda _: next(keys))
    engine = _engine(policy, evicting=evicting)
    store = engine.dormant
    loop = _Loop(engine)
    offers: list[Offer] = []
    counts = {"evicted": 0, "revived": 0, "most_out": 0}
    for n, event in enumerate(events):
        for routed in loop.route(Routed(event, (event.event_time, "t", 0, n))):
            if isinstance(store, MemoryDormantStore) and routed.person not in loop.people:
                counts["revived"] += routed.person in store.records
            # The flow's finish hook: the shelf after the person's events (here, each).
            outcomes = loop.step(routed)
            outcomes = shelve(engine, loop.people.get(routed.person), outcomes)
            offers.extend(o.offer for o in outcomes if o.offer is not None)
        if n % 100 == 0:
            for person, state in list(loop.people.items()):
                due = next_window_end(engine, state)
                if due is not None and due <= event.event_time:
                    kept, outcomes = close_windows(engine, state, event.event_time)
                    counts["evicted"] += sum(o.event_type == EVICTED for o in outcomes)
                    if kept is None:
                        del loop.people[person]
            if isinstance(store, MemoryDormantStore):
                out = len(set(store.records) - set(loop.people))
                counts["most_out"] += out > len(loop.people)
    return offers, counts


@pytest.fixture(scope="module")
def month() -> list[Event]:
    config = SimulationConfig(seed=5, customers=250, sessions_per_customer=4.0, days=28)
    return [e for e in simulate(config) if isinstance(e, Event)]


@pytest.mark.parametrize("policy", ["baseline", "thompson"])
def test_offers_with_eviction_are_the_offers_without_it(
    policy: str, month: list[Event], monkeypatch: pytest.MonkeyPatch
) -> None:
    kept_offers, _ = _run(policy, month, monkeypatch, evicting=False)
    evicted_offers, counts = _run(policy, month, monkeypatch, evicting=True)
    print(policy, counts, len(kept_offers), "offers")
    assert counts["evicted"] > 100 and counts["revived"] > 50, counts
    assert counts["most_out"] > 0, "at some point most people were out of memory"
    assert len(evicted_offers) == len(kept_offers) > 500
    assert evicted_offers == kept_offers


def _idle_state() -> CustomerState:
    month = simulate(SimulationConfig(seed=1, customers=5, days=3))
    events = [e for e in month if isinstance(e, Event)]
    engine = _engine("baseline", evicting=True)
    loop = _Loop(engine)
    for n, event in enumerate(events):
        for routed in loop.route(Routed(event, (event.event_time, "t", 0, n))):
            shelve(engine, loop.people.get(routed.person), loop.step(routed))
    return max(loop.people.values(), key=lambda s: s.orders * 100 + s.sessions)


def test_a_record_brings_back_what_outlives_the_session() -> None:
    state = _idle_state()
    assert state.session is not None
    back = revive(dormant_record(state))
    for name in ("person", "customer_id", "consent", "orders", "lifetime_value", "sessions"):
        assert getattr(back, name) == getattr(state, name), name
    assert list(back.owned) == list(state.owned) and back.shelf_top == state.shelf_top
    assert back.session is None and back.pending is None and len(back.seen) == 0


def test_a_record_of_whole_shelf_recommendations_still_revives_their_seeds() -> None:
    state = _idle_state()
    state.shelf, state.shelf_top = ("tent", "boots-3"), ("boots-12", None)
    fields = orjson.loads(dormant_record(state))
    fields["shelf_top"] = [
        ["tent", 0.9, "viewed_together", "boots-12"],
        ["boots-3", 0.5, "trending", None],
    ]
    back = revive(orjson.dumps(fields))
    assert back.shelf_top == ("boots-12", None)
    assert [(r.item, r.seed) for r in top_of_shelf(back)] == [
        ("tent", "boots-12"),
        ("boots-3", None),
    ]
    whole = dataclasses.replace(
        back, shelf_top=tuple(Recommendation(*r) for r in fields["shelf_top"])
    )
    assert top_of_shelf(whole) == whole.shelf_top, "a state snapshotted before reads the same"


def test_nobody_leaves_with_a_decision_pending_or_an_offer_showing() -> None:
    state = _idle_state()
    assert state.session is not None
    later = state.session.last_event_at + IDLE_MS + 1
    assert evictable(state, later, IDLE_MS)
    assert not evictable(state, later - 2, IDLE_MS), "not idle long enough"
    showing = dataclasses.replace(
        _offer(state), expires_at=later + 1, decided_at=later - 10, event_time=later - 10
    )
    state.live_offers.append(showing)
    assert not evictable(state, later, IDLE_MS)
    state.live_offers.clear()
    state.shelf_due = True
    assert not evictable(state, later, IDLE_MS)


def test_a_record_that_cannot_be_read_is_refused() -> None:
    with pytest.raises(ValueError, match="unreadable dormant record"):
        revive(b'{"v": 1, "person": "x"}')
    with pytest.raises(ValueError, match="version"):
        revive(b'{"v": 99}')


def _offer(state: CustomerState) -> Offer:
    template = next(c for c in sample_contracts() if isinstance(c, Offer))
    return dataclasses.replace(template, customer_id=state.customer_id or "c", offer_id="of-x")
