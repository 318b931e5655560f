"""`insession simulate`: seeded, valid, time-ordered traffic that exercises every scenario."""

from __future__ import annotations

import argparse
import gzip
import itertools
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from insession.models.sentiment import SENTIMENTS, text_scorer
from insession.models.sentiment.vader import vader_score
from insession.schemas.codec import Rejection, decode
from insession.schemas.events import (
    STREAMS,
    CartAdd,
    Consent,
    ErasureRequest,
    Event,
    IdentityLink,
    ProductView,
    Purchase,
    Search,
    SocialPost,
)

from insession.cli.simulate import add_simulate_command
from insession.connectors.recording import read_lines
from insession.settings import Settings
from insession.simulator import (
    NEGATIVE_POSTS,
    POSITIVE_POSTS,
    Shop,
    SimulationConfig,
    encode_item,
    produce,
    simulate,
    stream_of,
)
from tests.kafka_io import consume

GAP_MS = 30 * 60 * 1000
ACCESSORISED = {"apparel.jacket", "apparel.coat", "apparel.trousers", "apparel.jeans"}


@pytest.fixture(scope="module")
def events() -> list[Event]:
    items = list(simulate(SimulationConfig(seed=7, customers=200)))
    assert all(isinstance(item, Event) for item in items)
    return items  # type: ignore[return-value]


@pytest.fixture(scope="module")
def sessions(events: list[Event]) -> dict[str, list[Event]]:
    by_session: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        if event.session_id is not None:
            by_session[event.session_id].append(event)
    return by_session


def _lines(config: SimulationConfig) -> list[bytes]:
    return [encode_item(item) for item in simulate(config)]


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    config = SimulationConfig(seed=3, customers=40)
    first = _lines(config)
    assert first == _lines(SimulationConfig(seed=3, customers=40))
    assert first != _lines(SimulationConfig(seed=4, customers=40))


def test_every_event_decodes_to_an_equal_object(events: list[Event]) -> None:
    assert len(events) > 5000
    for event in events:
        assert decode(encode_item(event)) == event
    assert len({event.event_id for event in events}) == len(events)


def test_event_times_never_go_back(events: list[Event]) -> None:
    times = [event.event_time for event in events]
    assert times == sorted(times)


def test_sessions_are_one_device_and_apart_by_more_than_the_session_gap(
    sessions: dict[str, list[Event]],
) -> None:
    spans_by_device: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for session in sessions.values():
        assert {event.anonymous_id for event in session} == {session[0].anonymous_id}
        gaps = [b.event_time - a.event_time for a, b in itertools.pairwise(session)]
        assert max(gaps, default=0) < GAP_MS
        device = session[0].anonymous_id
        assert device is not None and device.startswith("dev-")
        spans_by_device[device].append((session[0].event_time, session[-1].event_time))
    for spans in spans_by_device.values():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start - end > GAP_MS


def test_after_a_login_the_session_carries_the_customer(
    sessions: dict[str, list[Event]],
) -> None:
    links = 0
    for session in sessions.values():
        linked = next((e for e in session if isinstance(e, IdentityLink)), None)
        if linked is None:
            continue
        links += 1
        after = session[session.index(linked) :]
        assert {e.customer_id for e in after} == {linked.customer_id}
        assert {e.anonymous_id for e in after} == {linked.anonymous_id}
        # the session began anonymous, or the app remembered the login
        assert session[0].customer_id is None or session[0].channel == "app"
    assert links > 50


def _has_failed_search_run(session: list[Event]) -> bool:
    run = 0
    for event in session:
        if isinstance(event, Search):
            run = run + 1 if event.result_count == 0 else 0
            if run >= 2:
                return True
    return False


def _has_hesitation(session: list[Event]) -> bool:
    """A product viewed a third time while it is not in the cart."""
    views: Counter[str] = Counter()
    added: set[str] = set()
    for event in session:
        if isinstance(event, CartAdd):
            added.add(event.product_id)
        elif isinstance(event, ProductView):
            views[event.product_id] += 1
            if views[event.product_id] >= 3 and event.product_id not in added:
                return True
    return False


def test_the_mix_exercises_every_scenario(
    events: list[Event], sessions: dict[str, list[Event]]
) -> None:
    by_type = Counter(event.type for event in events)
    click = sum(by_type[kind] for kind in STREAMS["clickstream"])
    assert click / len(events) >= 0.6

    purchases = [e for e in events if isinstance(e, Purchase)]
    assert purchases
    for purchase in purchases:
        assert purchase.currency == "EUR" and purchase.lines and purchase.customer_id
        line_total = sum(line.quantity * (line.unit_price or 0) for line in purchase.lines)
        assert purchase.total == pytest.approx(line_total)
    assert {line.category for p in purchases for line in p.lines} & ACCESSORISED
    orders = Counter(p.customer_id for p in purchases)
    assert max(orders.values()) >= 3  # loyal customers

    assert sum(_has_failed_search_run(s) for s in sessions.values()) >= 5
    assert sum(_has_hesitation(s) for s in sessions.values()) >= 10
    assert by_type["identity_link"] >= 50 and by_type["cart_remove"] and by_type["checkout_start"]

    consents = [e for e in events if isinstance(e, Consent) and e.purpose == "personalisation"]
    grants = {e.customer_id for e in consents if e.granted}
    revoked = {e.customer_id for e in consents if not e.granted and e.customer_id in grants}
    assert len(grants) >= 60 and revoked
    assert any(isinstance(e, ErasureRequest) for e in events)


