"""Redelivered events (same event_id) count once per person; stitched history is not mistaken
for them."""

from __future__ import annotations

import pickle
import sys

from insession.operators.customer_step import DUPLICATE, Outcome, apply_routed
from insession.operators.duplicates import RECENT_EVENT_IDS, RecentIds
from insession.operators.identity import DeviceState, stitch_identity
from insession.operators.routing import Routed
from insession.operators.session import CustomerState
from insession.schemas.events import CartAdd, Event, IdentityLink

from tests.operators.scenario import T0, Shopper

_positions = iter(range(10**9))


def _routed(event: Event) -> Routed:
    return Routed(event, (event.event_time, "test", 0, next(_positions)))


def _add(n: int, *, customer: str | None = "c-1", device: str | None = None) -> CartAdd:
    return CartAdd(
        event_id=f"add-{n}",
        event_time=T0 + n * 1000,
        channel="web",
        customer_id=customer,
        anonymous_id=device,
        product_id=f"p{n}",
        unit_price=10.0,
    )


class People:
    """The flow's two keyed steps by hand: stitch per device, then the customer step."""

    def __init__(self) -> None:
        self.engine = Shopper().engine
        self.devices: dict[str, DeviceState] = {}
        self.people: dict[str, CustomerState] = {}
        self.outcomes: list[Outcome] = []

    def send(self, event: Event) -> None:
        item = _routed(event)
        if event.anonymous_id is None:
            item.person = event.customer_id or ""
            items = [item]
        else:
            device, items = stitch_identity(self.devices.get(event.anonymous_id), item)
            self.devices[event.anonymous_id] = device
        for routed in items:
            state, out = apply_routed(self.engine, self.people.get(routed.person), routed)
            if state is None:
                self.people.pop(routed.person, None)
            else:
                self.people[routed.person] = state
            self.outcomes.extend(out)

    def events(self, person: str) -> int:
        session = self.people[person].session
        return session.events if session is not None else 0

    def duplicates(self) -> list[Outcome]:
        """Duplicates a metric counts (a replayed one was counted by the device's person)."""
        return [o for o in self.outcomes if o.duplicate and o.decision_reason == DUPLICATE]


def test_a_triplicated_event_counts_once() -> None:
    people = People()
    for _ in range(3):
        people.send(_add(1))
    people.send(_add(2))
    session = people.people["c-1"].session
    assert session is not None
    assert session.events == 2 and session.cart["p1"].quantity == 1
    assert session.cart_value == 20.0
    dropped = people.duplicates()
    assert len(dropped) == 2
    assert all(o.offer is None and o.state is None and not o.withdrawals for o in dropped)


def test_the_window_is_per_person() -> None:
    people = People()
    people.send(_add(1, customer="c-1"))
    people.send(_add(1, customer="c-2"))  # the same id from someone else: not a redelivery
    assert people.events("c-1") == people.events("c-2") == 1
    assert people.duplicates() == []


def test_an_id_older_than_the_window_counts_again() -> None:
    seen = RecentIds()
    assert all(seen.first_time(f"e{n}") for n in range(RECENT_EVENT_IDS + 1))
    assert len(seen) == RECENT_EVENT_IDS
    assert seen.first_time("e0"), "forgotten: the oldest left the window"
    assert not seen.first_time(f"e{RECENT_EVENT_IDS}")


def test_the_window_survives_a_snapshot() -> None:
    seen = RecentIds()
    seen.first_time("e1")
    restored = pickle.loads(pickle.dumps(seen))
    assert not restored.first_time("e1") and restored.first_time("e2")


def test_a_window_snapshotted_before_digests_is_restored() -> None:
    seen = RecentIds.__new__(RecentIds)
    # What a snapshot of the window held before it kept digests: the ids, oldest first.
    seen.__setstate__((None, {"_ids": dict.fromkeys(["e1", "e2"]), "_limit": 2}))
    assert not seen.first_time("e2")
    assert seen.first_time("e3"), "new"
    assert seen.first_time("e1"), "e1 was the oldest: e3 took its place"
    assert not seen.first_time("e3")


def test_a_window_holds_a_few_bytes_per_id() -> None:
    seen = RecentIds()
    for n in range(RECENT_EVENT_IDS):
        seen.first_time(f"{n:032x}")
    assert sys.getsizeof(seen._ids) < 12 * RECENT_EVENT_IDS + 100


def test_stitched_history_is_applied_to_the_customer_not_dropped() -> None:
    people = People()
    people.send(_add(1, customer=None, device="dev-1"))
    people.send(_add(2, customer=None, device="dev-1"))
    # The login: the device's past is re-sent to the customer (replayed), and the device's
    # person is told to forget, with an event it has already seen.
    people.send(
        IdentityLink(
            event_id="login",
            event_time=T0 + 3000,
            channel="web",
            anonymous_id="dev-1",
            customer_id="c-1",
        )
    )
    assert "anon:dev-1" not in people.people, "the forget acted"
    assert people.events("c-1") == 3, "two replayed adds and the login"
    assert people.duplicates() == []
    # The device's first add delivered again, now routed to the customer: a duplicate.
    people.send(_add(1, customer=None, device="dev-1"))
    assert people.events("c-1") == 3 and len(people.duplicates()) == 1


def test_a_duplicate_buffered_by_the_device_counts_once_for_the_customer() -> None:
    people = People()
    people.send(_add(1, customer=None, device="dev-1"))
    people.send(_add(1, customer=None, device="dev-1"))  # redelivered before the login
    assert len(people.duplicates()) == 1
    people.send(
        IdentityLink(
            event_id="login",
            event_time=T0 + 5000,
            channel="web",
            anonymous_id="dev-1",
            customer_id="c-1",
        )
    )
    assert people.events("c-1") == 2, "the add once, the login"
    session = people.people["c-1"].session
    assert session is not None and session.cart["p1"].quantity == 1
    assert len(people.duplicates()) == 1, "counted once, by the device's person"
