"""One customer's timeline: sessions in turn, what they set off later, and erasure."""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from insession.schemas.events import Consent, ErasureRequest, Event
from insession.simulator.catalogue import Shop
from insession.simulator.config import DAY_MS, HOUR_MS, MINUTE_MS, SimulationConfig
from insession.simulator.draws import new_event_id, pick
from insession.simulator.sessions import Session, play_session
from insession.simulator.shoppers import Customer, make_customer
from insession.simulator.social import maybe_post

SESSION_GAP_MS = 30 * MINUTE_MS
"""The engine cuts sessions after 30 quiet minutes; the simulator keeps sessions further apart."""


def _revocation(session: Session) -> Consent:
    """A change of mind, hours to days after the session, from the privacy settings or by mail."""
    rng = session.rng
    return Consent(
        event_id=new_event_id(rng),
        event_time=session.clock + int(rng.uniform(2 * HOUR_MS, 2 * DAY_MS)),
        channel=rng.choice(("web", "app", "email")),
        customer_id=session.customer.customer_id,
        granted=False,
        purpose="personalisation",
    )


def _after_session(session: Session) -> None:
    """What a session sets off later: a consent revocation, a social post."""
    if session.revokes:
        session.deferred.append(_revocation(session))
    maybe_post(session)


def _channel_for(customer: Customer, rng: random.Random, mix: Mapping[str, float]) -> str:
    """Mostly the customer's usual channel, sometimes another one."""
    if rng.random() < 0.7:
        return customer.primary_channel
    return pick(rng, mix)


@dataclass(frozen=True, slots=True)
class Wake:
    """Holds a customer's place in the merge until their first session is due.

    The merge takes one item from every timeline up front; a placeholder instead of a real
    event means no session is built before it is needed (cheap with --max-events).
    """

    event_time: int


def customer_events(shop: Shop, index: int, erasure: bool) -> Iterator[Event | Wake]:
    """One customer's events in time order, built a session at a time.

    Each session draws from its own random stream (seed, customer, session number), so an
    idle customer holds no generator state. Events decided during a session but happening
    later (posts, revocations) wait in a small heap until the timeline reaches them.
    """
    config = shop.config
    customer = make_customer(shop, index, erasure)
    yield Wake(customer.session_starts[0])
    pending: list[tuple[int, int, Event]] = []
    order = itertools.count()
    last = config.start_ms
    for number, planned in enumerate(customer.session_starts):
        rng = random.Random(f"{config.seed}:customer:{index}:session:{number}")
        start = planned if number == 0 else max(planned, last + _session_gap(rng))
        if start >= config.end_ms:
            break  # pushed out of the period by the customer's earlier sessions
        session = Session(shop, customer, rng, _channel_for(customer, rng, shop.mix), start)
        play_session(session)
        _after_session(session)
        events, deferred, last = session.events, session.deferred, session.clock
        del session, rng
        for event in events:
            while pending and pending[0][0] <= event.event_time:
                yield heapq.heappop(pending)[2]
            yield event
        for event in deferred:
            if event.event_time < config.end_ms:  # later than the period: not seen
                heapq.heappush(pending, (event.event_time, next(order), event))
    while pending:
        event = heapq.heappop(pending)[2]
        last = event.event_time
        yield event
    if customer.erasure:
        rng = random.Random(f"{config.seed}:customer:{index}:erasure")
        yield _erasure(customer, rng, config, last)


def _session_gap(rng: random.Random) -> int:
    """Quiet time before the next session: always longer than the engine's 30-minute cut."""
    return SESSION_GAP_MS + MINUTE_MS + int(rng.expovariate(1 / (2 * HOUR_MS)))


def _erasure(
    customer: Customer, rng: random.Random, config: SimulationConfig, last: int
) -> ErasureRequest:
    """Right to be forgotten near the end of the period, after the customer's last event."""
    when = max(last + HOUR_MS, config.end_ms - int(rng.uniform(0, 12 * HOUR_MS)))
    return ErasureRequest(
        event_id=new_event_id(rng),
        event_time=when,
        channel=rng.choice(("email", "web", "call_center")),
        customer_id=customer.customer_id,
        request_id=f"era-{rng.getrandbits(64):016x}",
    )
