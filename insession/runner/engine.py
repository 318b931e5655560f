"""Assembling the engine from the settings: catalogue, policy and shared model, the Redis
mirror and offer ledger, and the collector tuning every flow runs with."""

from __future__ import annotations

import gc
import logging
import time
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Literal

from insession.connectors.dormant_store import RedisDormantStore
from insession.connectors.item_log import ItemLog
from insession.connectors.model_store import (
    RedisModelStore,
    load_snapshot,
    save_snapshot,
)
from insession.connectors.offer_ledger import OfferLedger
from insession.connectors.redis_client import REDIS_ERRORS, flow_client
from insession.connectors.redis_mirror import MirrorLayout, RedisMirrorSink
from insession.models.policy import build_policy
from insession.operators.control_group import ControlGroup
from insession.operators.customer_step import Outcome
from insession.operators.dormant import DormantStore, MemoryDormantStore, PrefetchingStore
from insession.operators.identity import IdentityTrust
from insession.operators.learning import ModelHub
from insession.operators.personalise import EngineConfig, Personaliser
from insession.operators.recommendations import RecsConfig
from insession.operators.session import SessionConfig
from insession.operators.summary import customer_summary
from insession.ops.metrics_tap import MetricsTap
from insession.schemas.catalogue import Catalogue, load_catalogue
from insession.settings import Settings

log = logging.getLogger(__name__)

LIVE_MODEL = "live"
"""The model namespace every `insession run` process shares in Redis."""


def tune_garbage_collector() -> None:
    """Keep Python's collector from pausing the flow.

    Per-customer state is many small, long-lived objects; with the default thresholds a full
    collection scans all of them every few thousand events, which showed as 40-50 ms stalls
    (the p99 latency) at 5,000 events/s.
    """
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)


def load_engine(
    settings: Settings,
    *,
    redis_model: bool = False,
    model_namespace: str = LIVE_MODEL,
    dormant: Literal["redis", "memory"] | None = None,
) -> Personaliser:
    """The decision engine the settings describe: catalogue, policy, session gap.

    The model is restored from `settings.model_snapshot` when that file exists, and with
    `redis_model` it is shared through Redis with the other processes of the same model
    namespace (live runs share `live`; each replay has one of its own): what they published
    is loaded at once, and newer arms every `model_sync_s` from then on. With `dormant`,
    people idle for `idle_eviction_s` leave the flow's state for a compact record and come
    back from it: in Redis (`connectors.dormant_store`; live runs mirroring to Redis) or in
    this process (replays).
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
            recs=RecsConfig(enabled=settings.recommendations),
            assume_consent=settings.assume_consent,
            idle_eviction_ms=settings.idle_eviction_s * 1000,
        ),
        hub=hub,
        dormant=_dormant_store(settings, dormant),
    )


def _dormant_store(
    settings: Settings, where: Literal["redis", "memory"] | None
) -> DormantStore | None:
    if where == "redis":
        return PrefetchingStore(
            RedisDormantStore(
                flow_client(settings.redis_url),
                settings.redis_prefix,
                key_secret=settings.key_secret,
            )
        )
    return MemoryDormantStore() if where == "memory" else None


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
    settings: Settings, engine: Personaliser, tap: MetricsTap | None = None
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


REPLAY_SKIP_WINDOW_S = 600
"""After a restart, the events this process learned in the last ten minutes are not learned
again when the flow reads them a second time (a resume from snapshots or from committed
offsets goes back far less: `runner.live.commit_delay_s`)."""


def shared_items(settings: Settings, engine: Personaliser, origin: str = "0") -> ItemLog | None:
    """The item knowledge shared through Redis (`connectors.item_log`): what every process
    has learned is loaded into this one's knowledge first, then followed. None with
    recommendations off. If Redis does not answer now, the knowledge starts empty and only
    follows from then on (logged)."""
    if not settings.recommendations:
        return None
    items = ItemLog(flow_client(settings.redis_url), origin, prefix=settings.redis_prefix)
    since_ms = int(time.time() * 1000) - REPLAY_SKIP_WINDOW_S * 1000
    try:
        ours = items.replay(engine.recs.learn_shared, ids_since_ms=since_ms)
        engine.recs.skip_replayed(ours)
    except REDIS_ERRORS as error:
        log.warning("item knowledge not loaded from Redis (%s)", error)
    return items


def trust(settings: Settings) -> IdentityTrust:
    """Which identity links the flow believes, and what becomes of unlinked customer ids."""
    return IdentityTrust(secret=settings.identity_secret, unlinked=settings.unlinked_customer)
