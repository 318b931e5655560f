"""The item log on the real Redis: a follower answers like the writer, a forget reaches every
process, a replay rebuilds the knowledge and names its own events, MAXLEN bounds the stream,
and neither a Redis that is down nor a garbled entry stops anything."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from insession.models.items import FORGET, STRATEGIES, ItemKnowledge, Observation

from insession.connectors.item_log import ItemFollower, ItemLog, ItemLogSink
from insession.connectors.redis_client import flow_client
from tests.conftest import RedisUnderTest

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_client(any_redis: RedisUnderTest) -> redis.Redis:
    """Every test here runs against the Redis server and against the Redis Cluster."""
    return any_redis.client


CATALOGUE = [f"sku-{i:03d}" for i in range(40)]
START_MS = 1_740_000_000_000


@pytest.fixture
def client(any_redis: RedisUnderTest, redis_client: redis.Redis) -> Iterator[redis.Redis]:
    """A flow's fail-fast client (`redis_client` first: it fails or skips if Redis is missing)."""
    flow = flow_client(any_redis.url)
    yield flow
    flow.close()


def _traffic(tag: str, sessions: int, seed: int) -> list[Observation]:
    """Sessions of 2-8 views within one of eight themes of five items (and a stray item),
    some ending with carts and purchases; event ids unique per observation."""
    rng = random.Random(seed)
    seen: list[Observation] = []
    for s in range(sessions):
        theme = rng.randrange(8) * 5
        at = START_MS + s * 60_000
        for step in range(rng.randint(2, 8)):
            item = (
                CATALOGUE[theme + rng.randrange(5)] if rng.random() < 0.9 else rng.choice(CATALOGUE)
            )
            seen.append(
                Observation(f"{tag}{s}", item, at + step * 1_000, "view", f"{tag}e{len(seen)}")
            )
        if rng.random() < 0.4:
            for kind in ("cart", "purchase"):
                item = CATALOGUE[theme + rng.randrange(2)]
                seen.append(Observation(f"{tag}{s}", item, at + 9_000, kind, f"{tag}e{len(seen)}"))
    return seen


def _answers(knowledge: ItemKnowledge) -> dict[tuple[str, str], list]:
    """Every strategy's top 10 for every item alone, and for a two-item session."""
    found = {}
    for strategy in STRATEGIES:
        for item in CATALOGUE:
            found[strategy, item] = knowledge.recommend([item], n=10, strategy=strategy)
        found[strategy, "pair"] = knowledge.recommend(CATALOGUE[:2], n=10, strategy=strategy)
    return found


def _learned(*parts: list[Observation]) -> ItemKnowledge:
    knowledge = ItemKnowledge()
    for part in parts:
        knowledge.learn(part)
    return knowledge


def _batches(seen: list[Observation], size: int) -> Iterator[list[Observation]]:
    for start in range(0, len(seen), size):
        yield seen[start : start + size]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_follower_answers_like_the_writer_after_sync(
    client: redis.Redis, redis_prefix: str
) -> None:
    writer, follower = ItemKnowledge(), ItemKnowledge()
    sink = ItemLogSink(ItemLog(client, "0", prefix=redis_prefix)).build("items_out", 0, 1)
    follower_log = ItemLog(client, "1", prefix=redis_prefix, chunk=100)
    lock = threading.Lock()

    def learn_locked(batch: list[Observation]) -> None:
        with lock:
            follower.learn(batch)

    following = ItemFollower(follower_log, learn_locked, sync_every_s=0.05)
    following.start()
    seen = _traffic("a", 300, seed=1)
    for batch in _batches(seen, 37):  # the flow's customer step learns, then its sink publishes
        writer.learn(batch)
        sink.write_batch(batch)
    deadline = time.monotonic() + 10
    while follower_log.counters.applied < len(seen) and time.monotonic() < deadline:
        time.sleep(0.05)
    following.stop()
    sink.close()

    assert follower_log.counters.applied == len(seen)
    assert follower_log.counters.read_errors == follower_log.counters.bad_entries == 0
    with lock:
        assert _answers(follower) == _answers(writer)
    assert any(_answers(writer).values())


