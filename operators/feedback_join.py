"""Joining offers to their delayed feedback: one person's pending decisions become rewards.

A bandit learns only from what it chose, so every decision is remembered with the context and
the probability it was chosen with (for off-policy correction) until the shopper's answer
arrives or the offer kind's reward window ends. The join is per person: it lives inside the
per-customer keyed step, holds at most `max_pending` decisions and does no I/O.

>>> join = FeedbackJoin(RewardPolicy(windows_s={"discount": 60}))
>>> offer = Offer(event_id="e1", event_time=0, channel="web", customer_id="c1",
...               offer_id="of-1", action_id="ten-off", kind="discount", score=0.5,
...               probability=0.8, reason_codes=("r",), model_version="m1",
...               decided_at=0, expires_at=60_000)
>>> join.remember(offer, {"cart_value": 40.0})
[]
>>> click = OfferFeedback(event_id="e2", event_time=5_000, channel="web", customer_id="c1",
...                       offer_id="of-1", outcome="clicked")
>>> join.on_feedback(click)
[]
>>> [(e.outcome, e.reward, e.reason) for e in join.expire(60_000)]
[('clicked', 0.3, 'expired')]
"""

from __future__ import annotations

from dataclasses import dataclass, field

from insession.schemas.catalogue import CatalogueOffer
from insession.schemas.events import OFFER_OUTCOMES, Offer, OfferFeedback
from insession.schemas.features import Features

DEFAULT_OUTCOMES = ("no_response", "neutral")
"""What an unanswered decision teaches: `no_response` is a reward of 0, `neutral` nothing."""

FINAL_OUTCOMES = frozenset({"accepted", "dismissed"})
"""Outcomes after which nothing better can happen, so the decision closes at once."""

MAX_PENDING = 1000
"""The most `max_pending` may be: the decisions of one person held at once, each with its
features (a few hundred bytes), so a catalogue cannot make one person cost without bound."""

_RANK = {"shown": 0, "dismissed": 1, "clicked": 2, "accepted": 3}
"""Which outcome wins when several arrive: a dismissal after a click keeps the click, since
the shopper did engage; a `shown` after a click must not erase it."""


def _default_weights() -> dict[str, float]:
    return {"shown": 0.0, "dismissed": 0.0, "clicked": 0.3, "accepted": 1.0}


def kind_windows(offers: tuple[CatalogueOffer, ...]) -> dict[str, int]:
    """The longest `reward_window_s` among the catalogue's offers of each kind.

    The longest, so that no offer of a kind is judged before its own window has passed.
    """
    windows: dict[str, int] = {}
    for offer in offers:
        windows[offer.kind] = max(windows.get(offer.kind, 0), offer.reward_window_s)
    return windows


