"""The round trip: simulated traffic -> Kafka -> the live flow (`insession run`); the same
topics recorded (`insession record`) and replayed -> the same messages, the same dead
letters and the same offers, id for id and field for field.

The live flow handles each person's events in the order they reach it, a replay in event-time
order. They can only agree when a person's events arrive in the order they happened, which is
what real shoppers produce: nobody acts twice within a tenth of a second. The simulation
squeezes a week into seconds, so it is sent with each person's messages `PERSON_GAP_S` apart
(other people's interleave freely). Sent flat out instead, one shopper's cart event and the
click before it, a millisecond apart on different topics, are read by different partition
consumers and may reach the live flow swapped.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition
from insession.schemas.codec import decode, encode
from insession.schemas.events import DeadLetter, Event, Offer, Search

from insession.connectors.kafka_admin import broker_ready, create_topics, delete_topics
from insession.connectors.recording import read_lines, read_messages
from insession.runner.replay import ReplayResult, replay_flow
from insession.settings import Settings
from insession.simulator import SimulationConfig, encode_item, key_of, simulate, stream_of
from tests.conftest import unavailable
from tests.flow_process import flow_env, running_flow
from tests.kafka_io import consume
from tests.samples import failed_searches

pytestmark = [pytest.mark.kafka]

T0 = 1_764_000_000_000
PERSON_GAP_S = 0.1
RATE = 1000
TRAFFIC = SimulationConfig(
    seed=3, customers=60, sessions_per_customer=1.5, loyal_share=0.05, malformed_rate=0.02
)


def _send(settings: Settings, searches: list[Search]) -> None:
    producer = Producer({**settings.kafka_client()})
    for search in searches:
        producer.produce(settings.topic("clickstream"), encode(search),
                         key=(search.customer_id or "").encode())  # fmt: skip
    assert producer.flush(30) == 0


def _await_offer_for(settings: Settings, customer: str) -> None:
    group = f"await-{uuid.uuid4().hex}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        found = consume(settings, ["offers"], group, at_least=1, timeout=5)
        if any(decode(m.value()).customer_id == customer for m in found):
            return
    raise AssertionError(f"no offer for {customer}: the live flow did not get this far")


def _everything_on(settings: Settings, stream: str) -> list[Message]:
    """Every message of a stream's topic, read up to its end offsets."""
    topic = settings.topic(stream)
    consumer = Consumer(
        {
            **settings.kafka_client(),
            "group.id": f"all-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    ends = {
        p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
        for p in partitions
    }
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    found: list[Message] = []
    reached = dict.fromkeys(partitions, 0)
    deadline = time.monotonic() + 60
    while reached != ends and time.monotonic() < deadline:
        for message in consumer.consume(500, 0.5):
            assert message.error() is None, message.error()
            found.append(message)
            reached[message.partition()] = message.offset() + 1
    consumer.close()
    assert reached == ends, f"read {topic} up to {reached}; it ends at {ends}"
    return found  # fmt: skip


def _produce_person_by_person(items: list[Event | bytes], settings: Settings) -> None:
    """Send at `RATE` a second, each person's messages at least `PERSON_GAP_S` apart.

    A device counts as every customer it is ever linked to: its anonymous events reach the
    customer when it is linked, so they must not arrive after that customer's later ones.
    """
    owners: dict[str, set[str]] = {}
    for item in items:
        if isinstance(item, Event) and item.customer_id and item.anonymous_id:
            owners.setdefault(item.anonymous_id, set()).add(item.customer_id)
    last: dict[str, float] = {}
    schedule = []
    for n, item in enumerate(items):
        people: set[str] = set()
        if isinstance(item, Event):
            people = {p for p in (item.customer_id, item.anonymous_id, item.partition_key()) if p}
            people |= owners.get(item.anonymous_id or "", set())
        at = max([n / RATE, *(last[p] + PERSON_GAP_S for p in people if p in last)])
        last.update(dict.fromkeys(people, at))
        schedule.append((at, n, item))
    producer = Producer({**settings.kafka_client(), "linger.ms": 1})
    started = time.monotonic()
    for at, _, item in sorted(schedule, key=lambda planned: planned[:2]):
        ahead = started + at - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        producer.produce(settings.topic(stream_of(item)), encode_item(item), key=key_of(item))
        producer.poll(0)
    assert producer.flush(30) == 0


def _env(settings: Settings) -> dict[str, str]:
    """What `insession run` and `insession record` need to find this module's topics."""
    # Item knowledge learns across people in the order their events meet, which a live run
    # and its replay need not share (like a learning policy's model): left out here.
    return flow_env(settings, INSESSION_RECOMMENDATIONS="false")


def _run_live(settings: Settings, log_path: Path) -> list[bytes]:
    """`insession run` while the traffic arrives; returns every value sent, in send order."""
    with running_flow(_env(settings), log_path, "--no-redis"):
        warm_up = failed_searches("warm", T0)
        _send(settings, warm_up)
        _await_offer_for(settings, "warm")
        items = list(simulate(TRAFFIC))
        _produce_person_by_person(items, settings)
        # Sent last: once its offer is out, the live flow has read all that came before.
        sentinel = failed_searches("sentinel", T0 + 10**10)
        _send(settings, sentinel)
        _await_offer_for(settings, "sentinel")
    return [encode_item(item) for item in [*warm_up, *items, *sentinel]]


@dataclasses.dataclass(frozen=True)
class RoundTrip:
    """One live run, the recording of its input topics, and the replay of that recording."""

    settings: Settings
    sent: list[bytes]
    live_offers: list[Offer]
    live_dead_letters: list[DeadLetter]
    recording: Path
    replay: ReplayResult


@pytest.fixture(scope="module")
def round_trip(
    base_settings: Settings, run_id: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RoundTrip]:
    if not broker_ready(base_settings.kafka_client()):
        unavailable(f"Kafka is not answering at {base_settings.bootstrap_servers}")
    topics = {stream: f"test.{run_id}.record_replay.{stream}" for stream in base_settings.topics}
    settings = dataclasses.replace(
        base_settings, topics=topics, partitions=2, policy="baseline", recommendations=False
    )
    create_topics(settings)
    folder = tmp_path_factory.mktemp("round_trip")
    try:
        sent = _run_live(settings, folder / "run.log")
        live_offers = [decode(m.value()) for m in _everything_on(settings, "offers")]
        live_letters = [decode(m.value()) for m in _everything_on(settings, "dead_letter")]
        recording = folder / "inputs.jsonl.gz"
        recorded = subprocess.run(
            [sys.executable, "-m", "insession.cli", "record", "--from-beginning", "--out",
             str(recording), "--max-messages", str(len(sent)), "--until-idle", "30",
             "--no-progress"],
            env=_env(settings), capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert recorded.returncode == 0, recorded.stderr
        replayed = replay_flow([recording], folder / "replay", settings)
        assert replayed is not None
        yield RoundTrip(settings, sent, live_offers, live_letters, recording, replayed)  # type: ignore[arg-type]
    finally:
        delete_topics(settings.kafka_client(), topics.values())


def test_the_recording_holds_every_message_sent_byte_for_byte(round_trip: RoundTrip) -> None:
    recorded = list(read_messages(round_trip.recording))
    assert sorted(m.value or b"" for m in recorded) == sorted(round_trip.sent)
    by_topic = {m.topic for m in recorded}
    assert round_trip.settings.topic("clickstream") in by_topic
    assert round_trip.settings.topic("identity") in by_topic


def test_the_replay_dead_letters_what_the_live_run_dead_lettered(round_trip: RoundTrip) -> None:
    replayed = [decode(line.raw) for line in read_lines(round_trip.replay.dead_letters_path)]

    def where_and_why(letters: list[DeadLetter]) -> set[tuple[object, ...]]:
        return {(d.source_topic, d.source_partition, d.source_offset, d.original, d.reason,
                 d.field) for d in letters}  # fmt: skip

    assert len(round_trip.live_dead_letters) > 10
    assert all(isinstance(d, DeadLetter) for d in replayed)
    assert where_and_why(replayed) == where_and_why(round_trip.live_dead_letters)  # type: ignore[arg-type]


def test_the_replay_gives_the_offers_of_the_live_run(round_trip: RoundTrip) -> None:
    replayed = [decode(line.raw) for line in read_lines(round_trip.replay.offers_path)]
    live = round_trip.live_offers
    assert len(live) > 50 and len({o.offer_id for o in live}) == len(live)
    assert len(replayed) == len(live)
    assert {o.offer_id: o for o in replayed} == {o.offer_id: o for o in live}
