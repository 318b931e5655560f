"""The replay's offers file carries withdrawals beside the offers, and the report counts them and
the duplicates dropped."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

from insession.schemas.codec import decode
from insession.schemas.events import Consent, Event, Offer, OfferWithdrawal, ProductView, Search

from insession.connectors.recording import read_lines, write_recording
from insession.runner.replay import replay_flow
from insession.runner.report import print_flow_report
from insession.settings import Settings

T0 = 1_764_000_000_000


def _journey() -> list[Event]:
    """Consent, a hesitation offer (personalised) and a help offer (not), a view delivered
    twice, then a revoke dated before the hesitation offer, recorded last."""
    who = {"channel": "web", "customer_id": "c-1", "session_id": "s-1"}

    def view(n: int) -> ProductView:
        return ProductView(
            event_id=f"v{n}", event_time=T0 + n * 10_000, product_id="boots", price=120.0, **who
        )

    return [
        Consent(event_id="g", event_time=T0, granted=True, **who),
        view(1),
        view(2),
        view(2),
        view(3),
        *(
            Search(
                event_id=f"s{n}",
                event_time=T0 + 40_000 + n * 30_000,
                query="x",
                result_count=0,
                **who,
            )
            for n in range(2)
        ),
        Consent(event_id="r", event_time=T0 + 25_000, granted=False, **who),
    ]


def test_a_late_revoke_in_a_replay_withdraws_and_the_report_counts_it(tmp_path: Path) -> None:
    recording = tmp_path / "journey.jsonl"
    write_recording(recording, _journey())
    # One message a batch: each is an epoch of its own, so the revoke comes after the offers
    # (within a batch, the flow would sort it before them by its event time).
    settings = dataclasses.replace(
        Settings.load(), policy="baseline", control_share=0.0, input_batch=1
    )

    result = replay_flow([recording], tmp_path / "out", settings)

    assert result is not None
    messages = [decode(line.raw) for line in read_lines(result.offers_path)]
    offers = [m for m in messages if isinstance(m, Offer)]
    withdrawals = [m for m in messages if isinstance(m, OfferWithdrawal)]
    assert [o.kind for o in offers] == ["product", "help"]
    assert [(w.offer_id, w.reason) for w in withdrawals] == [
        (offers[0].offer_id, "consent_revoked")
    ]
    assert messages.index(withdrawals[0]) > messages.index(offers[0])
    assert result.stats.duplicates == 1 and result.stats.withdrawals == {"consent_revoked": 1}

    out = io.StringIO()
    print_flow_report(result, out)
    text = out.getvalue()
    assert "2 offers, 1 offers withdrawn" in text and "1 duplicate events dropped" in text
    assert "offers withdrawn, by reason" in text
