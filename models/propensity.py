"""P(accept) per offer from one River logistic regression per offer, learned online."""

from __future__ import annotations

import base64
import io
import math
import pickle
from collections.abc import Mapping, Sequence
from typing import Any

from insession.schemas.catalogue import CatalogueOffer
from insession.schemas.features import Features
from river import base, linear_model, optim
from river.utils import VectorDict

STATE_NAME = "river-logreg"
"""Tags every exported arm and snapshot, so a bandit's state is refused with a clear error."""

_PLAIN_CLASSES = frozenset(
    {("builtins", name) for name in ("bool", "dict", "float", "frozenset", "int", "list")}
    | {("builtins", name) for name in ("set", "str", "tuple")}
    | {("collections", name) for name in ("Counter", "OrderedDict", "defaultdict")}
)
"""What a pickled River model may reference besides River's own classes."""


def encode(features: Features) -> dict[str, float]:
    """The sparse numeric row a logistic regression reads, the same for every offer.

    Strings are one-hot as "name=value"; numbers are squashed to sign(v)·log1p|v| so that
    `lifetime_value` cannot drown an indicator such as `signal_struggle`; zeros are dropped.
    Stateless on purpose: a running scaler (River's `StandardScaler`) maps an indicator that is
    only ever present as 1.0 to 0.0 (zero variance), erasing the scenario signals, and would
    give every offer's model its own view of the same context.

    >>> row = encode({"channel": "web", "orders": 2.0, "sentiment": -0.5, "failed_searches": 0.0})
    >>> {name: round(value, 4) for name, value in row.items()}
    {'channel=web': 1.0, 'orders': 1.0986, 'sentiment': -0.4055}
    """
    row: dict[str, float] = {}
    for name, value in features.items():
        if isinstance(value, str):
            row[f"{name}={value}"] = 1.0
        elif isinstance(value, int | float) and math.isfinite(value):
            if value:
                row[name] = math.copysign(math.log1p(abs(value)), value)
        else:
            raise ValueError(
                f"feature {name!r} is {value!r}: features must be strings or finite numbers"
            )
    return row


def logit(rate: float) -> float:
    """Log-odds of a rate in (0, 1): the intercept at which a new offer's model starts.

    >>> round(logit(0.1), 4)
    -2.1972
    """
    return math.log(rate / (1.0 - rate))