def test_a_forget_reaches_every_process(client: redis.Redis, redis_prefix: str) -> None:
    writer_log = ItemLog(client, "0", prefix=redis_prefix)
    follower_log = ItemLog(client, "1", prefix=redis_prefix)
    follower = ItemKnowledge()
    others = _traffic("a", 100, seed=2)
    erased = [
        Observation("gone", item, START_MS + i, kind, f"g{i}")
        for i, (item, kind) in enumerate(
            [
                ("lone-sku", "view"),
                ("sku-000", "view"),
                ("sku-001", "purchase"),
                ("sku-000", "purchase"),
            ]
        )
    ]
    writer = _learned(others, erased)
    writer_log.publish(others + erased)
    follower_log.catch_up(follower.learn)
    assert follower.knows("lone-sku")

    forget = [Observation("gone", "", START_MS + 10_000, FORGET, "erase-1")]
    writer.learn(forget)
    assert writer_log.publish(forget) == 1
    assert follower_log.catch_up(follower.learn) == 1

    assert not follower.knows("lone-sku")
    assert _answers(follower) == _answers(writer) == _answers(_learned(others))


def test_replay_rebuilds_the_knowledge_and_names_its_own_events(
    client: redis.Redis, redis_prefix: str
) -> None:
    mine, theirs = _traffic("a", 150, seed=3), _traffic("b", 150, seed=4)
    mine_log = ItemLog(client, "0", prefix=redis_prefix)
    theirs_log = ItemLog(client, "1", prefix=redis_prefix)
    for own, other in zip(_batches(mine, 50), _batches(theirs, 50), strict=False):
        mine_log.publish(own)
        theirs_log.publish(other)
    in_stream_order = [
        o
        for own, other in zip(_batches(mine, 50), _batches(theirs, 50), strict=False)
        for o in own + other
    ]

    restarted = ItemKnowledge()  # process 0 again, its knowledge gone with the old process
    log = ItemLog(client, "0", prefix=redis_prefix, chunk=64)
    own_ids = log.replay(restarted.learn)

    assert own_ids == {o.event_id for o in mine}
    assert log.counters.replayed == len(mine) + len(theirs)
    assert _answers(restarted) == _answers(_learned(in_stream_order))
    assert log.last_id == client.xrevrange(log.key, count=1)[0][0].decode()
    later = _traffic("c", 5, seed=5)
    theirs_log.publish(later)
    assert log.catch_up(restarted.learn) == len(later)  # the follower goes on, not from the start
    assert (
        log.replay(ItemKnowledge().learn, ids_since_ms=int(time.time() * 1000) + 3_600_000) == set()
    )


def test_maxlen_bounds_the_stream(client: redis.Redis, redis_prefix: str) -> None:
    log = ItemLog(client, "0", prefix=redis_prefix, max_entries=500)
    seen = _traffic("a", 1_000, seed=6)[:5_000]
    for batch in _batches(seen, 250):
        assert log.publish(batch) == len(batch)
    node = int(client.config_get("stream-node-max-entries")["stream-node-max-entries"])

    # `MAXLEN ~` trims whole nodes of the stream only: up to one node more stays.
    assert 500 <= client.xlen(log.key) <= 500 + node
    own_ids = ItemLog(client, "0", prefix=redis_prefix).replay(lambda batch: None)
    assert seen[-1].event_id in own_ids
    assert seen[0].event_id not in own_ids
    assert len(own_ids) == client.xlen(log.key)


