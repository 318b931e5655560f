"""The item knowledge as flat tables of ids and numbers, for pickling (recovery snapshots).

Items and sessions refer to each other, so pickling the objects directly recurses once per
reference along a chain that can cross the whole catalogue (RecursionError): instead every
item and session is numbered and references become numbers.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from insession.models.items.state import ItemId, ItemState, SessionId, SessionState, TrendingTop

VERSION = 1


def flatten(
    items: OrderedDict[ItemId, ItemState],
    sessions: OrderedDict[SessionId, SessionState],
    trending: TrendingTop,
) -> dict[str, Any]:
    """Tables of the items (live ones in least-recently-seen order, then the dead ones still
    named somewhere) and of the sessions (least recently active first)."""
    number: dict[ItemState, int] = {}
    table: list[ItemState] = []

    def ref(item: ItemState) -> int:
        found = number.get(item)
        if found is None:
            found = number[item] = len(table)
            table.append(item)
        return found

    for item in items.values():
        ref(item)
    session_number = {session: n for n, session in enumerate(sessions.values())}
    session_rows = [
        (
            s.id,
            s.last_ms,
            s.events,
            [ref(i) for i in s.views],
            [ref(i) for i in s.items],
            list(s.given),
            None if s.bought is None else [ref(i) for i in s.bought],
        )
        for s in sessions.values()
    ]
    item_rows = []
    at = 0
    while at < len(table):  # rows may name dead items, which join the table as they appear
        item = table[at]
        item_rows.append(
            (
                item.id,
                item.alive,
                item.seen,
                item.trend,
                [session_number[s] for s in item.sessions if s in session_number],
                _row(item.next, ref),
                _row(item.bought, ref),
            )
        )
        at += 1
    return {
        "version": VERSION,
        "live": len(items),
        "items": item_rows,
        "sessions": session_rows,
        "trending": (trending.origin_ms, trending.floor, [number[i] for i in trending.top]),
    }


def restore(
    state: dict[str, Any], trending: TrendingTop
) -> tuple[OrderedDict[ItemId, ItemState], OrderedDict[SessionId, SessionState]]:
    """The items and sessions of `flatten`'s tables; `trending` gets its origin and top."""
    if state.get("version") != VERSION:
        raise ValueError(f"item knowledge snapshot version {state.get('version')!r} is unknown")
    table = []
    for item_id, alive, seen, trend, *_ in state["items"]:
        item = ItemState(item_id)
        item.alive, item.seen, item.trend = alive, seen, trend
        item.log_seen = _log(seen)
        table.append(item)
    sessions: OrderedDict[SessionId, SessionState] = OrderedDict()
    session_table = []
    for session_id, last_ms, events, views, kept, given, bought in state["sessions"]:
        session = SessionState(session_id, last_ms)
        session.events = events
        session.views = [table[i] for i in views]
        session.items = {table[i]: position for position, i in enumerate(kept)}
        session.given = given
        session.bought = None if bought is None else [table[i] for i in bought]
        sessions[session_id] = session
        session_table.append(session)
    for item, (_, _, _, _, index, following, partners) in zip(table, state["items"], strict=True):
        item.sessions = [session_table[i] for i in index]
        item.next = None if following is None else {table[i]: w for i, w in following}
        item.bought = None if partners is None else {table[i]: w for i, w in partners}
    origin_ms, floor, top = state["trending"]
    trending.origin_ms, trending.floor = origin_ms, floor
    trending.top = {table[i] for i in top}
    items = OrderedDict((item.id, item) for item in table[: state["live"]])
    return items, sessions


def _row(
    row: dict[ItemState, float] | None, ref: Callable[[ItemState], int]
) -> list[tuple[int, float]] | None:
    return None if row is None else [(ref(item), weight) for item, weight in row.items()]


def _log(seen: int) -> float:
    return math.log(seen) if seen > 0 else 0.0
