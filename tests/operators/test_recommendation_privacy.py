"""What a list may never show: a shopper's own history without consent, an erased person's
contribution, an out-of-stock product, a "cheaper" item that no longer is. Found in review;
each failed before its fix."""

from __future__ import annotations

from insession.operators.customer_step import apply_routed, shelve
from insession.operators.personalise import Personaliser
from insession.operators.routing import Routed
from insession.operators.session import CustomerState
from insession.schemas.events import Consent, ErasureRequest, Event, ProductUpdate, ProductView

from tests.operators.scenario import Shopper

CAMP = [("tent", 100.0, "camp"), ("mat", 20.0, "camp")]
BOOTS = [("boots-12", 150.0), ("boots-7", 99.0), ("boots-lux", 400.0), ("boots-3", 120.0)]


def _others(engine: Personaliser, count: int, trip: list[tuple[str, float, str]]) -> None:
    for n in range(count):
        other = Shopper(customer_id=f"o-{n}", engine=engine)
        for product, price, category in trip:
            other.view(product, price=price, category=category)


def _boot_browsers(engine: Personaliser) -> None:
    _others(engine, 4, [(p, price, "shoes.boots") for p, price in BOOTS])


def _view(n: int, product: str, price: float, at: int) -> ProductView:
    return ProductView(
        event_id=f"v{n}", event_time=at, channel="web", customer_id="c-1",
        product_id=product, price=price, category="shoes.boots",
    )  # fmt: skip


def _batch(engine: Personaliser, state: CustomerState | None, events: list[Event]):
    """One release of a person's events, as `flows/personalise.py` runs them."""
    outcomes = []
    for n, event in enumerate(events):
        routed = Routed(event, (event.event_time, "t", 0, n))
        state, out = apply_routed(engine, state, routed, shelve=False)
        outcomes.extend(out)
    return state, shelve(engine, state, outcomes)


def _erase(engine: Personaliser, shopper: Shopper) -> None:
    erasure = ErasureRequest(
        event_id="x", event_time=shopper.now + 1, channel="web",
        customer_id=shopper.customer_id, request_id="r",
    )  # fmt: skip
    state, _ = apply_routed(engine, shopper.state, Routed(erasure, (shopper.now, "t", 0, 0)))
    assert state is None


def test_without_consent_his_own_session_never_comes_back_to_him() -> None:
    he = Shopper(customer_id="he")
    _others(he.engine, 7, CAMP)
    he.view("secret-1", price=30.0, category="camp")
    he.view("secret-2", price=30.0, category="camp")
    he.view("tent", price=100.0, category="camp")
    shelf = he.engine.recs.shelf(he.state, "tent", consented=False)
    assert shelf and not {"secret-1", "secret-2", "tent"} & {r.item for r in shelf}


def test_one_persons_three_visits_are_not_everyone() -> None:
    he = Shopper(customer_id="he")
    for secret in ("secret-a", "secret-b", "secret-c"):
        he.view(secret, price=30.0, category="camp", after_s=4 * 3600)  # a session each
        he.view("tent", price=100.0, category="camp")
    assert he.state.sessions == 3
    shelf = he.engine.recs.shelf(he.state, "tent", consented=False)
    assert not {"secret-a", "secret-b", "secret-c"} & {r.item for r in shelf}


def test_an_erased_persons_items_leave_the_cached_lists() -> None:
    engine = Shopper().engine
    _others(engine, 3, CAMP)
    she = Shopper(customer_id="she", engine=engine)
    she.view("only-she-saw-this", price=30.0, category="camp")
    she.view("tent", price=100.0, category="camp")
    later = Shopper(customer_id="before", engine=engine)
    later.view("tent", price=100.0, category="camp")  # the tent's list is cached now
    _erase(engine, she)
    assert not engine.recs.knowledge.knows("only-she-saw-this")
    after = Shopper(customer_id="after", engine=engine)
    after.view("tent", price=100.0, category="camp")
    assert "only-she-saw-this" not in after.state.shelf


def test_an_erased_persons_personal_list_is_not_kept() -> None:
    engine = Shopper().engine
    _others(engine, 3, CAMP)
    she = Shopper(customer_id="she", engine=engine)
    she.consent()
    she.view("pregnancy-test", price=10.0, category="health")
    she.view("tent", price=100.0, category="camp")
    _erase(engine, she)
    kept = [seeds for seeds, _, _ in engine.recs._personal_lists.values()]
    assert not any("pregnancy-test" in seeds for seeds in kept)


def test_picked_for_you_never_shows_what_went_out_of_stock_since_the_shelf() -> None:
    engine = Shopper().engine
    _boot_browsers(engine)
    t = 1_764_100_000_000
    grant = Consent(event_id="g", event_time=t, channel="web", customer_id="c-1", granted=True)
    state, _ = _batch(engine, None, [grant, _view(1, "boots-12", 150.0, t + 1_000)])
    assert state is not None and state.shelf_top
    gone = state.shelf[0]
    engine.products.learn_update(
        ProductUpdate(event_id="u", event_time=t + 1_500, product_id=gone, in_stock=False)
    )
    for n in range(2, 6):  # one release: the shelf is computed again only after its end
        made = engine.handle(state, _view(n, "boots-3", 120.0, t + 1_000 * n), shelve=False)
        offer = made.decision.offer
        assert offer is None or gone not in offer.items


def test_cheaper_follows_prices_as_they_change() -> None:
    she = Shopper()
    _boot_browsers(she.engine)
    recs = she.engine.recs
    she.view("boots-12", price=150.0, category="shoes.boots")
    event = _view(99, "boots-12", 150.0, she.now)
    assert "boots-7" in [r.item for r in recs.for_offer("cheaper", she.state, event, 3)]
    she.engine.products.learn_update(
        ProductUpdate(event_id="u2", event_time=she.now + 1, product_id="boots-7", price=300.0)
    )
    assert "boots-7" not in [r.item for r in recs.for_offer("cheaper", she.state, event, 3)]
    she.engine.products.learn_update(
        ProductUpdate(event_id="u3", event_time=she.now + 2, product_id="boots-12", price=50.0)
    )
    assert recs.for_offer("cheaper", she.state, event, 3) == (), "nothing is cheaper than 50"
