"""`insession replay --summary-json`: the run's figures for scripts, one process and two."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from insession.schemas.events import ErasureRequest, ProductView, Search

from insession.cli import main
from insession.connectors.recording import write_recording

T0 = 1_764_000_000_000
KEYS = {
    "events", "seconds", "events_per_s", "offers", "dead_letters", "people_seen",
    "people_in_memory_at_end", "max_rss_bytes", "processes", "workers", "policy",
}  # fmt: skip


def _recording(path: Path) -> None:
    events = []
    for c in range(6):
        for n in range(4):
            events.append(
                ProductView(
                    event_id=f"c{c}-{n}", event_time=T0 + 1_000 * (10 * c + n), channel="web",
                    customer_id=f"c-{c}", product_id=f"p{n}", price=20.0,
                )
            )  # fmt: skip
    events.append(
        Search(event_id="s", event_time=T0 + 90_000, channel="web", customer_id="c-9",
               query="x", result_count=0)
    )  # fmt: skip
    events.append(
        ErasureRequest(event_id="x", event_time=T0 + 95_000, channel="web", customer_id="c-0",
                       request_id="r")
    )  # fmt: skip
    write_recording(path, events)


@pytest.mark.parametrize("processes", [1, 2])
def test_the_summary_holds_the_runs_figures(tmp_path: Path, processes: int) -> None:
    recording = tmp_path / "events.jsonl"
    _recording(recording)
    summary_path = tmp_path / "summary.json"
    command = ["replay", str(recording), "--out", str(tmp_path / "out"), "--no-progress"]
    command += ["--summary-json", str(summary_path), "--processes", str(processes)]
    assert main(command) == 0
    summary = orjson.loads(summary_path.read_bytes())
    assert set(summary) >= KEYS
    assert summary["events"] == 26 and summary["dead_letters"] == 0
    assert summary["people_seen"] == 7
    assert summary["people_in_memory_at_end"] == 6, "the erased customer left"
    assert summary["processes"] == processes and summary["workers"] == 1
    assert summary["events_per_s"] > 0 and summary["max_rss_bytes"] > 10_000_000
    assert summary["offers"] == sum(summary["offers_by_kind"].values())
