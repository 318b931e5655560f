"""River propensity per offer: cold start at the base rate, learning, publishing and bad input."""

from __future__ import annotations

import base64
import math
import os
import pickle
import random
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from insession.models.propensity import RiverPropensity, encode
from insession.models.scorer import Scorer
from insession.schemas.catalogue import CatalogueOffer
from insession.schemas.features import Features
from river import preprocessing

PRIORS = {"help": 0.3, "ten-off": 0.1, "free-delivery": 0.2}
WEB: Features = {"channel": "web", "trigger": "product_view", "cart_lines": 2.0, "hour": 14.0}
STORE: Features = {"channel": "store", "trigger": "search", "cart_lines": 2.0, "hour": 14.0}
UNSEEN: Features = {"channel": "tiktok", "trigger": "social_post", "top_category": "toys"}
RATES = {  # true acceptance rate of each offer in each segment
    "help": {"a": 0.6, "b": 0.1, "c": 0.1},
    "ten-off": {"a": 0.1, "b": 0.6, "c": 0.1},
    "free-delivery": {"a": 0.1, "b": 0.1, "c": 0.6},
}


def shop_context(rng: random.Random) -> Features:
    """A segment that decides the best offer, among a distracting channel and noise."""
    features: Features = {
        "segment": rng.choice("abc"),
        "channel": rng.choice(["web", "app"]),
        "lifetime_value": rng.expovariate(1 / 300),
    }
    for i in range(3):
        features[f"noise_{i}"] = rng.random()
    return features


def trained(rounds: int = 3_000, seed: int = 0) -> RiverPropensity:
    """A model that learned from offers shown uniformly at random in the simulated shop."""
    rng = random.Random(seed)
    model = RiverPropensity(priors=PRIORS)
    for _ in range(rounds):
        features = shop_context(rng)
        arm = rng.choice(list(RATES))
        model.learn(arm, features, float(rng.random() < RATES[arm][str(features["segment"])]))
    return model


def offer(action_id: str, base_rate: float) -> CatalogueOffer:
    return CatalogueOffer(action_id, "discount", action_id.title(), 10.0, base_rate, ("browse",))


def test_encode_one_hots_strings_and_squashes_numbers() -> None:
    row = encode({"channel": "app", "orders": 3.0, "sentiment": -1.0, "cart_lines": 0.0})
    assert row == {"channel=app": 1.0, "orders": math.log(4.0), "sentiment": -math.log(2.0)}


@pytest.mark.parametrize("value", [math.nan, math.inf, None, ["web"]])
def test_encode_names_the_bad_feature(value: object) -> None:
    with pytest.raises(ValueError, match=r"feature 'cart_value' is .*finite numbers"):
        encode({"channel": "web", "cart_value": value})  # type: ignore[dict-item]


def test_new_offers_predict_their_base_rate_in_any_context() -> None:
    model = RiverPropensity(priors=PRIORS, default_prior=0.07)
    arms = ["help", "ten-off", "free-delivery", "not-in-priors"]
    for features in (WEB, STORE, UNSEEN, {}):
        assert model.predict_arms(arms, features) == [0.3, 0.1, 0.2, 0.07]
    assert model.version == "river-logreg-0"


def test_predict_takes_cold_start_priors_from_catalogue_offers() -> None:
    model = RiverPropensity(priors={"help": 0.3})
    offers = [offer("help", 0.9), offer("birthday", 0.25)]  # construction priors win
    assert model.predict(WEB, offers) == [0.3, 0.25]
    assert model.priors == {"help": 0.3, "birthday": 0.25}
    model.learn("birthday", WEB, 0.0)
    assert model.predict(UNSEEN, offers)[1] == pytest.approx(0.25, abs=0.01)


def test_a_model_is_a_scorer() -> None:
    scorer: Scorer = RiverPropensity(priors=PRIORS)
    scores = scorer.predict(WEB, [offer("ten-off", 0.5), offer("help", 0.5)])
    assert scores == [0.1, 0.3]
    assert scorer.version == "river-logreg-0"


def test_an_offer_accepted_in_one_context_wins_there_and_not_elsewhere() -> None:
    model = RiverPropensity(priors=PRIORS)
    for _ in range(50):
        model.learn("ten-off", WEB, 1.0)
        model.learn("ten-off", STORE, 0.0)
    ten_off_web, help_web = model.predict_arms(["ten-off", "help"], WEB)
    ten_off_store, help_store = model.predict_arms(["ten-off", "help"], STORE)
    assert ten_off_web > help_web == 0.3
    assert ten_off_store < 0.1 and help_store == 0.3
    # a context sharing no feature with either stays near the prior, not at either extreme
    assert model.predict_arms(["ten-off"], UNSEEN)[0] == pytest.approx(0.1, abs=0.05)