def test_an_unreachable_redis_is_counted_not_raised(client: redis.Redis, redis_prefix: str) -> None:
    down = flow_client(f"redis://127.0.0.1:{_closed_port()}/0")
    log = ItemLog(down, "0", prefix=redis_prefix, max_backlog=100, retry_after_s=0.0)
    sink = ItemLogSink(log).build("items_out", 0, 1)
    seen = _traffic("a", 200, seed=7)
    erase = Observation("elsewhere", "", START_MS, FORGET, "erase-1")

    assert log.publish([erase, *seen[:10]]) == 0
    sink.write_batch(seen[10:200])  # no exception out of the flow's sink
    assert log.catch_up(ItemKnowledge().learn) == 0
    with pytest.raises(redis.ConnectionError):
        log.replay(ItemKnowledge().learn)  # a start-up step: the caller decides
    sink.close()  # its writer stops, after a last attempt (refused too)

    # The publish, the sink's last attempt, and whatever tries its writer made between them.
    assert log.counters.send_errors >= 2 and log.counters.read_errors == 1
    # 201 waited, at most 100 kept: the oldest were dropped, but never the erasure.
    assert log.pending == 101 and log.counters.dropped == 100
    log.client = client  # Redis answers again
    assert log.publish(()) == 101 and log.pending == 0
    written = ItemLog(client, "0", prefix=redis_prefix).replay(lambda batch: None)
    assert "erase-1" in written
    assert seen[199].event_id in written and seen[0].event_id not in written
    down.close()


def test_what_waits_of_an_erased_session_is_never_written(
    client: redis.Redis, redis_prefix: str
) -> None:
    down = flow_client(f"redis://127.0.0.1:{_closed_port()}/0")
    log = ItemLog(down, "0", prefix=redis_prefix, retry_after_s=0.0)
    kept, erased = _traffic("a", 3, seed=8), _traffic("b", 1, seed=8)
    log.publish(kept + erased)
    log.publish([Observation("b0", "", START_MS + 90_000, FORGET, "erase-b0")])
    log.client = client
    assert log.publish(()) == len(kept) + 1

    replayed: list[Observation] = []
    ItemLog(client, "1", prefix=redis_prefix).replay(replayed.extend)
    assert [o.session_id for o in replayed if o.session_id == "b0"] == ["b0"]
    assert replayed[-1].kind == FORGET
    down.close()


def test_a_garbled_entry_is_skipped_and_counted(client: redis.Redis, redis_prefix: str) -> None:
    writer_log = ItemLog(client, "0", prefix=redis_prefix)
    seen = _traffic("a", 4, seed=9)
    writer_log.publish(seen[:3])
    for garbled in (
        {"o": b"\xff\xfe"},
        {"x": b"1"},
        {"o": b'["0","s","sku-000","soon","v",""]'},
        {"o": b'["0","s","sku-000",1,"z",""]'},
        {"o": b'["0","","sku-000",1,"v",""]'},
        {"o": b'{"session":"s"}'},
    ):
        client.xadd(writer_log.key, garbled)
    writer_log.publish(seen[3:])

    follower, follower_log = ItemKnowledge(), ItemLog(client, "1", prefix=redis_prefix)
    assert ItemFollower(follower_log, follower.learn).sync() == len(seen)
    assert follower_log.counters.bad_entries == 6
    assert _answers(follower) == _answers(_learned(seen))
    restarted = ItemLog(client, "0", prefix=redis_prefix)
    assert restarted.replay(ItemKnowledge().learn) == {o.event_id for o in seen}
    assert restarted.counters.bad_entries == 6


def test_a_callback_that_fails_is_counted_and_the_follower_goes_on(
    client: redis.Redis, redis_prefix: str
) -> None:
    writer_log = ItemLog(client, "0", prefix=redis_prefix)
    follower_log = ItemLog(client, "1", prefix=redis_prefix)
    calls: list[int] = []

    def apply(batch: list[Observation]) -> None:
        calls.append(len(batch))
        if len(calls) == 1:
            raise RuntimeError("a bug in the callback")

    following = ItemFollower(follower_log, apply)
    writer_log.publish(_traffic("a", 2, seed=10))
    assert following.sync() == 0
    assert follower_log.counters.read_errors == 1
    assert "a bug in the callback" in follower_log.counters.last_error
    writer_log.publish(later := _traffic("b", 2, seed=11))
    assert following.sync() == len(later)  # the failed chunk is not read again
    assert calls[1] == len(later)
