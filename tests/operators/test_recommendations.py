"""Shelves and product offers from the item knowledge, in the customer step (no dataflow)."""

from __future__ import annotations

import tomllib

import pytest
from insession.models.policy import GreedyPolicy
from insession.models.scorer import BaselineScorer
from insession.operators.customer_step import apply_routed, close_windows
from insession.operators.dormant import MemoryDormantStore, revive
from insession.operators.personalise import EngineConfig, Handled, Personaliser
from insession.operators.recommendations import RecsConfig
from insession.operators.routing import Routed
from insession.schemas.catalogue import CatalogueError, load_catalogue, parse_catalogue
from insession.schemas.events import Consent, ErasureRequest, ProductUpdate, ProductView

from insession.simulator import DAY_MS
from tests.operators.scenario import CATALOGUE, Shopper

BOOTS = [("boots-12", 150.0), ("boots-7", 99.0), ("boots-lux", 400.0), ("boots-3", 120.0)]


def _browsers(engine: Personaliser, count: int = 4) -> None:
    for n in range(count):
        other = Shopper(customer_id=f"other-{n}", engine=engine)
        for product, price in BOOTS:
            other.view(product, price=price, category="shoes.boots")


def _handled_view(shopper: Shopper, product: str, price: float) -> Handled:
    """A boots view 10 s after the shopper's last event, with everything `handle` made."""
    view = ProductView(
        event_id="last", event_time=shopper.now + 10_000, channel="web",
        customer_id=shopper.customer_id, product_id=product, price=price,
        category="shoes.boots",
    )  # fmt: skip
    return shopper.engine.handle(shopper.state, view)


def _sizes(engine: Personaliser) -> tuple[int, int]:
    sizes = engine.recs.knowledge.sizes()
    return sizes.sessions, sizes.index_entries


def test_the_shelf_follows_the_session_and_leaves_out_the_cart_and_what_is_owned() -> None:
    she = Shopper()
    _browsers(she.engine)
    she.consent()
    she.view("boots-12", price=150.0, category="shoes.boots")
    first = she.state.shelf
    assert first and "boots-12" not in first, "the product in view is not on its own shelf"
    she.add("boots-7", price=99.0, category="shoes.boots")
    assert "boots-7" not in she.state.shelf, "in the cart"
    she.buy("boots-7", price=99.0, category="shoes.boots")
    assert "boots-7" not in she.state.shelf, "owned"


def test_without_consent_the_shelf_reads_only_the_product_in_view() -> None:
    he = Shopper()
    _browsers(he.engine)
    he.view("boots-lux", price=400.0, category="shoes.boots")
    decision = _handled_view(he, "boots-3", 120.0)
    assert decision.shelf
    assert {r.seed for r in decision.shelf} <= {"boots-3", None}
    assert all(r.strategy != "recently_viewed" for r in decision.shelf)


def test_assume_consent_treats_silent_shoppers_as_consenting_but_a_no_still_wins() -> None:
    engine = Personaliser(
        Shopper().engine.catalogue, Shopper().engine.policy, EngineConfig(assume_consent=True)
    )
    silent, refused = Shopper(engine=engine), Shopper(customer_id="c-2", engine=engine)
    refused.consent(False)
    assert engine.consented(silent.state) and not engine.consented(refused.state)


def test_an_out_of_stock_product_is_never_recommended_after_the_feed_says_so() -> None:
    she = Shopper()
    _browsers(she.engine)
    she.consent()
    she.view("boots-12", price=150.0, category="shoes.boots")
    assert "boots-7" in she.state.shelf
    she.engine.products.learn_update(
        ProductUpdate(event_id="u1", event_time=she.now, product_id="boots-7", in_stock=False)
    )
    for _ in range(3):  # hesitation: the cheaper alternative would be boots-7
        decision = she.view("boots-12", price=150.0, category="shoes.boots")
    assert "boots-7" not in she.state.shelf
    assert decision.offer is None or "boots-7" not in decision.offer.items


def test_an_erasure_takes_the_persons_sessions_out_of_the_item_knowledge() -> None:
    """After the erasure the knowledge holds what it would had she never shopped."""
    engine = Shopper().engine
    _browsers(engine)
    before = _sizes(engine)
    she = Shopper(customer_id="c-9", engine=engine)
    she.consent()
    for product, price in reversed(BOOTS):
        she.view(product, price=price, category="shoes.boots")
    she.view("hat-1", price=20.0, category="hats", after_s=3_600)  # a second session
    assert _sizes(engine) != before
    erasure = ErasureRequest(
        event_id="x", event_time=she.now + 1, channel="web", customer_id="c-9", request_id="r"
    )
    state, [outcome] = apply_routed(engine, she.state, Routed(erasure, (she.now, "t", 0, 0)))
    assert state is None and outcome.erased
    assert [o.kind for o in outcome.observations] == ["forget", "forget"]
    assert _sizes(engine) == before
    assert not engine.recs.knowledge.knows("hat-1"), "only she had it"


