"""Running the personalisation flow: on recordings (replay) or on Kafka (live)."""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from importlib import resources
from pathlib import Path

import bytewax.operators as op
import orjson
from bytewax.dataflow import Dataflow, Stream
from bytewax.run import cli_main
from confluent_kafka import OFFSET_BEGINNING, OFFSET_STORED

from flows.personalise import FlowOutputs, LiveTime, build_flow
from insession.connectors import (
    CallbackSink,
    ContractKafkaSink,
    JsonLinesSink,
    RecordingSource,
    RedisMirrorSink,
)
from insession.flow_metrics import FlowTap
from insession.flow_stats import FlowStats
from insession.kafka_admin import consumer_limits
from insession.kafka_source import LiveKafkaSource
from insession.keys import message_key
from insession.metrics import FlowMetrics
from insession.model_store import (
    ModelPublishSink,
    RedisModelStore,
    load_snapshot,
    save_snapshot,
)
from insession.offer_ledger import LedgerOffersSink, OfferLedger
from insession.pacing import MAX_SPEED, Speed
from insession.recovery import SnapshotScrubber
from insession.redis_mirror import MirrorLayout, flow_client
from insession.settings import Settings
from models.policy import build_policy
from operators.catalogue import Catalogue, load_catalogue
from operators.control_group import ControlGroup
from operators.customer_step import Outcome
from operators.event_clock import EventClock
from operators.identity import IdentityTrust
from operators.learning import ModelHub
from operators.personalise import EngineConfig, Personaliser
from operators.routing import Inbound
from operators.session import SessionConfig
from operators.summary import customer_summary
from schemas.events import Contract, Event

LIVE_MODEL = "live"
"""The model namespace every `insession run` process shares in Redis."""
LIVE_CONSUMER_CONFIG = {
    # librdkafka lets the broker hold a fetch up to 500 ms by default; 50 ms bounds the wait
    # of a quiet partition without making idle consumers poll the broker constantly.
    "fetch.wait.max.ms": "50",
}
INPUT_STREAMS = (
    "clickstream",
    "cart",
    "social",
    "identity",
    "consent",
    "erasure",
    "offer_feedback",
)


def tune_garbage_collector() -> None:
    """Keep Python's collector from pausing the flow.

    Per-customer state is many small, long-lived objects; with the default thresholds a full
    collection scans all of them every few thousand events, which showed as 40-50 ms stalls
    (the p99 latency) at 5,000 events/s.
    """
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)


def load_engine(
    settings: Settings, *, redis_model: bool = False, model_namespace: str = LIVE_MODEL
) -> Personaliser:
    """The decision engine the settings describe: catalogue, policy, session gap.

    The model is restored from `settings.model_snapshot` when that file exists, and with
    `redis_model` it is shared through Redis with the other processes of the same model
    namespace (live runs share `live`; each replay has one of its own): what they published
    is loaded at once, and newer arms every `model_sync_s` from then on.
    """
    catalogue = default_catalogue(settings)
    policy = build_policy(
        settings.policy,
        catalogue.offers,
        exploration=settings.exploration,
        epsilon=settings.epsilon,
    )
    store = None
    if redis_model and policy.learner is not None:
        client = flow_client(settings.redis_url)
        namespace = settings.model_namespace or model_namespace
        store = RedisModelStore(client, settings.redis_prefix, f"{namespace}:{policy.name}")
    hub = ModelHub(policy, store, sync_every_s=settings.model_sync_s)
    if settings.model_snapshot:
        load_snapshot(hub, Path(settings.model_snapshot))
    hub.sync()
    hub.start_sync()
    return Personaliser(
        catalogue=catalogue,
        policy=policy,
        config=EngineConfig(
            session=SessionConfig(gap_ms=settings.session_gap_s * 1000),
            control=ControlGroup(share=settings.control_share, mode=settings.control_mode),
            time_budget_us=settings.decision_budget_us or None,
        ),
        hub=hub,
    )


def save_model(settings: Settings, engine: Personaliser) -> Path | None:
    """Write the model snapshot the settings name (replays call this at the end; of a
    cluster, process 0 does, after loading the arms the other processes published)."""
    if not settings.model_snapshot or not engine.model.learns:
        return None
    path = Path(settings.model_snapshot)
    engine.model.sync()
    save_snapshot(engine.model, [o.action_id for o in engine.catalogue.offers], path)
    return path


def default_catalogue(settings: Settings) -> Catalogue:
    """The catalogue file from the settings, else the one shipped with insession."""
    if settings.catalogue_file:
        return load_catalogue(Path(settings.catalogue_file))
    with resources.as_file(resources.files("insession") / "catalogue.toml") as path:
        return load_catalogue(path)


def _summarise(config: SessionConfig, outcome: Outcome) -> dict[str, object]:
    assert outcome.state is not None
    return customer_summary(outcome.state, outcome.event_time, config)


