"""The process's one copy of the policy's model: learners update it, deciders read it.

Every worker thread of a process decides with the same model object, so they agree at once.
Across processes (and restarts) the model travels arm by arm: the learner that owns an offer
(the flow keys learning examples by action id, so each arm has exactly one owner in the
cluster) publishes the arm's state to a `ModelStore`; the others pull newer arms from it
every `sync_every_s`, on a thread of their own so that no decision waits on the store. An
arm this process learns is never loaded from the store: after a crash, the store may be
ahead of the arm Bytewax restored, and loading it would count the replayed examples twice.
A lock keeps a decision from reading an arm half-way through an update. No I/O here: the
store is injected (`insession.model_store` has Redis and file stores).
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from insession.models.policy import Learner, Picked, Policy
from insession.operators.feedback_join import LearningExample
from insession.schemas.catalogue import CatalogueOffer
from insession.schemas.features import Features

SNAPSHOT_FORMAT = 1


class ModelStore(Protocol):
    """Where published arms live between processes and restarts."""

    def load(self) -> dict[str, dict[str, Any]]:
        """Every arm's latest published state."""
        ...

    def save(self, arms: Mapping[str, Mapping[str, Any]]) -> None:
        """Publish these arms' states (others are left as they are)."""
        ...


@dataclass(frozen=True, slots=True)
class ArmUpdate:
    """What one learner batch did to one arm: published to the store by the flow's sink."""

    arm: str
    updates: int
    version: str
    state: dict[str, Any]


@dataclass
class LearningCounters:
    """How much the model learned, for the report and the metrics."""

    examples: Counter[str] = field(default_factory=Counter)
    """Closed decisions by `outcome/reason`, e.g. `accepted/feedback`."""
    rewards: Counter[str] = field(default_factory=Counter)
    """Reward summed per group (`policy`, `control`, `fallback`)."""
    decisions: Counter[str] = field(default_factory=Counter)
    """Closed decisions per group."""
    synced_arms: int = 0
    published_arms: int = 0
    bad_arms: int = 0


def group_of(model_version: str) -> str:
    """Which group chose an offer, from the model version it logged."""
    if model_version == "control-random":
        return "control"
    if model_version.startswith("fallback/"):
        return "fallback"
    return "policy"


class ModelHub:
    """Shares one policy between the deciders and the learners of a process."""

    def __init__(
        self,
        policy: Policy,
        store: ModelStore | None = None,
        *,
        sync_every_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self.store = store
        self.sync_every_s = sync_every_s
        self.clock = clock
        self.counters = LearningCounters()
        self.lock = threading.RLock()
        self.owned: set[str] = set()
        """Arms learned here (this process's learners own them): never loaded from the store."""
        self._syncing: threading.Thread | None = None
        self._stop_sync = threading.Event()

    @property
    def name(self) -> str:
        return self.policy.name

    @property
    def version(self) -> str:
        return self.policy.version

    @property
    def learner(self) -> Learner | None:
        return self.policy.learner

    @property
    def learns(self) -> bool:
        return self.policy.learner is not None

    def pick(
        self,
        offers: Sequence[CatalogueOffer],
        features: Features,
        key: int,
        ranks: Sequence[int] | None = None,
    ) -> Picked:
        """The policy's choice, on a model no learner is changing at that moment, with the
        version of exactly that model."""
        with self.lock:
            picked = self.policy.pick(offers, features, key, ranks)
            return picked._replace(version=self.policy.version)

    def learn(self, examples: Iterable[LearningExample]) -> list[ArmUpdate]:
        """Teach the model these closed decisions; one update per arm that changed."""
        learner = self.policy.learner
        ceiling = getattr(learner, "max_reward", math.inf)
        touched: dict[str, None] = {}
        with self.lock:
            for example in examples:
                group = group_of(example.model_version)
                self.counters.examples[f"{example.outcome}/{example.reason}"] += 1
                self.counters.decisions[group] += 1
                self.counters.rewards[group] += example.reward
                if learner is not None:
                    # A value-weighted reward can exceed what a classifier learns from.
                    reward = min(example.reward, ceiling)
                    learner.learn(example.action_id, example.features, reward)
                    touched[example.action_id] = None
            self.owned.update(touched)
            if learner is None:
                return []
            version = self.policy.version
            return [
                ArmUpdate(arm, learner.arm_updates(arm), version, learner.export_arm(arm))
                for arm in touched
            ]

    def sync(self) -> int:
        """Load arms another process published with more updates than ours; how many.

        Arms this process owns are skipped; an arm whose published state is unreadable is
        skipped and counted (`counters.bad_arms`), never allowed to stop decisions.
        """
        learner = self.policy.learner
        if learner is None or self.store is None:
            return 0
        published = self.store.load()
        loaded = 0
        with self.lock:
            for arm, state in published.items():
                if arm in self.owned:
                    continue
                try:
                    if int(state.get("updates", 0)) > learner.arm_updates(arm):
                        learner.import_arm(arm, state)
                        loaded += 1
                except (TypeError, ValueError, AttributeError):
                    self.counters.bad_arms += 1
            self.counters.synced_arms += loaded
        return loaded

    def start_sync(self) -> None:
        """Sync every `sync_every_s` from a daemon thread, until `stop_sync`."""
        if self.store is None or self.policy.learner is None or self._syncing is not None:
            return

        def run() -> None:
            while not self._stop_sync.wait(self.sync_every_s):
                self.sync()

        self._syncing = threading.Thread(target=run, name="model-sync", daemon=True)
        self._syncing.start()

    def stop_sync(self) -> None:
        self._stop_sync.set()

    def own(self, arm: str, state: Mapping[str, Any] | None) -> None:
        """This process's learner owns `arm` (restored by Bytewax recovery with `state`)."""
        with self.lock:
            self.owned.add(arm)
            if state is not None:
                self.import_arm(arm, state)

    def publish(self, updates: Iterable[ArmUpdate]) -> None:
        """Hand updated arms to the store (the flow's sink calls this after each batch)."""
        if self.store is None:
            return
        arms = {update.arm: update.state for update in updates}
        if arms:
            self.store.save(arms)
            self.counters.published_arms += len(arms)

    def export_arm(self, arm: str) -> dict[str, Any] | None:
        learner = self.policy.learner
        if learner is None or learner.arm_updates(arm) == 0:
            return None
        with self.lock:
            return learner.export_arm(arm)

    def import_arm(self, arm: str, state: Mapping[str, Any]) -> None:
        learner = self.policy.learner
        if learner is not None:
            with self.lock:
                learner.import_arm(arm, state)

    def snapshot(self, arms: Iterable[str]) -> dict[str, Any]:
        """Every learned arm's state and the model version, JSON-ready, to restore later."""
        exported = {arm: state for arm in arms if (state := self.export_arm(arm)) is not None}
        return {
            "format": SNAPSHOT_FORMAT,
            "policy": self.policy.name,
            "version": self.version,
            "saved_at_ms": int(time.time() * 1000),
            "arms": exported,
        }

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Load a `snapshot()`; refuses one taken from another kind of policy."""
        if snapshot.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"model snapshot format {snapshot.get('format')!r} is not supported")
        if snapshot.get("policy") != self.policy.name:
            raise ValueError(
                f"model snapshot is of policy {snapshot.get('policy')!r}, "
                f"the engine runs {self.policy.name!r}"
            )
        for arm, state in snapshot["arms"].items():
            self.import_arm(arm, state)
