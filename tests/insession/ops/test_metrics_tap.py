"""What the flow's outcomes tell the metrics: duplicates by stream, withdrawals by reason."""

from __future__ import annotations

from insession.models.policy import GreedyPolicy
from insession.models.scorer import BaselineScorer
from insession.operators.customer_step import DUPLICATE, Outcome
from insession.operators.learning import ModelHub
from insession.schemas.events import OfferWithdrawal
from prometheus_client.parser import text_string_to_metric_families

from insession.ops.metrics import FlowMetrics
from insession.ops.metrics_tap import MetricsTap

T0 = 1_764_000_000_000


def _samples(metrics: FlowMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for sample in family.samples
    }


def test_duplicates_and_withdrawals_are_counted_once_each() -> None:
    metrics = FlowMetrics()
    tap = MetricsTap(metrics, ModelHub(GreedyPolicy(BaselineScorer())), session_gap_ms=1_800_000)
    withdrawal = OfferWithdrawal(
        event_id="of-1:withdrawn",
        event_time=T0,
        channel="web",
        customer_id="c-1",
        offer_id="of-1",
        reason="consent_revoked",
        withdrawn_at=T0,
    )
    tap.outcomes(
        [
            Outcome("c-1", "cart_add", T0, decision_reason=DUPLICATE, duplicate=True),
            Outcome("c-1", "cart_add", T0, decision_reason=DUPLICATE, duplicate=True),
            # Dropped again when the device's history reached the customer: counted already.
            Outcome("c-1", "product_view", T0, decision_reason="replayed", duplicate=True),
            Outcome("c-1", "consent", T0, decision_reason="no_signal", withdrawals=(withdrawal,)),
        ]
    )
    samples = _samples(metrics)
    duplicates = {k: v for k, v in samples.items() if k[0] == "insession_duplicate_events_total"}
    assert duplicates == {("insession_duplicate_events_total", (("stream", "cart"),)): 2}
    assert samples[("insession_offer_withdrawals_total", (("reason", "consent_revoked"),))] == 1
    decisions = {k[1]: v for k, v in samples.items() if k[0] == "insession_decisions_total"}
    assert decisions == {(("reason", "no_signal"),): 1}, "a duplicate is not a decision point"
