"""Replays: the whole flow over recordings, in this process or as a local cluster of
processes; the same recordings give the same offers."""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import orjson
from bytewax.run import cli_main

from insession.connectors.files import CallbackSink, JsonLinesSink
from insession.connectors.model_store import (
    ModelPublishSink,
)
from insession.connectors.pacing import MAX_SPEED, Speed
from insession.connectors.recording_source import RecordingSource
from insession.flows.personalise import FlowOutputs, build_flow
from insession.models.sentiment import text_scorer
from insession.runner.cluster import Cluster, run_local_cluster
from insession.runner.engine import (
    load_engine,
    mirror_sink,
    save_model,
    trust,
    tune_garbage_collector,
)
from insession.runner.replay_stats import ReplayStats
from insession.settings import Settings


@dataclass(frozen=True)
class ReplayResult:
    """Where a replay wrote, and what it counted."""

    offers_path: Path
    dead_letters_path: Path
    offers: int
    dead_letters: int
    seconds: float
    stats: ReplayStats


def _offer_order(line: bytes) -> tuple[int, str, str]:
    """Offers by decision time, withdrawals by theirs (never before their offer's)."""
    message = orjson.loads(line)
    at = message["decided_at"] if message["type"] == "offer" else message["withdrawn_at"]
    return at, message["offer_id"], message["type"]


def _dead_letter_order(line: bytes) -> tuple[str, int, int]:
    letter = orjson.loads(line)
    return (
        letter["source_topic"],
        letter["source_partition"] or 0,
        letter["source_offset"] or 0,
    )


def replay_flow(
    paths: Sequence[Path],
    out_dir: Path,
    settings: Settings,
    *,
    workers: int = 1,
    mirror: bool = False,
    cluster: Cluster | None = None,
    speed: Speed = MAX_SPEED,
    progress: bool = False,
) -> ReplayResult | None:
    """Run the whole flow over recordings; the same recordings give the same offers.

    As one process of a cluster, it leaves its part files and statistics in `out_dir` for
    `replay_cluster` to join, and returns None.
    """
    engine = load_engine(
        settings, redis_model=mirror, model_namespace=_replay_namespace(), dormant="memory"
    )
    offers = JsonLinesSink(out_dir / "offers.jsonl")
    dead_letters = JsonLinesSink(out_dir / "dead-letters.jsonl")
    stats = ReplayStats()
    outputs = FlowOutputs(
        offers=offers,
        dead_letters=dead_letters,
        mirror=mirror_sink(settings, engine) if mirror else None,
        outcomes=CallbackSink(stats.add),
        model=ModelPublishSink(engine.model) if mirror else None,
    )
    source = RecordingSource(paths, settings.input_batch, speed=speed, progress=progress)

    flow = build_flow(
        source,
        outputs,
        engine,
        settings.max_message_bytes,
        sentiment=text_scorer(settings.sentiment),
        trust=trust(settings),
        one_worker=workers == 1 and cluster is None,
    )
    tune_garbage_collector()
    started = time.perf_counter()
    # A zero epoch interval makes each input batch its own epoch: the basis of determinism.
    cli_main(
        flow,
        workers_per_process=workers,
        process_id=cluster.process_id if cluster else None,
        addresses=cluster.addresses if cluster else None,
        epoch_interval=timedelta(0),
    )
    seconds = time.perf_counter() - started
    engine.model.stop_sync()
    if cluster is None or cluster.process_id == 0:
        save_model(settings, engine)
    if cluster is not None:
        stats.save(out_dir / f"stats.part{cluster.process_id}.json")
        return None
    return _joined(out_dir, seconds, stats)


def _joined(out_dir: Path, seconds: float, stats: ReplayStats) -> ReplayResult:
    offers = JsonLinesSink(out_dir / "offers.jsonl")
    dead_letters = JsonLinesSink(out_dir / "dead-letters.jsonl")
    return ReplayResult(
        offers.path,
        dead_letters.path,
        offers.merge_parts(_offer_order),
        dead_letters.merge_parts(_dead_letter_order),
        seconds,
        stats,
    )


def _replay_namespace() -> str:
    """A model namespace of a replay's own: it must neither load nor move the live model."""
    return f"replay-{uuid.uuid4().hex[:12]}"


def replay_cluster(
    paths: Sequence[Path],
    out_dir: Path,
    processes: int,
    *,
    workers: int = 1,
    mirror: bool = False,
    speed: Speed = MAX_SPEED,
    model_namespace: str = "",
    assume_consent: bool = False,
) -> ReplayResult:
    """Replay with several processes on this machine (one worker each is what scales here).

    The processes share one model namespace: `model_namespace` (the setting), else a new one.
    """
    namespace = model_namespace or _replay_namespace()
    for stale in out_dir.glob("stats.part*.json"):
        stale.unlink()

    def command(place: Cluster) -> list[str]:
        command = [sys.executable, "-m", "insession.cli", "replay", *map(str, paths)]
        command += ["--out", str(out_dir), "--workers", str(workers), "--speed", str(speed)]
        command += ["--process-id", str(place.process_id), "--addresses", ";".join(place.addresses)]
        if mirror:
            command.append("--redis")
        if assume_consent:
            command.append("--datasets-consent")
        return command

    started = time.perf_counter()
    # One model namespace for the whole cluster, of its own (not the live model's).
    codes = run_local_cluster(
        processes, command, env={**os.environ, "INSESSION_MODEL_NAMESPACE": namespace}
    )
    failed = [i for i, code in enumerate(codes) if code != 0]
    if failed:
        raise RuntimeError(f"replay process(es) {failed} failed; see their output above")
    seconds = time.perf_counter() - started
    stats = ReplayStats()
    for part in sorted(out_dir.glob("stats.part*.json")):
        stats.absorb(ReplayStats.load(part))
        part.unlink()
    return _joined(out_dir, seconds, stats)
