"""One customer's event in, zero or one offer out: state, signals, features, decision.

With a learning policy the same step also closes decisions: each offer is remembered with
its context until the shopper's feedback (or the end of its reward window) turns it into a
learning example for the model. Offers that needed consent are followed until they expire or
are answered, so that a consent revoke withdraws them (`operators.withdrawal`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import NamedTuple

from insession.models.items import Observation, Recommendation
from insession.models.policy import Policy
from insession.operators.control_group import ControlGroup
from insession.operators.decide import Decision, choose_offer
from insession.operators.dormant import DormantStore
from insession.operators.features import session_features
from insession.operators.feedback_join import (
    FeedbackJoin,
    JoinCounters,
    LearningExample,
    RewardPolicy,
    kind_windows,
)
from insession.operators.learning import ModelHub
from insession.operators.products import ProductStore
from insession.operators.recommendations import (
    SHELF_EVENTS,
    Recommender,
    RecsConfig,
    product_of,
)
from insession.operators.session import SESSION_OFFERS, CustomerState, SessionConfig, apply_event
from insession.operators.signals import SignalConfig, detect_signals
from insession.operators.withdrawal import (
    WITHDRAWN,
    forget_answered,
    remember_live,
    withdraw_on_revoke,
)
from insession.schemas.catalogue import Catalogue, CatalogueOffer
from insession.schemas.events import Consent, Event, Offer, OfferFeedback, OfferWithdrawal

SHELF_TOP = 5
"""Recommendations of a consenting person's last shelf kept with their reasons, for the
picked-for-you offer between two computations of the shelf."""

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
    recs: RecsConfig = field(default_factory=RecsConfig)
    assume_consent: bool = False
    """Treat people who never said yes or no to personalisation as consenting: only for
    replaying public data sets whose terms allow it (their shoppers sent no consent events;
    `insession replay --datasets --datasets-consent`). An explicit no still wins."""
    idle_eviction_ms: int = 0
    """People idle this long (event time) leave memory for the dormant store
    (`operators.dormant`); 0 keeps everyone."""

    def __post_init__(self) -> None:
        if 0 < self.idle_eviction_ms <= self.session.gap_ms:
            raise ValueError(
                f"idle eviction after {self.idle_eviction_ms} ms would drop sessions that have "
                f"not ended: it must be longer than the session gap ({self.session.gap_ms} ms)"
            )


class Handled(NamedTuple):
    """What one event did: the decision, what it taught the item knowledge, and the
    person's new shelf (None: the event does not change shelves)."""

    decision: Decision
    observations: tuple[Observation, ...]
    shelf: tuple[Recommendation, ...] | None