class _RiverUnpickler(pickle.Unpickler):
    """Loads River estimators and plain containers only, so a published arm cannot run code."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _PLAIN_CLASSES:
            return super().find_class(module, name)
        if module.startswith("river."):
            found = super().find_class(module, name)
            if found is VectorDict or (isinstance(found, type) and issubclass(found, base.Base)):
                return found
        raise pickle.UnpicklingError(f"refusing {module}.{name}: not a River estimator")


class RiverPropensity:
    """One River logistic regression per offer, predicting P(accept | session context).

    One model per action id gives every offer its own feature weights (offer × context
    interactions for free) and lets the learner that owns an offer publish just that offer's
    model (`export_arm`) for deciders elsewhere to load (`import_arm`).

    Cold start: a new offer's model starts with its intercept at logit(base rate) and all
    weights at zero, so it predicts its base rate in any context until it learns; an
    offer never learned from costs no model at all. Weights (AdaGrad, per-feature steps, small
    L2) learn the context; the intercept moves slowly (`intercept_lr`), so a wrong base rate is
    recalibrated over many rewards while one context's rewards stay mostly in that context's
    weights, and a context sharing no feature with what was learned stays near the intercept.

    Rewards are in [0, 1]. A 0 or 1 is one weighted-1 example of y = reward == 1. A fraction r
    (e.g. a click worth less than a purchase) is a positive example of weight r plus a negative
    of weight 1 - r, whose gradients sum to the soft-label log-loss gradient p - r.

    Exported state is pickled River (its own persistence format), base64 in a JSON-ready dict;
    the loader accepts River classes and plain containers only.

    Parameters
    ----------
    priors
        Base rate per action id, each in (0, 1): where each offer's prediction starts.
    default_prior
        Base rate of an offer missing from `priors`; `predict` takes it from the catalogue
        offer's `base_rate` instead (construction priors win where both exist).
    learning_rate
        AdaGrad's step size for the feature weights.
    l2
        L2 penalty pulling each feature weight back to 0 (hence the prediction to the intercept).
    intercept_lr
        Constant step size of the intercept.

    The defaults scored best on a simulated shop (8 offers, miscalibrated base rates); a
    learning rate of 0.5 overshoots, 0.05 learns too slowly.

    >>> model = RiverPropensity(priors={"help": 0.3, "ten-off": 0.1})
    >>> web = {"channel": "web", "trigger": "product_view", "cart_lines": 2.0}
    >>> store = {"channel": "store", "trigger": "search", "cart_lines": 2.0}
    >>> [round(p, 3) for p in model.predict_arms(["help", "ten-off"], web)]
    [0.3, 0.1]
    >>> for _ in range(30):
    ...     model.learn("ten-off", web, 1.0)
    ...     model.learn("ten-off", store, 0.0)
    >>> for context in (web, store, {"channel": "app", "trigger": "cart_add"}):
    ...     print([round(p, 3) for p in model.predict_arms(["help", "ten-off"], context)])
    [0.3, 0.6]
    [0.3, 0.053]
    [0.3, 0.116]
    >>> model.version, model.arm_updates("ten-off")
    ('river-logreg-60', 60)
    """

    max_reward = 1.0
    """A classifier of acceptance learns rewards in [0, 1]; larger (value-weighted) rewards are
    capped here by the learner that feeds it (`operators.learning.ModelHub.learn`)."""

    def __init__(
        self,
        priors: Mapping[str, float] | None = None,
        default_prior: float = 0.05,
        learning_rate: float = 0.1,
        l2: float = 1e-3,
        intercept_lr: float = 0.01,
    ) -> None:
        self._priors: dict[str, float] = {}
        for arm, rate in (priors or {}).items():
            self._priors[arm] = _checked_rate(rate, f"prior of {arm!r}")
        self.default_prior = _checked_rate(default_prior, "default_prior")
        for name, value in (("learning_rate", learning_rate), ("intercept_lr", intercept_lr)):
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if not (math.isfinite(l2) and l2 >= 0.0):
            raise ValueError(f"l2 must be a non-negative number, got {l2!r}")
        self.learning_rate = learning_rate
        self.l2 = l2
        self.intercept_lr = intercept_lr
        self.updates = 0
        self._models: dict[str, linear_model.LogisticRegression] = {}
        self._arm_updates: dict[str, int] = {}

    @property
    def version(self) -> str:
        """Changes with every update, so a logged offer names the exact model that chose it.

        It counts the rewards learned by all arms, so a decider that loaded every arm from
        the learner reports the learner's version.
        """
        return f"{STATE_NAME}-{self.updates}"

    @property
    def priors(self) -> Mapping[str, float]:
        """Base rate per action id known so far (construction priors, then catalogue offers)."""
        return self._priors

    def prior(self, arm: str) -> float:
        """Where `arm`'s prediction starts before it learns."""
        return self._priors.get(arm, self.default_prior)

    def predict(self, features: Features, offers: Sequence[CatalogueOffer]) -> list[float]:
        """P(accept) for each offer, in the same order (the `Scorer` interface).

        An offer seen for the first time lends its `base_rate` as its prior, unless one was
        given at construction.
        """
        priors = self._priors
        for offer in offers:
            if offer.action_id not in priors:
                where = f"base_rate of offer {offer.action_id!r}"
                priors[offer.action_id] = _checked_rate(offer.base_rate, where)
        return self.predict_arms([offer.action_id for offer in offers], features)

    def predict_arms(self, arms: Sequence[str], features: Features) -> list[float]:
        """P(accept) for each action id, in the same order; unlearned arms give their prior."""
        row = encode(features)
        models = self._models
        scores = []
        for arm in arms:
            model = models.get(arm)
            scores.append(self.prior(arm) if model is None else model.predict_proba_one(row)[True])
        return scores

    def learn(self, arm: str, features: Features, reward: float) -> None:
        """Learns from the reward of the offer that was shown (a new offer gets its model here)."""
        if not isinstance(arm, str) or not arm:
            raise ValueError(f"arm must be a non-empty action id, got {arm!r}")
        if not (isinstance(reward, int | float) and 0.0 <= reward <= 1.0):
            raise ValueError(f"reward for arm {arm!r} must be a number in [0, 1], got {reward!r}")
        row = encode(features)
        model = self._models.get(arm)
        if model is None:
            model = self._models[arm] = self._new_model(self.prior(arm))
        if reward > 0.0:
            model.learn_one(row, True, w=float(reward))
        if reward < 1.0:
            model.learn_one(row, False, w=1.0 - float(reward))
        self._arm_updates[arm] = self._arm_updates.get(arm, 0) + 1
        self.updates += 1

    def arm_updates(self, arm: str) -> int:
        """How many rewards this arm has learned from (0 for an arm never seen)."""
        return self._arm_updates.get(arm, 0)

    def export_arm(self, arm: str) -> dict[str, Any]:
        """One arm's model (JSON-ready), for the learner that owns it to publish."""
        model = self._models.get(arm)
        if model is None:
            raise KeyError(f"arm {arm!r} has no model yet: it has learned nothing")
        payload = base64.b64encode(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
        return {"name": STATE_NAME, "updates": self.arm_updates(arm), "model": payload.decode()}

    def import_arm(self, arm: str, state: Mapping[str, Any]) -> None:
        """Replaces one arm's model with a published one (from `export_arm`)."""
        model, updates = _load_arm(arm, state)
        self._install(arm, model, updates)

    def snapshot(self) -> dict[str, Any]:
        """Every learned arm's exported state, JSON-ready, for `restore`."""
        return {"name": STATE_NAME, "arms": {arm: self.export_arm(arm) for arm in self._models}}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Loads a `snapshot()`: the arms it holds, replacing all current models.

        Every arm is checked before anything changes, so a bad snapshot leaves the model as it
        was.
        """
        if not isinstance(state, Mapping) or state.get("name") != STATE_NAME:
            found = state.get("name") if isinstance(state, Mapping) else type(state).__name__
            raise ValueError(f"snapshot is not a {STATE_NAME} snapshot (name is {found!r})")
        arms = state.get("arms")
        if not isinstance(arms, Mapping):
            raise ValueError(f"snapshot 'arms' must be a mapping of arm to state, got {arms!r}")
        loaded = {arm: _load_arm(arm, arm_state) for arm, arm_state in arms.items()}
        self._models, self._arm_updates, self.updates = {}, {}, 0
        for arm, (model, updates) in loaded.items():
            self._install(arm, model, updates)

    def _install(self, arm: str, model: linear_model.LogisticRegression, updates: int) -> None:
        self.updates += updates - self._arm_updates.get(arm, 0)
        self._arm_updates[arm] = updates
        self._models[arm] = model

    def _new_model(self, prior: float) -> linear_model.LogisticRegression:
        return linear_model.LogisticRegression(
            optimizer=optim.AdaGrad(self.learning_rate),
            l2=self.l2,
            intercept_init=logit(prior),
            intercept_lr=self.intercept_lr,
        )


def _checked_rate(rate: float, what: str) -> float:
    """A base rate usable as a logistic intercept: strictly between 0 and 1."""
    if not (isinstance(rate, int | float) and 0.0 < rate < 1.0):
        raise ValueError(f"{what} must be strictly between 0 and 1, got {rate!r}")
    return float(rate)


def _load_arm(arm: str, state: Any) -> tuple[linear_model.LogisticRegression, int]:
    """The model and update count of an exported arm, or a ValueError saying what is wrong."""
    where = f"state of arm {arm!r}"
    if not isinstance(state, Mapping):
        raise ValueError(f"{where} must be a mapping, got {type(state).__name__}")
    if state.get("name") != STATE_NAME:
        raise ValueError(f"{where} is not a {STATE_NAME} model (name is {state.get('name')!r})")
    updates, payload = state.get("updates"), state.get("model")
    if isinstance(updates, bool) or not isinstance(updates, int) or updates < 0:
        raise ValueError(f"{where}: 'updates' must be a non-negative integer, got {updates!r}")
    if not isinstance(payload, str):
        raise ValueError(f"{where}: 'model' must be a base64 string, got {type(payload).__name__}")
    try:
        raw = base64.b64decode(payload, validate=True)
        model = _RiverUnpickler(io.BytesIO(raw)).load()
    except Exception as error:  # a corrupt pickle can fail in many ways; say where and why
        raise ValueError(f"{where}: 'model' is not a pickled River model ({error})") from error
    if not isinstance(model, linear_model.LogisticRegression):
        raise ValueError(f"{where}: 'model' holds a {type(model).__name__}, not LogisticRegression")
    return model, updates
