"""What the running flow tells its metrics: the taps between the flow and `FlowMetrics`.

The flow calls these from inspect steps, sinks and its Kafka source; each turns what passed
by into facade calls (`insession.metrics`). Kept apart from the facade so the facade knows
nothing of outcomes or events, and apart from the flow so its wiring stays a few lines.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from insession.operators.customer_step import REWARD_WINDOW, Outcome
from insession.operators.learning import ModelHub, group_of
from insession.operators.routing import FeedItem, Routed
from insession.ops.metrics import FlowMetrics
from insession.schemas.events import STREAM_OF, DeadLetter

STATE_EVERY_S = 1.0
"""How often the customer and session gauges are recounted (a pass over the people seen)."""


class MetricsTap:
    """Feeds one process's `FlowMetrics` from the flow's streams and connectors."""

    def __init__(self, metrics: FlowMetrics, hub: ModelHub, session_gap_ms: int) -> None:
        self.metrics = metrics
        self.hub = hub
        self.session_gap_ms = session_gap_ms
        self._last_event: dict[str, int] = {}
        self._latest = 0
        self._next_count = 0.0
        self._lock = threading.Lock()
        metrics.model(hub.name, hub.version)

    def event_in(self, _step: str, item: Routed | FeedItem) -> None:
        """An input event (or product update) that decoded (inspect step after decode)."""
        event = item.event
        self.metrics.event_in(STREAM_OF[event.type], event.channel)

    def dead_letter(self, _step: str, letter: DeadLetter) -> None:
        self.metrics.dead_letter(letter.reason)

    def outcomes(self, outcomes: Iterable[Outcome]) -> None:
        """Decisions, offers, withdrawals, duplicates, closed decisions and state size (a sink
        on the outcomes)."""
        metrics = self.metrics
        now_ms = int(time.time() * 1000)
        learned = 0
        with self._lock:
            for outcome in outcomes:
                for example in outcome.examples:
                    learned += 1
                    metrics.learning_example(example.outcome, example.reason)
                    metrics.outcome(group_of(example.model_version), example.outcome)
                if outcome.event_type == REWARD_WINDOW:
                    continue
                if outcome.erased:
                    self._last_event.pop(outcome.person, None)
                    continue
                self._last_event[outcome.person] = outcome.event_time
                self._latest = max(self._latest, outcome.event_time)
                if outcome.decision_reason == "replayed":
                    continue
                if outcome.duplicate:
                    metrics.duplicate_event(STREAM_OF[outcome.event_type])
                    continue
                for withdrawal in outcome.withdrawals:
                    metrics.withdrawal(withdrawal.reason)
                metrics.decision(outcome.decision_reason or "none", outcome.seconds)
                offer = outcome.offer
                if offer is not None:
                    group = group_of(offer.model_version)
                    metrics.offer(offer.kind, group, offer.event_time, now_ms)
                    if group == "fallback":
                        metrics.fallback(offer.reason_codes[0].split(":", 1)[-1])
            if learned:
                metrics.model(self.hub.name, self.hub.version, learned)
            self._count_state()
        metrics.beat()

    def _count_state(self) -> None:
        clock = time.monotonic()
        if clock < self._next_count:
            return
        self._next_count = clock + STATE_EVERY_S
        cutoff = self._latest - self.session_gap_ms
        sessions = sum(1 for at in self._last_event.values() if at >= cutoff)
        self.metrics.state_size(len(self._last_event), sessions)

    def consumer_lag(self, topic: str, partition: int, lag: int) -> None:
        """From the Kafka source, at most twice a second per partition: its lag."""
        self.metrics.consumer_lag(topic, partition, lag)

    def input_polled(self) -> None:
        """From the Kafka source at every poll, answered or not: the heartbeat. Liveness is
        the flow's own loop going round; a broker that does not answer is for readiness
        (`/readyz`), since restarting the flow would not bring the broker back."""
        self.metrics.beat()

    def redis_batch(self, commands: int, ok: bool, pending: int) -> None:
        """From the mirror sink after each batch."""
        self.metrics.redis_batch(commands, ok)
        self.metrics.redis_pending(pending)
