"""The shared model hub and the customer step's side of the learning loop."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from insession.models.policy import build_policy
from insession.operators.customer_step import apply_routed, close_windows, next_window_end
from insession.operators.feedback_join import LearningExample
from insession.operators.learning import ModelHub, group_of
from insession.operators.personalise import EngineConfig, Personaliser
from insession.operators.routing import Routed
from insession.schemas.catalogue import load_catalogue
from insession.schemas.events import Event, OfferFeedback, Search

from insession.connectors.model_store import RedisModelStore, load_snapshot, save_snapshot
from tests.conftest import RedisUnderTest
from tests.operators.scenario import CATALOGUE, T0

OFFERS = load_catalogue(CATALOGUE).offers


def _example(action: str, reward: float, version: str = "thompson-0") -> LearningExample:
    return LearningExample(
        action,
        {"channel": "web"},
        reward,
        0.5,
        version,
        "of-1",
        "accepted" if reward else "no_response",
        T0,
        T0,
        "feedback",
    )


def _engine(policy: str = "thompson") -> Personaliser:
    catalogue = load_catalogue(CATALOGUE)
    return Personaliser(
        catalogue, build_policy(policy, catalogue.offers), EngineConfig(control=None)
    )


def _routed(event: Event, n: int) -> Routed:
    return Routed(event, (event.event_time, "t", 0, n), person=event.customer_id or "")


def _search(n: int, at: int) -> Search:
    return Search(
        event_id=f"s{n}", event_time=at, channel="web", customer_id="c-1", query="x", result_count=0
    )


def test_learning_changes_the_version_and_counts_by_group() -> None:
    hub = ModelHub(build_policy("thompson", OFFERS))
    updates = hub.learn(
        [
            _example("help-search", 1.0),
            _example("help-search", 0.0),
            _example("care-kit", 1.0, "control-random"),
        ]
    )
    assert [u.arm for u in updates] == ["help-search", "care-kit"]
    assert updates[0].updates == 2 and hub.version == "thompson-3"
    assert hub.counters.decisions == {"policy": 2, "control": 1}
    assert group_of("fallback/thompson-3") == "fallback"
    assert ModelHub(build_policy("baseline", OFFERS)).learn([_example("help-search", 1.0)]) == []


def test_a_snapshot_restores_the_model_and_refuses_another_policy(tmp_path: Path) -> None:
    hub = ModelHub(build_policy("thompson", OFFERS))
    hub.learn([_example("help-search", 1.0)] * 5)
    path = tmp_path / "model.json"
    save_snapshot(hub, [o.action_id for o in OFFERS], path)
    restored = ModelHub(build_policy("thompson", OFFERS))
    assert load_snapshot(restored, path) == "thompson-5" and restored.version == "thompson-5"
    assert load_snapshot(restored, tmp_path / "missing.json") is None
    with pytest.raises(ValueError, match="of policy 'thompson', the engine runs 'epsilon-greedy'"):
        load_snapshot(ModelHub(build_policy("epsilon-greedy", OFFERS)), path)


@pytest.mark.redis
def test_processes_converge_through_redis(any_redis: RedisUnderTest, redis_prefix: str) -> None:
    """On the Redis server and on the Redis Cluster."""
    redis_client = any_redis.client
    owner = ModelHub(
        build_policy("thompson", OFFERS), RedisModelStore(redis_client, redis_prefix, "thompson")
    )
    reader = ModelHub(
        build_policy("thompson", OFFERS), RedisModelStore(redis_client, redis_prefix, "thompson")
    )
    owner.publish(owner.learn([_example("help-search", 1.0)] * 4))
    assert reader.sync() == 1 and reader.version == owner.version == "thompson-4"
    assert reader.sync() == 0, "nothing newer: nothing loaded"
    offers = [o for o in OFFERS if o.action_id in ("help-search", "help-delivery")]
    assert reader.pick(offers, {"channel": "web"}, 7) == owner.pick(offers, {"channel": "web"}, 7)
    redis_client.delete(f"{redis_prefix}model:thompson")


def test_the_customer_step_joins_feedback_and_closes_unanswered_decisions() -> None:
    engine = _engine()
    state, _ = apply_routed(engine, None, _routed(_search(0, T0), 0))
    state, outcomes = apply_routed(engine, state, _routed(_search(1, T0 + 1000), 1))
    offer = outcomes[0].offer
    assert offer is not None and 0 < offer.probability <= 1 and offer.model_version
    assert outcomes[0].candidates and offer.action_id in outcomes[0].candidates
    assert next_window_end(engine, state) == offer.decided_at + engine.reward.window_ms(offer.kind)

    accepted = OfferFeedback(
        event_id="f1",
        event_time=T0 + 5000,
        channel="web",
        customer_id="c-1",
        offer_id=offer.offer_id,
        outcome="accepted",
    )
    state, outcomes = apply_routed(engine, state, _routed(accepted, 2))
    (example,) = outcomes[0].examples
    assert (example.action_id, example.reward, example.reason) == (offer.action_id, 1.0, "feedback")
    assert example.probability == offer.probability and example.features["trigger"] == "search"

    later = T0 + 3_600_000  # a new session: another decision, never answered
    state, _ = apply_routed(engine, state, _routed(_search(3, later), 3))
    state, outcomes = apply_routed(engine, state, _routed(_search(4, later + 1000), 4))
    assert outcomes[0].offer is not None
    state, closed = close_windows(engine, state, None)
    (unanswered,) = closed[0].examples
    assert (unanswered.outcome, unanswered.reward, unanswered.reason) == (
        "no_response",
        0.0,
        "expired",
    )
    assert next_window_end(engine, state) is None


def test_a_policy_that_does_not_learn_remembers_nothing() -> None:
    engine = _engine("baseline")
    state, _ = apply_routed(engine, None, _routed(_search(0, T0), 0))
    state, outcomes = apply_routed(engine, state, _routed(_search(1, T0 + 1000), 1))
    assert outcomes[0].offer is not None and state.pending is None


@pytest.mark.redis
def test_an_arm_this_process_learns_is_never_loaded_from_the_store(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    """After a crash the store can be ahead of the arm Bytewax restored: loading it would
    count the replayed examples twice."""
    store = RedisModelStore(redis_client, redis_prefix, "thompson")
    before_crash = ModelHub(build_policy("thompson", OFFERS), store)
    before_crash.learn([_example("help-search", 1.0)] * 5)
    snapshot = before_crash.export_arm("help-search")
    before_crash.publish(before_crash.learn([_example("help-search", 1.0)] * 5))  # 10 in Redis

    resumed = ModelHub(build_policy("thompson", OFFERS), store)
    resumed.own("help-search", snapshot)  # Bytewax restores the snapshot's 5
    assert resumed.sync() == 0
    resumed.learn([_example("help-search", 1.0)] * 5)  # the replayed examples
    assert resumed.learner is not None and resumed.learner.arm_updates("help-search") == 10


def test_value_weighted_rewards_are_capped_for_a_classifier() -> None:
    hub = ModelHub(build_policy("river", OFFERS))
    hub.learn([_example("help-search", 2.2)])  # accepted, with a big order value
    assert hub.version == "river-logreg-1"


def test_feedback_after_its_window_counts_as_late_not_unknown() -> None:
    engine = _engine()
    state, _ = apply_routed(engine, None, _routed(_search(0, T0), 0))
    state, outcomes = apply_routed(engine, state, _routed(_search(1, T0 + 1000), 1))
    offer = outcomes[0].offer
    assert offer is not None
    late = OfferFeedback(
        event_id="f1",
        event_time=T0 + 100 * 3_600_000,
        channel="web",
        customer_id="c-1",
        offer_id=offer.offer_id,
        outcome="accepted",
    )
    state, outcomes = apply_routed(engine, state, _routed(late, 2))
    (closed,) = outcomes[0].examples
    assert closed.outcome == "no_response" and closed.reason == "expired"
    assert engine.joins.late_feedback == 1
    assert engine.joins.unknown_feedback == 0
    assert state.pending is None, "nothing is pending: the person holds no join"