def test_events_learned_before_a_restart_are_not_learned_twice() -> None:
    she = Shopper()
    she.engine.recs.skip_replayed({"e0"})
    she.view("boots-12")  # event id e0: learned before the restart
    assert not she.engine.recs.knowledge.knows("boots-12")
    she.view("boots-12")
    assert she.engine.recs.knowledge.knows("boots-12")


def test_popularity_only_answers_every_list_from_trending() -> None:
    engine = Shopper().engine
    popular = Personaliser(
        engine.catalogue, engine.policy, EngineConfig(recs=RecsConfig(strategy_override="trending"))
    )
    she = Shopper(engine=popular)
    _browsers(popular)
    she.consent()
    she.view("boots-12", price=150.0, category="shoes.boots")
    assert she.state.shelf and all(
        r.strategy == "trending" for r in popular.recs.shelf(she.state, None, consented=True)
    )


def test_recommendations_off_learn_nothing_and_fill_no_offer() -> None:
    engine = Shopper().engine
    off = Personaliser(
        engine.catalogue, engine.policy, EngineConfig(recs=RecsConfig(enabled=False))
    )
    _browsers(off)
    she = Shopper(engine=off)
    she.consent()
    for _ in range(3):
        decision = she.view("boots-12", price=150.0, category="shoes.boots")
    assert off.recs.knowledge.sizes().items == 0 and she.state.shelf == ()
    assert decision.rejected.get("cheaper-alternative") == "no_recommendation"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"strategy": "mystery"}, "strategy 'mystery' is not one of"),
        ({"strategy": "for_you", "requires_consent": False}, "must require consent"),
        ({"strategy": "similar", "kind": "discount"}, "only a product offer"),
        ({"strategy": "similar", "items": ["a"]}, "either a strategy or items"),
        ({"strategy": "similar", "max_items": 40}, "max_items must be between 1 and 20"),
    ],
)
def test_a_bad_strategy_offer_is_refused_naming_the_offer(change: dict, message: str) -> None:
    document = tomllib.loads(CATALOGUE.read_text())
    document["offer"][0].update(change)
    with pytest.raises(CatalogueError, match=message) as refused:
        parse_catalogue(document)
    assert "offer #1 (goes-with-purchase)" in str(refused.value)


def test_the_shipped_catalogue_names_strategies_and_keeps_a_fixed_list() -> None:
    offers = Shopper().engine.catalogue.offers
    assert {o.strategy for o in offers} >= {"bought_together", "cheaper", "for_you", "trending"}
    assert any(o.items and not o.strategy for o in offers), "fixed lists still work"


def test_a_product_few_sessions_had_gets_no_contextual_list_of_its_own() -> None:
    """Its neighbours would be one or two people's own views (no consent): not shown."""
    he = Shopper()
    _browsers(he.engine, count=1)  # boots seen in one other session, two with his own
    he.view("boots-7", price=99.0, category="shoes.boots")
    decision = _handled_view(he, "boots-12", 150.0)
    # Nothing here was had by three people: no list of anything, not even trending.
    assert decision.shelf == ()
    assert decision.decision.rejected.get("also-viewed") in (None, "no_recommendation")


def test_a_revoke_replaces_the_personal_shelf_with_a_contextual_one() -> None:
    she = Shopper()
    _browsers(she.engine)
    she.consent()
    she.view("boots-lux", price=400.0, category="shoes.boots")
    she.view("boots-12", price=150.0, category="shoes.boots")
    assert she.state.shelf_top, "consenting: the shelf keeps its reasons for picked-for-you"
    revoke = she.engine.handle(
        she.state,
        Consent(event_id="no", event_time=she.now + 1_000, channel="web", customer_id="c-1",
                granted=False),
    )  # fmt: skip
    assert revoke.shelf is not None, "the new shelf goes to the mirror at once"
    assert {r.seed for r in revoke.shelf} <= {"boots-12", None}
    assert all(r.strategy != "recently_viewed" for r in revoke.shelf)
    assert she.state.shelf_top == ()


def test_a_person_leaving_memory_takes_their_cached_lists_along() -> None:
    """Lists cached for a shopper's sessions would never be read again once she is dormant."""
    engine = Personaliser(
        load_catalogue(CATALOGUE),
        GreedyPolicy(BaselineScorer()),
        EngineConfig(idle_eviction_ms=DAY_MS),
        dormant=MemoryDormantStore(),
    )
    _browsers(engine)
    she, he = Shopper(engine=engine), Shopper(customer_id="c-2", engine=engine)
    for shopper in (she, he):
        shopper.consent()
        shopper.view("boots-12", price=150.0, category="shoes.boots")
    cached = len(engine.recs._personal_lists)
    assert cached >= 2
    kept, _ = close_windows(engine, she.state, she.now + 2 * DAY_MS)
    assert kept is None, "idle for two days: she left memory"
    assert len(engine.recs._personal_lists) == cached - 1
    assert revive(engine.dormant.load("c-1")).sessions == she.state.sessions