def test_orders_complete_looks_and_browsing_follows_them(
    events: list[Event], sessions: dict[str, list[Event]]
) -> None:
    shop = Shop(SimulationConfig(seed=7))

    def goes_with(first: str, second: str) -> bool:
        return shop.products[second] in shop.partners(shop.products[first])

    orders = [
        [line.product_id for line in e.lines]
        for e in events
        if isinstance(e, Purchase) and len(e.lines) > 1
    ]
    paired = [o for o in orders if any(goes_with(a, b) for a, b in itertools.combinations(o, 2))]
    assert len(orders) > 30 and len(paired) / len(orders) > 0.45, (len(paired), len(orders))

    moves = [
        (a.product_id, b.product_id)
        for session in sessions.values()
        for a, b in itertools.pairwise(e for e in session if isinstance(e, ProductView))
        if a.product_id != b.product_id
    ]
    to_partner = sum(goes_with(a, b) for a, b in moves) / len(moves)
    to_similar = sum(shop.products[b] in shop.similar(shop.products[a]) for a, b in moves)
    assert to_partner > 0.08 and to_similar / len(moves) > 0.15, (to_partner, to_similar)


def test_posts_read_as_meant_and_mostly_leave_scoring_to_the_engine(
    events: list[Event],
) -> None:
    posts = [e for e in events if isinstance(e, SocialPost)]
    assert all(post.customer_id or post.author_handle for post in posts)
    assert any(post.customer_id for post in posts) and any(post.author_handle for post in posts)
    unscored = [post for post in posts if post.score is None]
    assert len(unscored) > len(posts) / 2
    assert any(vader_score(post.text or "") <= -0.3 for post in unscored)
    assert {post.platform for post in posts} == {"instagram", "tiktok", "x"}


@pytest.mark.parametrize("sentiment", SENTIMENTS)
@pytest.mark.parametrize("template", NEGATIVE_POSTS + POSITIVE_POSTS)
def test_each_scorer_reads_each_post_template_the_right_way(template: str, sentiment: str) -> None:
    score = text_scorer(sentiment)(template.format(item="leather jacket"))
    assert score <= -0.3 if template in NEGATIVE_POSTS else score >= 0.3


def test_malformed_lines_are_rejected_and_none_without_the_rate() -> None:
    items = list(simulate(SimulationConfig(seed=1, customers=60, malformed_rate=0.05)))
    bad = [item for item in items if isinstance(item, bytes)]
    assert len(bad) > 20
    reasons: Counter[str] = Counter()
    for line in bad:
        rejection = decode(line)
        assert isinstance(rejection, Rejection), line
        reasons[rejection.reason] += 1
    assert len(reasons) >= 5
    clean = simulate(SimulationConfig(seed=1, customers=60))
    assert not any(isinstance(item, bytes) for item in clean)


def test_max_events_bounds_the_run() -> None:
    assert len(list(simulate(SimulationConfig(customers=5000, max_events=300)))) == 300


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError, match="consent_rate"):
        SimulationConfig(consent_rate=1.5)
    with pytest.raises(ValueError, match="channel_mix"):
        SimulationConfig(channel_mix={"fax": 1.0})


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="insession")
    add_simulate_command(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_cli_writes_a_repeatable_gzipped_recording(tmp_path: Path) -> None:
    paths = [tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.gz"]
    for path in paths:
        args = _parse(
            [
                "simulate",
                "--customers",
                "30",
                "--seed",
                "5",
                "--days",
                "2",
                "--start",
                "2025-06-01",
                "--malformed-rate",
                "0.02",
                "-o",
                str(path),
            ]
        )
        assert args.run(args, Settings()) == 0
    assert paths[0].read_bytes() == paths[1].read_bytes()
    lines = [line.raw for line in read_lines(paths[0])]
    expected = _lines(
        SimulationConfig(
            seed=5, customers=30, days=2, malformed_rate=0.02, start_ms=1_748_736_000_000
        )
    )
    assert lines == expected
    assert gzip.decompress(paths[0].read_bytes()).count(b"\n") == len(expected)


@pytest.mark.kafka
def test_produces_to_each_streams_topic_at_the_rate(kafka_settings: Settings, run_id: str) -> None:
    items = list(simulate(SimulationConfig(seed=2, customers=12, malformed_rate=0.03)))
    assert 300 < len(items) < 3000 and any(isinstance(item, bytes) for item in items)
    rate = len(items) / 0.8
    stats = produce(items, kafka_settings, rate)
    assert stats.failed == 0 and stats.sent == len(items)
    assert stats.seconds >= (len(items) - 1) / rate - 0.01  # paced, not flat out
    assert stats.per_stream == dict(Counter(stream_of(item) for item in items))

    expected = Counter(encode_item(item) for item in items)
    stream_of_value = {encode_item(item): stream_of(item) for item in items}
    missing = sum(expected.values())
    for message in consume(kafka_settings, STREAMS, f"simulate-{run_id}", at_least=missing):
        assert message.topic() == kafka_settings.topic(stream_of_value[message.value()])
        expected[message.value()] -= 1
        missing -= 1
    assert missing == 0