def test_learns_each_segments_best_offer_from_noisy_rewards() -> None:
    model = trained()
    rng = random.Random(99)
    for segment in "abc":
        best = max(RATES, key=lambda arm: RATES[arm][segment])
        errors = []
        for _ in range(50):
            features = {**shop_context(rng), "segment": segment}
            scores = dict(zip(RATES, model.predict_arms(list(RATES), features), strict=True))
            assert max(scores, key=scores.__getitem__) == best
            errors.extend(abs(scores[arm] - RATES[arm][segment]) for arm in RATES)
        assert sum(errors) / len(errors) < 0.1, f"segment {segment}: mean abs error too large"


def test_a_fractional_reward_is_a_soft_label_not_a_click() -> None:
    model = RiverPropensity(priors={"help": 0.5})
    for _ in range(2_000):
        model.learn("help", WEB, 0.3)
    assert model.predict_arms(["help"], WEB)[0] == pytest.approx(0.3, abs=0.03)


def test_version_and_arm_updates_count_every_reward() -> None:
    model = RiverPropensity(priors=PRIORS)
    seen = {model.version}
    for reward in (1.0, 0.0, 0.5):
        model.learn("help", WEB, reward)
        assert model.version not in seen
        seen.add(model.version)
    model.learn("ten-off", STORE, 0.0)
    assert model.version == "river-logreg-4"
    assert (model.arm_updates("help"), model.arm_updates("ten-off")) == (3, 1)
    assert model.arm_updates("never-seen") == 0


def test_exported_arms_load_elsewhere_and_predict_identically() -> None:
    learner = trained(rounds=600)
    decider = RiverPropensity(priors=PRIORS)
    for arm in RATES:
        decider.import_arm(arm, orjson.loads(orjson.dumps(learner.export_arm(arm))))
    assert decider.version == learner.version
    rng = random.Random(5)
    for features in [shop_context(rng) for _ in range(20)] + [UNSEEN]:
        assert decider.predict_arms(list(RATES), features) == learner.predict_arms(
            list(RATES), features
        )
    # the optimizer's state travels too: both keep learning in step
    for model in (learner, decider):
        model.learn("help", WEB, 1.0)
    assert decider.predict_arms(["help"], WEB) == learner.predict_arms(["help"], WEB)


def test_importing_one_arm_leaves_the_others_alone() -> None:
    learner = RiverPropensity(priors=PRIORS)
    for _ in range(20):
        learner.learn("help", WEB, 1.0)
    decider = RiverPropensity(priors=PRIORS)
    for _ in range(5):
        decider.learn("ten-off", WEB, 1.0)
    before = decider.predict_arms(["ten-off"], WEB)
    decider.import_arm("help", learner.export_arm("help"))
    assert decider.predict_arms(["ten-off"], WEB) == before
    assert decider.predict_arms(["help"], WEB) == learner.predict_arms(["help"], WEB)
    assert decider.version == "river-logreg-25"


def test_snapshot_restores_every_arm_and_only_those() -> None:
    original = trained(rounds=600)
    state = orjson.loads(orjson.dumps(original.snapshot()))
    copy = RiverPropensity(priors=PRIORS)
    for _ in range(10):
        copy.learn("late-offer", WEB, 1.0)  # learned after the snapshot: restore forgets it
    copy.restore(state)
    assert copy.version == original.version
    assert [copy.arm_updates(arm) for arm in RATES] == [original.arm_updates(a) for a in RATES]
    rng = random.Random(6)
    for features in [shop_context(rng) for _ in range(20)]:
        assert copy.predict_arms(list(RATES), features) == original.predict_arms(
            list(RATES), features
        )
    assert copy.predict_arms(["late-offer"], WEB) == [copy.default_prior]
    assert copy.arm_updates("late-offer") == 0


@pytest.mark.parametrize("reward", [-0.1, 1.5, math.nan, "1", None])
def test_rewards_outside_0_1_are_refused(reward: object) -> None:
    model = RiverPropensity(priors=PRIORS)
    with pytest.raises(ValueError, match=r"reward for arm 'help' must be a number in \[0, 1\]"):
        model.learn("help", WEB, reward)  # type: ignore[arg-type]
    assert model.version == "river-logreg-0"


