"""The whole dataflow on recordings: deterministic across workers, dead letters, consent,
identity and erasure, without Kafka."""

from __future__ import annotations

import dataclasses
import zlib
from pathlib import Path

import orjson
import pytest
import redis
from insession.operators.personalise import Personaliser
from insession.schemas.codec import decode
from insession.schemas.events import (
    Consent,
    DeadLetter,
    ErasureRequest,
    Event,
    IdentityLink,
    Offer,
    ProductUpdate,
    ProductView,
    Search,
    SocialPost,
)

from insession.connectors.recording import read_lines, write_recording
from insession.datasets import CONVERTERS, default_source
from insession.runner import replay as replay_module
from insession.runner.engine import load_engine
from insession.runner.replay import replay_cluster, replay_flow
from insession.settings import Settings
from insession.simulator import SimulationConfig, simulate

T0 = 1_764_000_000_000


@pytest.fixture(scope="module")
def real_recordings(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("recordings")
    paths = []
    for name in ("rees46", "diginetica"):
        path = folder / f"{name}.jsonl.gz"
        write_recording(path, CONVERTERS[name](default_source(name, shared_data)))
        paths.append(path)
    return paths


BASELINE = Settings(policy="baseline", recommendations=False)
"""Worker-count independence is the deterministic policy's promise: a learning policy's
offers depend on when, in wall-clock terms, each worker's model updates land, and learned
recommendations on the order in which the workers' events reach the item knowledge."""


def _offers(path: Path) -> list[Offer]:
    return [decode(line.raw) for line in read_lines(path)]  # type: ignore[misc]


@pytest.mark.data
def test_one_and_two_workers_make_the_same_offers_on_real_data(
    real_recordings: list[Path], tmp_path: Path
) -> None:
    one = replay_flow(real_recordings, tmp_path / "w1", BASELINE, workers=1)
    two = replay_flow(real_recordings, tmp_path / "w2", BASELINE, workers=2)
    assert one.offers > 100
    assert one.offers_path.read_bytes() == two.offers_path.read_bytes()
    offers = _offers(one.offers_path)
    assert len({o.offer_id for o in offers}) == len(offers), "offer ids must be unique"
    assert all(o.reason_codes and 0 < o.probability <= 1 for o in offers)


def _journey(path: Path, *, bad_lines: int = 0) -> None:
    def ev(cls, n: int, **kw):
        return cls(event_id=f"e{n}", event_time=T0 + n * 30_000, channel="web", **kw)

    events = [
        ev(ProductView, 1, anonymous_id="dev-a", session_id="s", product_id="boots", price=90.0),
        ev(IdentityLink, 2, anonymous_id="dev-a", customer_id="c-1"),
        ev(Consent, 3, customer_id="c-1", granted=True),
        *(
            ev(ProductView, n, anonymous_id="dev-a", product_id="boots", price=90.0)
            for n in range(4, 7)
        ),
        ev(Search, 7, customer_id="c-2", query="delivery", result_count=0),
        ev(Search, 8, customer_id="c-2", query="shipping", result_count=0),
        ev(ErasureRequest, 9, customer_id="c-2", request_id="r-1"),
    ]
    write_recording(path, events)
    with path.open("ab") as handle:
        handle.write(b'{"type": "search", "schema_version": "1.0"}\n' * bad_lines)


def test_identity_consent_erasure_and_dead_letters_in_one_replay(tmp_path: Path) -> None:
    recording = tmp_path / "journey.jsonl"
    _journey(recording, bad_lines=3)
    result = replay_flow([recording], tmp_path / "out", Settings())
    offers = _offers(result.offers_path)
    by_person = {(o.customer_id, o.action_id) for o in offers}
    # The device's hesitation, after login and consent, is the customer's: a personal offer.
    assert ("c-1", "variant-cheaper") in by_person
    # Two failed searches: help, which needs no consent.
    assert ("c-2", "help-delivery") in by_person or ("c-2", "help-search") in by_person
    assert result.dead_letters == 3
    assert result.stats.erasures == 1 and result.stats.devices_stitched == 1
    assert result.stats.decisions["replayed"] == 1


def test_claims_link_nothing_and_an_erasure_unlinks_the_devices_in_a_replay(
    tmp_path: Path,
) -> None:
    def ev(cls, n: int, **kw):
        return cls(event_id=f"e{n}", event_time=T0 + n * 30_000, channel="web", **kw)

    def failed_searches(n: int, **who: str) -> list:
        return [ev(Search, n + k, query="delivery", result_count=0, **who) for k in range(2)]

    recording = tmp_path / "journey.jsonl"
    write_recording(
        recording,
        [
            ev(IdentityLink, 1, anonymous_id="dev-a", customer_id="c-1"),
            *failed_searches(2, anonymous_id="dev-a"),
            # Another device claims c-1 without a link: its events are its own.
            *failed_searches(4, anonymous_id="dev-x", customer_id="c-1"),
            ev(ErasureRequest, 6, customer_id="c-1", request_id="r-1"),
            # After the erasure, c-1's old device is a stranger (new session: an hour later).
            *failed_searches(130, anonymous_id="dev-a"),
        ],
    )
    # Batches of three: the erasure's epoch ends before the device's next events are read.
    settings = Settings(policy="baseline", input_batch=3)
    result = replay_flow([recording], tmp_path / "out", settings)
    people = [(o.customer_id, o.anonymous_id) for o in _offers(result.offers_path)]
    assert people == [("c-1", None), (None, "dev-x"), (None, "dev-a")]
    assert result.stats.erasures == 1


@pytest.mark.data
def test_two_processes_make_the_same_offers_as_one(
    real_recordings: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INSESSION_POLICY", "baseline")  # the cluster's processes read it
    monkeypatch.setenv("INSESSION_RECOMMENDATIONS", "false")
    one = replay_flow(real_recordings, tmp_path / "p1", BASELINE, workers=1)
    two = replay_cluster(real_recordings, tmp_path / "p2", processes=2)
    assert one is not None and one.offers > 100
    assert one.offers_path.read_bytes() == two.offers_path.read_bytes()
    assert one.stats.events == two.stats.events
    assert one.stats.offers_by_action == two.stats.offers_by_action


def test_two_processes_make_the_same_offers_as_one_over_input_split_by_its_kafka_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Simulated shoppers (devices that log in, several devices per customer, carts,
    purchases) in two recordings split as a four-partition topic keyed by
    `Event.input_key` would be: a device's events in one file, a customer's in several."""
    monkeypatch.setenv("INSESSION_POLICY", "baseline")  # the cluster's processes read it
    monkeypatch.setenv("INSESSION_RECOMMENDATIONS", "false")
    config = SimulationConfig(customers=200, sessions_per_customer=2.0, days=3.0, seed=4)
    events = [item for item in simulate(config) if isinstance(item, Event)]
    halves: list[list[Event]] = [[], []]
    for event in events:
        halves[zlib.crc32((event.input_key() or "").encode()) % 2].append(event)
    files = [tmp_path / "part0.jsonl", tmp_path / "part1.jsonl"]
    for path, half in zip(files, halves, strict=True):
        write_recording(path, half)
    customers_on_both = {e.customer_id for e in halves[0] if e.customer_id} & {
        e.customer_id for e in halves[1] if e.customer_id
    }
    assert len(customers_on_both) > 10, "customers' events come from both files"
    one = replay_flow(files, tmp_path / "p1", BASELINE, workers=1)
    two = replay_cluster(files, tmp_path / "p2", processes=2)
    assert one.offers > 300
    assert one.offers_path.read_bytes() == two.offers_path.read_bytes()
    assert one.stats.devices_stitched == two.stats.devices_stitched > 20


def test_a_replay_lets_idle_people_go_and_makes_the_offers_it_makes_keeping_them(
    tmp_path: Path,
) -> None:
    """A simulated month where most people visit once: with a two-day idle window most of
    them have left memory by the end, and the offers (recommendations on) are byte for
    byte those of the same replay keeping everyone. (A replay's clock moves a batch at a
    time: batches of 100 events are hours of this month, not days.)"""
    config = SimulationConfig(customers=300, sessions_per_customer=1.3, days=28.0, seed=6)
    path = tmp_path / "month.jsonl"
    write_recording(path, [item for item in simulate(config) if isinstance(item, Event)])
    keeping = Settings(policy="baseline", idle_eviction_s=0, input_batch=100)
    evicting = dataclasses.replace(keeping, idle_eviction_s=2 * 24 * 3600)
    kept = replay_flow([path], tmp_path / "kept", keeping)
    left = replay_flow([path], tmp_path / "left", evicting)
    assert kept is not None and left is not None and kept.offers > 1_000
    held = kept.stats.people_in_memory  # all but the erased and the stitched devices
    assert held > 200
    assert left.stats.people_in_memory < 0.25 * held, (left.stats.people_in_memory, held)
    assert left.offers_path.read_bytes() == kept.offers_path.read_bytes()


@pytest.mark.data
@pytest.mark.redis
def test_two_processes_learn_one_model_through_redis(
    real_recordings: list[Path],
    tmp_path: Path,
    redis_client: redis.Redis,
    redis_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each offer's arm is learned by one process and published; together they are one model
    holding every closed decision once, which a new engine loads as one version."""
    monkeypatch.setenv("INSESSION_POLICY", "thompson")
    monkeypatch.setenv("INSESSION_REDIS_PREFIX", redis_prefix)
    result = replay_cluster(
        real_recordings, tmp_path / "p2", processes=2, mirror=True, model_namespace="two-processes"
    )
    learned = sum(result.stats.learning.values())
    assert learned > 100
    arms = {
        arm.decode(): orjson.loads(state)
        for arm, state in redis_client.hgetall(
            f"{redis_prefix}model:two-processes:thompson"
        ).items()
    }
    assert len(arms) >= 2, "arms were learned and published"
    assert sum(state["updates"] for state in arms.values()) == learned, (
        "every closed decision updated the shared model exactly once"
    )
    settings = Settings(
        policy="thompson", redis_prefix=redis_prefix, model_namespace="two-processes"
    )
    engine = load_engine(settings, redis_model=True)
    assert engine.model.version == f"thompson-{learned}"


def _feed(n: int, product: str, **stated) -> ProductUpdate:
    return ProductUpdate(
        event_id=f"feed-{n}", event_time=T0 + n * 30_000 + 1, product_id=product, **stated
    )


def test_product_updates_teach_the_store_and_reach_no_person(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journey = tmp_path / "journey.jsonl"
    _journey(journey)
    alone = replay_flow([journey], tmp_path / "alone", Settings(policy="baseline"))

    engines: list[Personaliser] = []

    def keep_engine(*args, **kwargs) -> Personaliser:
        engines.append(load_engine(*args, **kwargs))
        return engines[-1]

    monkeypatch.setattr(replay_module, "load_engine", keep_engine)
    feed = tmp_path / "feed.jsonl"
    write_recording(
        feed,
        [
            _feed(0, "boots", title="Hiking boots", price=95.0, in_stock=True, category="shoes"),
            _feed(5, "boots", in_stock=False, attributes={"colour": "brown"}),
            _feed(6, "scarf", price=30.0, withdrawn=True),
        ],
    )
    with feed.open("ab") as handle:  # a storefront's malformed update
        handle.write(
            b'{"type": "product_update", "schema_version": "1.0", "event_id": "feed-bad", '
            b'"event_time": 1764000000000, "product_id": "hat", "attributes": {"colour": 5}}\n'
        )
    both = replay_flow([journey, feed], tmp_path / "both", Settings(policy="baseline"))

    assert both.stats.events == alone.stats.events, "no product update reached a person"
    assert sum(both.stats.decisions.values()) == sum(alone.stats.decisions.values())
    offered = {item for offer in _offers(both.offers_path) for item in offer.items}
    assert not offered & {"boots", "scarf"}, "out of stock and withdrawn: never offered"
    [letter] = [decode(line.raw) for line in read_lines(both.dead_letters_path)]
    assert isinstance(letter, DeadLetter) and both.dead_letters == 1
    assert (letter.reason, letter.field, letter.stage) == (
        "wrong_type",
        "attributes.colour",
        "decode",
    )
    assert letter.source_topic == feed.name and letter.source_offset == 4

    [engine] = engines
    products = engine.products
    boots = products.get("boots")
    assert boots is not None and (boots.price, boots.title, boots.attributes) == (
        95.0,
        "Hiking boots",
        {"colour": "brown"},
    )
    # Out of stock from the feed; the views after it (events 6 to 8 of the journey) left it so.
    assert not products.is_recommendable("boots")
    assert not products.is_recommendable("scarf") and "hat" not in products


DELIVERY_COMPLAINT = "my order still has not arrived. worst delivery ever"
"""VADER reads it as praise (+0.51): 'not' three words before 'worst' flips it."""


def _posts(path: Path) -> None:
    """Two shoppers in a session (a decision needs one) post a complaint without a score."""

    def view(n: int, customer: str) -> ProductView:
        return ProductView(
            event_id=f"v{n}",
            event_time=T0 + n * 30_000,
            channel="web",
            customer_id=customer,
            product_id="boots",
        )

    def post(n: int, customer: str, text: str) -> SocialPost:
        return SocialPost(
            event_id=f"p{n}",
            event_time=T0 + n * 30_000,
            channel="other",
            customer_id=customer,
            platform="x",
            text=text,
        )

    write_recording(
        path,
        [
            view(1, "c-angry"),
            post(2, "c-angry", "Charged twice and still no refund. Terrible service, so angry."),
            view(3, "c-late"),
            # A first post counts half (the running sentiment starts at 0): said twice.
            post(4, "c-late", DELIVERY_COMPLAINT),
            post(5, "c-late", DELIVERY_COMPLAINT),
        ],
    )


def _called_back(settings: Settings, tmp_path: Path, name: str) -> set[str | None]:
    recording = tmp_path / f"{name}.jsonl"
    _posts(recording)
    result = replay_flow([recording], tmp_path / name, settings)
    return {o.customer_id for o in _offers(result.offers_path) if o.kind == "service_recovery"}


def test_the_flow_reads_unscored_posts_with_the_scorer_the_settings_name(tmp_path: Path) -> None:
    vader = Settings(policy="baseline", sentiment="vader")
    assert _called_back(vader, tmp_path, "vader") == {"c-angry"}
    learned = Settings(policy="baseline", sentiment="learned")
    assert _called_back(learned, tmp_path, "learned") == {"c-angry", "c-late"}
