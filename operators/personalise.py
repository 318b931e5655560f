"""One customer's event in, zero or one offer out: state, signals, features, decision."""

from __future__ import annotations

from dataclasses import dataclass, field

from models.scorer import Scorer
from operators.catalogue import Catalogue
from operators.control_group import ControlGroup
from operators.decide import Decision, choose_offer
from operators.features import session_features
from operators.session import CustomerState, SessionConfig, apply_event
from operators.signals import SignalConfig, detect_signals
from schemas.events import Event


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Everything that tunes decisions, apart from the catalogue and the scorer."""

    session: SessionConfig = field(default_factory=SessionConfig)
    signals: SignalConfig = field(default_factory=SignalConfig)
    time_budget_us: float | None = None
    control: ControlGroup | None = field(default_factory=ControlGroup)


@dataclass(slots=True)
class Personaliser:
    """Applies each event to the customer's state and decides at decision points."""

    catalogue: Catalogue
    scorer: Scorer
    config: EngineConfig = field(default_factory=EngineConfig)

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
            self.scorer,
            time_budget_us=self.config.time_budget_us,
            control=self.config.control,
        )