@dataclass(frozen=True, slots=True)
class RewardPolicy:
    """How outcomes become rewards, how long to wait for them and how much to remember."""

    weights: dict[str, float] = field(default_factory=_default_weights)
    value_weight: float = 0.0
    """Accepted offers add `value_weight * value`, so a bigger purchase teaches more."""
    windows_s: dict[str, int] = field(default_factory=dict)
    """Reward window per offer kind, seconds after the decision; others use `default_window_s`."""
    default_window_s: int = 1800
    default_outcome: str = "no_response"
    require_shown: bool = False
    """Drop decisions never reported as shown: an offer that was never rendered says nothing
    about the shopper."""
    max_pending: int = 50
    """Decisions held per person (`MAX_PENDING` at most); beyond it, the oldest closes as if
    its window had ended."""

    def __post_init__(self) -> None:
        missing = sorted(set(OFFER_OUTCOMES) - set(self.weights))
        if missing:
            raise ValueError(f"weights lack outcome(s) {', '.join(missing)}")
        if self.default_outcome not in DEFAULT_OUTCOMES:
            raise ValueError(f"default_outcome must be one of {', '.join(DEFAULT_OUTCOMES)}")
        if self.default_window_s <= 0 or any(w <= 0 for w in self.windows_s.values()):
            raise ValueError("reward windows must be > 0 seconds")
        if not 1 <= self.max_pending <= MAX_PENDING:
            raise ValueError(f"max_pending must be 1..{MAX_PENDING}")

    @classmethod
    def from_table(cls, table: dict[str, object], windows_s: dict[str, int]) -> RewardPolicy:
        """From the catalogue's `[reward]` table; windows per kind default to the offers'.

        >>> RewardPolicy.from_table({"default_outcome": "neutral"}, {"help": 600}).window_ms("help")
        600000
        """
        known = {
            "weights",
            "value_weight",
            "windows_s",
            "default_window_s",
            "default_outcome",
            "require_shown",
            "max_pending",
        }
        unknown = sorted(set(table) - known)
        if unknown:
            raise ValueError(f"[reward]: unknown field(s) {', '.join(unknown)}")
        values: dict[str, object] = dict(table)
        values["weights"] = {**_default_weights(), **dict(table.get("weights", {}))}  # type: ignore[call-overload]
        values["windows_s"] = {**windows_s, **dict(table.get("windows_s", {}))}  # type: ignore[call-overload]
        try:
            return cls(**values)  # type: ignore[arg-type]
        except (TypeError, ValueError) as error:
            raise ValueError(f"[reward]: {error}") from None

    def window_ms(self, kind: str) -> int:
        return self.windows_s.get(kind, self.default_window_s) * 1000

    def reward(self, outcome: str, value: float | None) -> float:
        reward = self.weights[outcome]
        if outcome == "accepted" and value is not None:
            reward += self.value_weight * value
        return reward


@dataclass(slots=True)
class PendingDecision:
    """A decision waiting for its outcome; `outcome` is the best one seen so far."""

    offer_id: str
    person: str
    action_id: str
    kind: str
    features: Features
    probability: float
    model_version: str
    decided_at: int
    deadline: int
    outcome: str | None = None
    shown: bool = False
    value: float | None = None


@dataclass(frozen=True, slots=True)
class LearningExample:
    """One (context, action, reward) for the learner, with the propensity it was chosen with."""

    action_id: str
    features: Features
    reward: float
    probability: float
    model_version: str
    offer_id: str
    outcome: str
    decided_at: int
    closed_at: int
    reason: str
    """`feedback` (a final outcome arrived) or `expired` (the window ended or memory was full)."""


@dataclass(slots=True)
class JoinCounters:
    """What happened to decisions and feedback, for metrics."""

    joined: int = 0
    expired: int = 0
    evicted: int = 0
    neutral_dropped: int = 0
    unshown_dropped: int = 0
    unknown_feedback: int = 0
    late_feedback: int = 0
    withdrawn: int = 0


def _order(decision: PendingDecision) -> tuple[int, str]:
    return decision.decided_at, decision.offer_id


