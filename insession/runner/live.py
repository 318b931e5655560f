"""The live flow: Kafka topics in, offers and dead letters to Kafka, state to Redis."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from bytewax.dataflow import Dataflow
from confluent_kafka import OFFSET_BEGINNING, OFFSET_STORED

from insession.connectors.files import CallbackSink
from insession.connectors.item_log import ItemFollower, ItemLogSink
from insession.connectors.kafka_admin import consumer_limits
from insession.connectors.kafka_producer import TopicTarget
from insession.connectors.kafka_sink import ContractKafkaSink
from insession.connectors.kafka_source import LiveKafkaSource
from insession.connectors.model_store import (
    ModelPublishSink,
)
from insession.connectors.offer_ledger import LedgerOffersSink
from insession.flows.personalise import FlowOutputs, LiveTime, build_flow
from insession.keys import message_key
from insession.models.sentiment import text_scorer
from insession.operators.customer_step import Outcome
from insession.operators.event_clock import EventClock
from insession.ops.metrics import FlowMetrics
from insession.ops.metrics_tap import MetricsTap
from insession.runner.cluster import Cluster
from insession.runner.engine import load_engine, mirror_sink, offer_ledger, shared_items, trust
from insession.runner.recovery import SnapshotScrubber
from insession.schemas.events import INPUT_STREAMS, Contract, Event
from insession.settings import Settings

LIVE_CONSUMER_CONFIG = {
    # librdkafka lets the broker hold a fetch up to 500 ms by default; 50 ms bounds the wait
    # of a quiet partition without making idle consumers poll the broker constantly.
    "fetch.wait.max.ms": "50",
}


ERASURE = "erasure_request"


"""`Outcome.event_type` of a customer's erasure (not a device forgotten at its link)."""


def _tell_erasures(scrubber: SnapshotScrubber, outcomes: list[Outcome]) -> None:
    if any(o.erased and o.event_type == ERASURE for o in outcomes):
        scrubber.erased()


def _outcome_watchers(
    tap: MetricsTap | None, scrubber: SnapshotScrubber | None
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
    cluster: Cluster | None = None,
    one_worker: bool = False,
) -> Dataflow:
    """The flow on the configured Kafka topics, writing offers and dead letters to Kafka.

    With Redis (`mirror`), offers go through the offer ledger, so an offer id is only ever
    sent with one content. `durable` (set when Bytewax recovery is on) makes each batch of
    offers wait for the broker's acknowledgement before the flow moves on. `metrics` is fed
    from the flow's streams, its Kafka source and its Redis mirror. `scrubber` (with recovery)
    is told of each erasure, to scrub the customer from the snapshots. `cluster`: this
    process's place among several (it names what it writes to the shared item log);
    `one_worker`: the only worker of the flow (see `build_flow`).
    """
    engine = load_engine(settings, redis_model=mirror, dormant="redis" if mirror else None)
    tap = (
        MetricsTap(metrics, engine.model, engine.config.session.gap_ms)
        if metrics is not None
        else None
    )
    produce_error = metrics.produce_error if metrics is not None else None
    live = live_time(settings)
    source = LiveKafkaSource(
        settings.kafka_client(),
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

    def target(stream: str) -> TopicTarget:
        return TopicTarget(
            settings.kafka_client(),
            settings.topic(stream),
            durable=durable,
            on_error=produce_error,
            max_message_bytes=settings.max_message_bytes,
        )

    origin = str(cluster.process_id) if cluster is not None else "0"
    items = shared_items(settings, engine, origin) if mirror else None
    if items is not None:
        engine.recs.shares = True
        ItemFollower(items, engine.recs.learn_shared).start()
    outputs = FlowOutputs(
        offers=(
            LedgerOffersSink(target("offers"), partial(offer_ledger, settings, engine))
            if mirror
            else ContractKafkaSink(target("offers"), partial(_customer_key, settings.key_secret))
        ),
        dead_letters=ContractKafkaSink(target("dead_letter"), lambda _: None),
        mirror=mirror_sink(settings, engine, tap) if mirror else None,
        outcomes=_outcome_watchers(tap, scrubber),
        model=ModelPublishSink(engine.model) if mirror else None,
        items=ItemLogSink(items) if items is not None else None,
    )
    return build_flow(
        source,
        outputs,
        engine,
        settings.max_message_bytes,
        sentiment=text_scorer(settings.sentiment),
        taps=tap,
        live=live,
        trust=trust(settings),
        one_worker=one_worker,
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
