"""The learner step: closed decisions keyed by offer, so each arm has one owner in the cluster.

The owner teaches the process's shared model (`operators.learning.ModelHub`), emits the arm's
new state for the model sink to publish, and hands Bytewax the arm's state at each snapshot,
so recovery restores the model together with the input offsets it was learned from.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Stream, operator
from bytewax.operators import StatefulBatchLogic
from insession.operators.customer_step import Outcome
from insession.operators.feedback_join import LearningExample
from insession.operators.learning import ArmUpdate, ModelHub


class _ArmLearner(StatefulBatchLogic[LearningExample, ArmUpdate, dict[str, Any]]):
    def __init__(self, hub: ModelHub, resume: dict[str, Any] | None) -> None:
        self.hub = hub
        self.arm: str | None = None
        if resume is not None:
            self.arm = resume["arm"]
            self.hub.own(resume["arm"], resume["state"])

    def on_batch(self, values: list[LearningExample]) -> tuple[Iterable[ArmUpdate], bool]:
        self.arm = values[0].action_id
        return self.hub.learn(values), StatefulBatchLogic.RETAIN

    def snapshot(self) -> dict[str, Any]:
        assert self.arm is not None
        return {"arm": self.arm, "state": self.hub.export_arm(self.arm)}


def _examples_of(outcome: Outcome) -> tuple[LearningExample, ...]:
    return outcome.examples


def _arm_of(example: LearningExample) -> str:
    return example.action_id


def _update_of(keyed: tuple[str, ArmUpdate]) -> ArmUpdate:
    return keyed[1]


@operator
def learn(step_id: str, outcomes: Stream[Outcome], hub: ModelHub) -> Stream[ArmUpdate]:
    """Closed decisions out of `outcomes` -> the shared model; the arms it changed."""
    examples = op.flat_map("examples", outcomes, _examples_of)
    by_arm = op.key_on("by_arm", examples, _arm_of)
    updated = op.stateful_batch("arms", by_arm, lambda resume: _ArmLearner(hub, resume))
    return op.map("arm_updates", updated, _update_of)