@dataclass(slots=True)
class Personaliser:
    """Applies each event to the customer's state, decides at decision points, and closes
    decisions into learning examples when the policy learns."""

    catalogue: Catalogue
    policy: Policy
    config: EngineConfig = field(default_factory=EngineConfig)
    hub: ModelHub | None = None
    products: ProductStore = field(default_factory=ProductStore)
    """What the process knows of products, from the catalogue feed and shoppers' events."""
    recommender: Recommender | None = None
    """The item knowledge and the lists it answers; None builds one over `products`."""
    dormant: DormantStore | None = None
    """Where idle people's records wait (`operators.dormant`); None keeps everyone in memory."""
    reward: RewardPolicy = field(init=False)
    joins: JoinCounters = field(init=False, default_factory=JoinCounters)
    """What became of every person's decisions and feedback (`operators.feedback_join`): a
    person holds a join only while a decision of theirs is pending."""
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
        if self.recommender is None:
            self.recommender = Recommender(self.products, config=self.config.recs)
        self.reward = self.config.reward or RewardPolicy.from_table(
            self.catalogue.reward, kind_windows(self.catalogue.offers)
        )

    @property
    def model(self) -> ModelHub:
        assert self.hub is not None
        return self.hub

    @property
    def evicts(self) -> bool:
        """Whether idle people leave memory (an idle window and a store to keep them in)."""
        return self.dormant is not None and self.config.idle_eviction_ms > 0

    @property
    def recs(self) -> Recommender:
        assert self.recommender is not None
        return self.recommender

    def consented(self, state: CustomerState) -> bool:
        """Whether the person counts as consenting to personalisation now."""
        return state.consent is True or (state.consent is None and self.config.assume_consent)

    def apply_only(self, state: CustomerState, event: Event) -> tuple[Observation, ...]:
        """Fold a past event into `state` without deciding (stitched anonymous history); what
        it taught the item knowledge, now in the customer's session."""
        apply_event(state, event, self.config.session)
        self.products.learn_event(event)
        return self.recs.observe(state, event)

    def with_recs(self, recs: RecsConfig) -> Personaliser:
        """This engine's catalogue, policy and settings, its lists answered under `recs` from
        an item knowledge and product store of their own (the policy is shared)."""
        return Personaliser(
            self.catalogue, self.policy, dataclasses.replace(self.config, recs=recs)
        )

    def on_event(self, state: CustomerState, event: Event) -> Decision:
        """Fold the event into `state`; decide when the event is a decision point."""
        return self.handle(state, event).decision

    def handle(self, state: CustomerState, event: Event, *, shelve: bool = True) -> Handled:
        """Fold the event into `state` and the item knowledge, recompute the shelf after a
        product event (`shelve` False: leave it due, for `refresh_shelf`), and decide when
        the event is a decision point."""
        observations = self.apply_only(state, event)
        consented = self.consented(state)
        shelf = None
        if isinstance(event, SHELF_EVENTS) and self.config.recs.enabled:
            state.shelf_seed = product_of(event)
            state.shelf_due = True
        elif _is_revoke(event) and (state.shelf or state.shelf_top):
            # A shelf made from their history must not outlive the consent: the contextual
            # one replaces it (in Redis too), and picked-for-you has nothing left to show.
            state.shelf_top = ()
            state.shelf_due = True
        if state.shelf_due and shelve:
            shelf = self.refresh_shelf(state)
        signals = detect_signals(state, event, self.config.signals, self.config.session)
        if not signals:
            return Handled(Decision(None, "no_signal"), observations, shelf)
        features = session_features(state, event, signals, self.config.session)

        def fill(offer: CatalogueOffer) -> tuple[tuple[str, ...], tuple[str, ...]]:
            nonlocal shelf
            top = shelf
            if offer.strategy == "for_you" and top is None:
                # The top of the shelf as last computed (it is computed again after this
                # batch of the person's events), less what is now held or in view.
                if not state.shelf_top:
                    top = shelf = self.refresh_shelf(state)
                else:
                    seed = [state.shelf_seed] if state.shelf_seed else []
                    top = self.recs.still_fitting(state, top_of_shelf(state), seed)
            return self._items_for(offer, state, event, top)

        decision = choose_offer(
            state,
            event,
            signals,
            features,
            self.catalogue,
            self.model,
            time_budget_us=self.config.time_budget_us,
            control=self.config.control,
            consented=consented,
            fill=fill,
        )
        return Handled(decision, observations, shelf)

    def refresh_shelf(self, state: CustomerState) -> tuple[Recommendation, ...]:
        """Compute the person's shelf now (`state.shelf` holds its items)."""
        consented = self.consented(state)
        shelf = self.recs.shelf(state, state.shelf_seed, consented=consented)
        state.shelf = tuple(r.item for r in shelf)
        state.shelf_top = tuple(r.seed for r in shelf[:SHELF_TOP]) if consented else ()
        state.shelf_due = False
        return shelf

    def _items_for(
        self,
        offer: CatalogueOffer,
        state: CustomerState,
        event: Event,
        shelf: tuple[Recommendation, ...] | None,
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """A product offer's items and where they came from: its strategy's list (the
        for-you shelf just computed is reused), or its fixed items that are still on sale."""
        if not offer.strategy:
            facts = self.products.facts(offer.items)
            return tuple(
                i for i, f in zip(offer.items, facts, strict=True) if f is None or f.on_sale
            ), ()
        if offer.strategy == "for_you" and shelf is not None:
            found = shelf[: offer.max_items]
        else:
            found = self.recs.for_offer(offer.strategy, state, event, offer.max_items)
        if not found:
            return (), ()
        seed = found[0].seed
        reasons = (f"strategy:{offer.strategy}",) + ((f"seed:{seed}",) if seed else ())
        return tuple(r.item for r in found), reasons

    def forget_items(
        self, state: CustomerState, *, erasure: bool = True
    ) -> tuple[Observation, ...]:
        """Take the person's sessions out of the item knowledge (an erasure, or, `erasure`
        False, a device whose history now belongs to a customer)."""
        return self.recs.forget(state, erasure=erasure)

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
            pending = state.pending = FeedbackJoin(self.reward, self.joins)
        # Feedback first: an answer that came after its window is then counted as late (and
        # closes the decision as expiry would), not as feedback to an unknown offer.
        examples = pending.on_feedback(event) if isinstance(event, OfferFeedback) else []
        examples.extend(pending.expire(event.event_time))
        if decision.offer is not None and decision.features is not None:
            examples.extend(
                pending.remember(decision.offer, decision.features, person=state.person)
            )
        _drop_settled(state)
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
        examples = pending.expire(END_OF_INPUT if now_ms is None else now_ms)
        _drop_settled(state)
        return examples


def top_of_shelf(state: CustomerState) -> tuple[Recommendation, ...]:
    """The first items of the person's last shelf, each with its seed (`shelf_top`); score
    and strategy are not kept (a "for you" offer names only the first seed)."""
    top = state.shelf_top
    if top and isinstance(top[0], tuple):  # a state snapshotted when it kept them whole
        return top  # type: ignore[return-value]
    return tuple(
        Recommendation(item, 0.0, "for_you", seed)
        for item, seed in zip(state.shelf, top, strict=False)
    )


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
        _drop_settled(state)


def _drop_settled(state: CustomerState) -> None:
    """A join with nothing pending is let go: most people hold none most of the time, and an
    empty one (its dict and counters) took 300 of a person's 3,600 bytes."""
    if state.pending is not None and not state.pending.pending:
        state.pending = None