def offer_ledger(settings: Settings, engine: Personaliser) -> OfferLedger:
    """The ledger of offers sent; an id is kept while its offer could be re-decided."""
    ttl_s = 2 * engine.catalogue.policy.offer_ttl_s
    return OfferLedger(
        flow_client(settings.redis_url),
        settings.redis_prefix,
        ttl_s,
        key_secret=settings.key_secret,
    )


def mirror_sink(
    settings: Settings, engine: Personaliser, tap: FlowTap | None = None
) -> RedisMirrorSink:
    """The Redis mirror of customer summaries and latest offers, under the settings' prefix."""
    layout = MirrorLayout(
        prefix=settings.redis_prefix,
        offers_ttl_s=engine.catalogue.policy.offer_ttl_s,
        key_secret=settings.key_secret,
    )
    return RedisMirrorSink(
        settings.redis_url,
        layout,
        partial(_summarise, engine.config.session),
        tap.redis_batch if tap is not None else None,
    )


@dataclass(frozen=True)
class ReplayResult:
    """Where a replay wrote, and what it counted."""

    offers_path: Path
    dead_letters_path: Path
    offers: int
    dead_letters: int
    seconds: float
    stats: FlowStats


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


@dataclass(frozen=True, slots=True)
class Cluster:
    """This process's place among several running one flow (`-i` / `-a` in Bytewax terms)."""

    process_id: int
    addresses: list[str]


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
    engine = load_engine(settings, redis_model=mirror, model_namespace=_replay_namespace())
    offers = JsonLinesSink(out_dir / "offers.jsonl")
    dead_letters = JsonLinesSink(out_dir / "dead-letters.jsonl")
    stats = FlowStats()
    outputs = FlowOutputs(
        offers=offers,
        dead_letters=dead_letters,
        mirror=mirror_sink(settings, engine) if mirror else None,
        outcomes=CallbackSink(stats.add),
        model=ModelPublishSink(engine.model) if mirror else None,
    )
    source = RecordingSource(paths, settings.input_batch, speed=speed, progress=progress)

    def read(flow: Dataflow) -> Stream[Inbound]:
        return op.input("read", flow, source)

    flow = build_flow(read, outputs, engine, settings.max_message_bytes, trust=trust(settings))
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


def _joined(out_dir: Path, seconds: float, stats: FlowStats) -> ReplayResult:
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


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _listening(port: int) -> bool:
    """Whether something listens on `port`, read from /proc: connecting to Timely's port to
    find out would break its handshake."""
    try:
        table = Path("/proc/net/tcp").read_text()
    except OSError:
        return True
    wanted = f":{port:04X} "
    return any(wanted in line and line.split()[3] == "0A" for line in table.splitlines()[1:])