class FeedbackJoin:
    """One person's pending decisions, closed by final feedback or by their reward window.

    `counters` may be shared by every person's join (the engine's): a person keeps a join
    only while a decision is pending (`Personaliser`), and the counts must outlive it. A join
    restored from a snapshot counts into its own copy until its decisions close.
    """

    __slots__ = ("counters", "pending", "policy")

    def __init__(
        self, policy: RewardPolicy | None = None, counters: JoinCounters | None = None
    ) -> None:
        self.policy = policy or RewardPolicy()
        self.pending: dict[str, PendingDecision] = {}
        self.counters = counters if counters is not None else JoinCounters()

    def remember(
        self, offer: Offer, features: Features, *, person: str | None = None
    ) -> list[LearningExample]:
        """Keep a decision until its outcome; returns what closing the oldest (if full) taught.

        A repeated offer id (a replayed decision) is kept once, as first remembered.
        """
        if offer.offer_id in self.pending:
            return []
        examples: list[LearningExample] = []
        while len(self.pending) >= self.policy.max_pending:
            oldest = min(self.pending.values(), key=_order)
            self.counters.evicted += 1
            examples.extend(self._close_unanswered(oldest, offer.decided_at))
        who = person or offer.partition_key() or ""
        self.pending[offer.offer_id] = PendingDecision(
            offer_id=offer.offer_id,
            person=who,
            action_id=offer.action_id,
            kind=offer.kind,
            features=dict(features),
            probability=offer.probability,
            model_version=offer.model_version,
            decided_at=offer.decided_at,
            deadline=offer.decided_at + self.policy.window_ms(offer.kind),
        )
        return examples

    def on_feedback(self, feedback: OfferFeedback) -> list[LearningExample]:
        """Record an outcome; accepted or dismissed close the decision at once.

        Feedback for an offer not pending (unknown, or already closed) is ignored and counted;
        feedback stamped after the window ended closes the decision as expiry would, so the
        result does not depend on when `expire` happens to run.
        """
        decision = self.pending.get(feedback.offer_id)
        if decision is None:
            self.counters.unknown_feedback += 1
            return []
        if feedback.event_time >= decision.deadline:
            self.counters.late_feedback += 1
            self.counters.expired += 1
            return self._close_unanswered(decision, decision.deadline)
        # Any response means the offer was rendered.
        decision.shown = True
        best = decision.outcome
        if best is None or _RANK[feedback.outcome] > _RANK[best]:
            best = decision.outcome = feedback.outcome
            if best == "accepted":
                decision.value = feedback.value
        if feedback.outcome not in FINAL_OUTCOMES:
            return []
        self.counters.joined += 1
        return self._close(decision, best, feedback.event_time, "feedback")

    def expire(self, now_ms: int) -> list[LearningExample]:
        """Close every decision whose window has ended, oldest first."""
        due = sorted((d for d in self.pending.values() if d.deadline <= now_ms), key=_order)
        examples: list[LearningExample] = []
        for decision in due:
            self.counters.expired += 1
            examples.extend(self._close_unanswered(decision, decision.deadline))
        return examples

    def withdraw(self, offer_ids: set[str]) -> None:
        """Forget the decisions of withdrawn offers, unlearned: the shopper never had the
        chance to answer them."""
        for offer_id in offer_ids:
            if self.pending.pop(offer_id, None) is not None:
                self.counters.withdrawn += 1

    def next_expiry(self) -> int | None:
        """When `expire` next has work to do, for the step's timer."""
        return min((d.deadline for d in self.pending.values()), default=None)

    def _close_unanswered(self, decision: PendingDecision, closed_at: int) -> list[LearningExample]:
        """Close with the best outcome so far, else the policy's default (maybe nothing)."""
        if decision.outcome is not None:
            return self._close(decision, decision.outcome, closed_at, "expired")
        del self.pending[decision.offer_id]
        if self.policy.require_shown and not decision.shown:
            self.counters.unshown_dropped += 1
            return []
        if self.policy.default_outcome == "neutral":
            self.counters.neutral_dropped += 1
            return []
        return [self._example(decision, "no_response", 0.0, closed_at, "expired")]

    def _close(
        self, decision: PendingDecision, outcome: str, closed_at: int, reason: str
    ) -> list[LearningExample]:
        """Close with a reported outcome; any report means the offer was shown."""
        del self.pending[decision.offer_id]
        reward = self.policy.reward(outcome, decision.value)
        return [self._example(decision, outcome, reward, closed_at, reason)]

    @staticmethod
    def _example(
        decision: PendingDecision, outcome: str, reward: float, closed_at: int, reason: str
    ) -> LearningExample:
        return LearningExample(
            action_id=decision.action_id,
            features=decision.features,
            reward=reward,
            probability=decision.probability,
            model_version=decision.model_version,
            offer_id=decision.offer_id,
            outcome=outcome,
            decided_at=decision.decided_at,
            closed_at=closed_at,
            reason=reason,
        )
