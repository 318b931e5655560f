"""One customer's event in, zero or one offer out: state, signals, features, decision.

With a learning policy the same step also closes decisions: each offer is remembered with
its context until the shopper's feedback (or the end of its reward window) turns it into a
learning example for the model. Offers that needed consent are followed until they expire or
are answered, so that a consent revoke withdraws them (`operators.withdrawal`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from insession.models.policy import Policy
from insession.operators.control_group import ControlGroup
from insession.operators.decide import Decision, choose_offer
from insession.operators.features import session_features
from insession.operators.feedback_join import (
    FeedbackJoin,
    LearningExample,
    RewardPolicy,
    kind_windows,
)
from insession.operators.learning import ModelHub
from insession.operators.products import ProductStore
from insession.operators.session import SESSION_OFFERS, CustomerState, SessionConfig, apply_event
from insession.operators.signals import SignalConfig, detect_signals
from insession.operators.withdrawal import (
    WITHDRAWN,
    forget_answered,
    remember_live,
    withdraw_on_revoke,
)
from insession.schemas.catalogue import Catalogue
from insession.schemas.events import Consent, Event, Offer, OfferFeedback, OfferWithdrawal

END_OF_INPUT = 2**62
"""A time after every reward window: when the input has ended, every decision closes (at its
own deadline, with the default outcome)."""


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Everything that tunes decisions, apart from the catalogue and the policy."""

    session: SessionConfig = field(default_factory=SessionConfig)
    signals: SignalConfig = field(default_factory=SignalConfig)
    time_budget_us: float | None = None
    control: ControlGroup | None = field(default_factory=ControlGroup)
    reward: RewardPolicy | None = None
    """How feedback becomes rewards; None takes the defaults with the catalogue's windows."""


@dataclass(slots=True)
class Personaliser:
    """Applies each event to the customer's state, decides at decision points, and closes
    decisions into learning examples when the policy learns."""

    catalogue: Catalogue
    policy: Policy
    config: EngineConfig = field(default_factory=EngineConfig)
    hub: ModelHub | None = None
    products: ProductStore = field(default_factory=ProductStore)
    """What the process knows of products, from the catalogue feed and shoppers' events (the
    flow teaches it; nothing decides with it yet)."""
    reward: RewardPolicy = field(init=False)
    personal: frozenset[str] = field(init=False)
    """Action ids of the offers that need consent."""

    def __post_init__(self) -> None:
        if self.catalogue.policy.max_offers_per_session >= SESSION_OFFERS:
            raise ValueError(
                f"max_offers_per_session must be below {SESSION_OFFERS}, the offers a session "
                "remembers (operators.session.SESSION_OFFERS)"
            )
        self.personal = frozenset(o.action_id for o in self.catalogue.offers if o.requires_consent)
        if self.hub is None:
            self.hub = ModelHub(self.policy)
        self.reward = self.config.reward or RewardPolicy.from_table(
            self.catalogue.reward, kind_windows(self.catalogue.offers)
        )

    @property
    def model(self) -> ModelHub:
        assert self.hub is not None
        return self.hub

    def apply_only(self, state: CustomerState, event: Event) -> None:
        """Fold a past event into `state` without deciding (stitched anonymous history)."""
        apply_event(state, event, self.config.session)

    def on_event(self, state: CustomerState, event: Event) -> Decision:
        """Fold the event into `state`; decide when the event is a decision point."""
        apply_event(state, event, self.config.session)
        signals = detect_signals(state, event, self.config.signals, self.config.session)
        if not signals:
            return Decision(None, "no_signal")
        features = session_features(state, event, signals, self.config.session)
        return choose_offer(
            state,
            event,
            signals,
            features,
            self.catalogue,
            self.model,
            time_budget_us=self.config.time_budget_us,
            control=self.config.control,
        )

    def close_decisions(
        self, state: CustomerState, event: Event, decision: Decision
    ) -> list[LearningExample]:
        """What this event teaches: windows it ended, the feedback it carries, and the new
        decision to remember until its own outcome."""
        if not self.model.learns:
            return []
        pending = state.pending
        if pending is None:
            if decision.offer is None and not isinstance(event, OfferFeedback):
                return []
            pending = state.pending = FeedbackJoin(self.reward)
        # Feedback first: an answer that came after its window is then counted as late (and
        # closes the decision as expiry would), not as feedback to an unknown offer.
        examples = pending.on_feedback(event) if isinstance(event, OfferFeedback) else []
        examples.extend(pending.expire(event.event_time))
        if decision.offer is not None and decision.features is not None:
            examples.extend(
                pending.remember(decision.offer, decision.features, person=state.person)
            )
        return examples

    def follow_offers(
        self, state: CustomerState, event: Event, made: Offer | None
    ) -> list[OfferWithdrawal]:
        """Follow the person's live personalised offers (`made` is the event's own offer); a
        consent revoke withdraws them.

        Withdrawn offers read `withdrawn` in the session, and their pending decisions are
        dropped unlearned: the shopper never got to answer them, and must not be learned
        from once they said no to personalisation.
        """
        live = state.live_offers
        withdrawn: list[OfferWithdrawal] = []
        if isinstance(event, OfferFeedback):
            forget_answered(live, event)
        elif _is_revoke(event) and live:
            # The revoke did not win if a later grant is the person's consent now.
            regranted_at = state.consent_at if state.consent else None
            withdrawn = withdraw_on_revoke(live, event, regranted_at)
            _mark_withdrawn(state, withdrawn)
        if made is not None and made.action_id in self.personal:
            remember_live(live, made)
        return withdrawn

    def close_expired(self, state: CustomerState, now_ms: int | None) -> list[LearningExample]:
        """Close decisions whose window ended by `now_ms` (None: the input ended, close all)."""
        pending = state.pending
        if pending is None:
            return []
        return pending.expire(END_OF_INPUT if now_ms is None else now_ms)


def _is_revoke(event: Event) -> bool:
    return isinstance(event, Consent) and event.purpose == "personalisation" and not event.granted


def _mark_withdrawn(state: CustomerState, withdrawn: list[OfferWithdrawal]) -> None:
    """The session's offers read `withdrawn`; their pending decisions are dropped."""
    ids = {w.offer_id for w in withdrawn}
    if state.session is not None:
        for shown in state.session.offers:
            if shown.offer_id in ids:
                shown.outcome = WITHDRAWN
    if state.pending is not None:
        state.pending.withdraw(ids)