def _wait_for_listener(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Process 0 listens first; the others would otherwise retry and lose a second."""
    deadline = time.monotonic() + timeout
    while not _listening(port) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)


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
) -> ReplayResult:
    """Replay with several processes on this machine (one worker each is what scales here)."""
    ports = _free_ports(processes)
    addresses = ";".join(f"127.0.0.1:{port}" for port in ports)
    namespace = os.environ.get("INSESSION_MODEL_NAMESPACE") or _replay_namespace()
    for stale in out_dir.glob("stats.part*.json"):
        stale.unlink()
    started = time.perf_counter()
    children = []
    for process_id in range(processes):
        command = [
            sys.executable,
            "-m",
            "insession.cli",
            "replay",
            *map(str, paths),
            "--out",
            str(out_dir),
            "--workers",
            str(workers),
            "--process-id",
            str(process_id),
            "--addresses",
            addresses,
            "--speed",
            str(speed),
        ]
        if mirror:
            command.append("--redis")
        # One model namespace for the whole cluster, of its own (not the live model's).
        env = {**os.environ, "INSESSION_MODEL_NAMESPACE": namespace}
        children.append(subprocess.Popen(command, env=env))
        if process_id == 0:
            _wait_for_listener(ports[0], children[0])
    failed = [i for i, child in enumerate(children) if child.wait() != 0]
    if failed:
        raise RuntimeError(f"replay process(es) {failed} failed; see their output above")
    seconds = time.perf_counter() - started
    stats = FlowStats()
    for part in sorted(out_dir.glob("stats.part*.json")):
        stats.absorb(FlowStats.load(part))
        part.unlink()
    return _joined(out_dir, seconds, stats)


ERASURE = "erasure_request"
"""`Outcome.event_type` of a customer's erasure (not a device forgotten at its link)."""


def _tell_erasures(scrubber: SnapshotScrubber, outcomes: list[Outcome]) -> None:
    if any(o.erased and o.event_type == ERASURE for o in outcomes):
        scrubber.erased()


def _outcome_watchers(
    tap: FlowTap | None, scrubber: SnapshotScrubber | None
) -> CallbackSink | None:
    """The outcomes sink of a live flow: metrics, and erasures for the recovery scrubber."""
    watchers = [tap.outcomes] if tap is not None else []
    if scrubber is not None:
        watchers.append(partial(_tell_erasures, scrubber))
    if not watchers:
        return None
    return CallbackSink(partial(_each, watchers))


def _each(watchers: list[Callable[[list[Outcome]], None]], outcomes: list[Outcome]) -> None:
    for watch in watchers:
        watch(outcomes)


def trust(settings: Settings) -> IdentityTrust:
    """Which identity links the flow believes, and what becomes of unlinked customer ids."""
    return IdentityTrust(secret=settings.identity_secret, unlinked=settings.unlinked_customer)


def _customer_key(secret: str, contract: Contract) -> str | None:
    if isinstance(contract, Event):
        return message_key(contract, secret)
    return None


def kafka_flow(
    settings: Settings,
    *,
    from_beginning: bool = False,
    tail: bool = True,
    mirror: bool = True,
    consumer_config: dict[str, str] | None = None,
    durable: bool = False,
    metrics: FlowMetrics | None = None,
    scrubber: SnapshotScrubber | None = None,
) -> Dataflow:
    """The flow on the configured Kafka topics, writing offers and dead letters to Kafka.

    With Redis (`mirror`), offers go through the offer ledger, so an offer id is only ever
    sent with one content. `durable` (set when Bytewax recovery is on) makes each batch of
    offers wait for the broker's acknowledgement before the flow moves on. `metrics` is fed
    from the flow's streams, its Kafka source and its Redis mirror. `scrubber` (with recovery)
    is told of each erasure, to scrub the customer from the snapshots.
    """
    engine = load_engine(settings, redis_model=mirror)
    tap = (
        FlowTap(metrics, engine.model, engine.config.session.gap_ms)
        if metrics is not None
        else None
    )
    produce_error = metrics.produce_error if metrics is not None else None
    live = live_time(settings)
    source = LiveKafkaSource(
        settings.bootstrap_servers,
        [settings.topic(s) for s in INPUT_STREAMS],
        starting_offset=OFFSET_BEGINNING if from_beginning else OFFSET_STORED,
        tail=tail,
        batch_size=settings.input_batch,
        config={
            **LIVE_CONSUMER_CONFIG,
            **consumer_limits(settings.max_message_bytes),
            **(consumer_config or {}),
        },
        on_lag=tap.consumer_lag if tap is not None else None,
        on_poll=tap.input_polled if tap is not None else None,
        clock=live.clock,
        group_id=settings.consumer_group,
        commit_delay_s=commit_delay_s(settings),
    )

    def read(flow: Dataflow) -> Stream[Inbound]:
        return op.input("read", flow, source)

    outputs = FlowOutputs(
        offers=(
            LedgerOffersSink(
                settings.bootstrap_servers,
                settings.topic("offers"),
                partial(offer_ledger, settings, engine),
                durable=durable,
                on_error=produce_error,
                max_message_bytes=settings.max_message_bytes,
            )
            if mirror
            else ContractKafkaSink(
                settings.bootstrap_servers,
                settings.topic("offers"),
                partial(_customer_key, settings.key_secret),
                durable=durable,
                on_error=produce_error,
                max_message_bytes=settings.max_message_bytes,
            )
        ),
        dead_letters=ContractKafkaSink(
            settings.bootstrap_servers,
            settings.topic("dead_letter"),
            lambda _: None,
            durable=durable,
            on_error=produce_error,
            max_message_bytes=settings.max_message_bytes,
        ),
        mirror=mirror_sink(settings, engine, tap) if mirror else None,
        outcomes=_outcome_watchers(tap, scrubber),
        model=ModelPublishSink(engine.model) if mirror else None,
    )
    return build_flow(
        read,
        outputs,
        engine,
        settings.max_message_bytes,
        taps=tap,
        live=live,
        trust=trust(settings),
    )


def live_time(settings: Settings) -> LiveTime:
    """The live flow's clock and its tolerances, from the settings."""
    return LiveTime(
        clock=EventClock(lateness_ms=int(settings.allowed_lateness_s * 1000)),
        ahead_tolerance_ms=int(settings.event_ahead_tolerance_s * 1000),
        max_hold_ms=int(settings.order_max_hold_s * 1000),
    )


COMMIT_MARGIN_S = 5.0


def commit_delay_s(settings: Settings) -> float:
    """How far behind its reading a partition commits: past the longest an event can be held
    (lateness, then the hold limit), with a margin for sending what it produced."""
    return settings.order_max_hold_s + settings.allowed_lateness_s + COMMIT_MARGIN_S