def test_bad_arms_priors_and_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="arm must be a non-empty action id"):
        RiverPropensity().learn("", WEB, 1.0)
    with pytest.raises(ValueError, match="prior of 'help' must be strictly between 0 and 1"):
        RiverPropensity(priors={"help": 0.0})
    with pytest.raises(ValueError, match="default_prior must be strictly between 0 and 1"):
        RiverPropensity(default_prior=1.0)
    with pytest.raises(ValueError, match="learning_rate must be a positive number"):
        RiverPropensity(learning_rate=0.0)
    with pytest.raises(ValueError, match="l2 must be a non-negative number"):
        RiverPropensity(l2=-1.0)
    with pytest.raises(ValueError, match="base_rate of offer 'free' must be strictly between"):
        RiverPropensity().predict(WEB, [offer("free", 1.0)])
    with pytest.raises(KeyError, match="arm 'help' has no model yet"):
        RiverPropensity().export_arm("help")


class _RemovesFile:
    """A pickle that deletes a file when loaded: what a hostile published arm could be."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.remove, (str(self.path),)


def _pickled(obj: object) -> str:
    return base64.b64encode(pickle.dumps(obj)).decode()


def test_malformed_arm_states_are_refused_with_the_reason(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    canary.touch()
    good = RiverPropensity(priors=PRIORS)
    good.learn("help", WEB, 1.0)
    state = good.export_arm("help")
    cases = [
        ("not a state", "must be a mapping, got str"),
        ({**state, "name": "thompson"}, "is not a river-logreg model"),
        ({k: v for k, v in state.items() if k != "updates"}, "'updates' must be a non-negative"),
        ({**state, "updates": -1}, "'updates' must be a non-negative integer"),
        ({**state, "updates": True}, "'updates' must be a non-negative integer"),
        ({**state, "model": 12}, "'model' must be a base64 string, got int"),
        ({**state, "model": "not base64!"}, "'model' is not a pickled River model"),
        ({**state, "model": _pickled({"weights": 1})[:-8]}, "is not a pickled River model"),
        ({**state, "model": _pickled(_RemovesFile(canary))}, "refusing posix.remove"),
        ({**state, "model": _pickled(preprocessing.StandardScaler())}, "holds a StandardScaler"),
    ]
    decider = RiverPropensity(priors=PRIORS)
    for bad, reason in cases:
        with pytest.raises(ValueError, match=reason) as caught:
            decider.import_arm("help", bad)  # type: ignore[arg-type]
        assert "state of arm 'help'" in str(caught.value)
    assert canary.exists()
    assert decider.predict_arms(["help"], WEB) == [0.3]
    assert decider.version == "river-logreg-0"


def test_a_bad_snapshot_leaves_the_model_untouched() -> None:
    model = trained(rounds=300)
    before = (model.version, model.predict_arms(list(RATES), WEB))
    good = model.snapshot()
    broken = {**good, "arms": {**good["arms"], "ten-off": {"name": "river-logreg"}}}
    with pytest.raises(ValueError, match="state of arm 'ten-off': 'updates' must be"):
        model.restore(broken)
    with pytest.raises(ValueError, match="not a river-logreg snapshot"):
        model.restore({"name": "thompson", "arms": {}})
    with pytest.raises(ValueError, match="'arms' must be a mapping"):
        model.restore({"name": "river-logreg", "arms": []})
    assert (model.version, model.predict_arms(list(RATES), WEB)) == before


_FEATURE_VALUES = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(["web", "app", "store", "shoes", ""]),
)


@settings(max_examples=60, deadline=None)
@given(
    history=st.lists(
        st.tuples(
            st.sampled_from(list(PRIORS)),
            st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), _FEATURE_VALUES, max_size=4),
            st.floats(min_value=0.0, max_value=1.0),
        ),
        max_size=30,
    ),
    query=st.dictionaries(st.sampled_from(["a", "b", "c", "e"]), _FEATURE_VALUES, max_size=4),
)
def test_predictions_are_probabilities_in_the_offers_order(
    history: list[tuple[str, Features, float]], query: Features
) -> None:
    model = RiverPropensity(priors=PRIORS)
    for arm, features, reward in history:
        model.learn(arm, features, reward)
    arms = ["free-delivery", "help", "ten-off"]
    scores = model.predict_arms(arms, query)
    assert len(scores) == 3 and all(0.0 <= p <= 1.0 for p in scores)
    assert model.predict_arms(arms[::-1], query) == scores[::-1]
    assert model.version == f"river-logreg-{len(history)}"
