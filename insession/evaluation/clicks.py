"""Session clicks for next-item evaluation: read from session-rec files or our recordings.

session-rec's format is tab separated with a header, `SessionId ItemId Time` (unix seconds,
columns found by name); a recording (`insession convert`, `insession record`) gives its
product views, cart additions and purchases, each in the session that names it (or, without
a session id, the person's). Which one a file is comes from its first character.
"""

from __future__ import annotations

import gzip
import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from insession.connectors.recording import read_messages
from insession.datasets.csv_rows import bad_row, read_rows
from insession.models.items import Kind
from insession.schemas.codec import decode
from insession.schemas.events import CartAdd, Event, ProductView, Purchase

COLUMNS = ("SessionId", "ItemId", "Time")
DAY_MS = 86_400_000


class Click(NamedTuple):
    """One event of a session: `kind` is a view (a click), a cart addition or a purchase."""

    session: Hashable
    item: Hashable
    time_ms: int
    kind: Kind = "view"


def read_clicks(path: Path) -> list[Click]:
    """Every click of one file in file order: session-rec TSV, or a recording (JSON lines)."""
    with path.open("rb") as raw:
        head = raw.read(2)
    if head == b"\x1f\x8b":
        with gzip.open(path, "rb") as unzipped:
            head = unzipped.read(1)
    if head[:1] == b"{":
        return list(_recorded_clicks(path))
    return list(_tsv_clicks(path))


def _id(text: str) -> Hashable:
    """session-rec's ids are integers; anything else is kept as text."""
    return int(text) if text.isascii() and text.isdigit() else text


def _tsv_clicks(path: Path) -> Iterator[Click]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="", encoding="utf-8") as handle:
        for line, (session, item, seconds) in read_rows(
            handle, path, COLUMNS, delimiter="\t", required=COLUMNS
        ):
            try:
                time = float(seconds)
            except ValueError:
                raise bad_row(path, line, "Time", f"{seconds[:40]!r} is not a number") from None
            if not math.isfinite(time):
                raise bad_row(path, line, "Time", f"{seconds[:40]!r} is not unix seconds")
            yield Click(_id(session), _id(item), round(time * 1000))


def _recorded_clicks(path: Path) -> Iterator[Click]:
    for message in read_messages(path):
        event = decode(message.value) if message.value is not None else None
        if not isinstance(event, ProductView | CartAdd | Purchase):
            continue  # other events, and messages that are not events, hold no clicks
        session = _session_of(event)
        if isinstance(event, ProductView):
            yield Click(session, event.product_id, event.event_time)
        elif isinstance(event, CartAdd):
            yield Click(session, event.product_id, event.event_time, "cart")
        else:
            for line in event.lines:
                yield Click(session, line.product_id, event.event_time, "purchase")


def _session_of(event: Event) -> Hashable:
    return event.session_id or event.customer_id or event.anonymous_id


def in_time_order(clicks: Iterable[Click]) -> list[Click]:
    """The clicks by time; clicks at the same time keep their file order."""
    return sorted(clicks, key=_time)


def sessions_of(clicks: Iterable[Click]) -> dict[Hashable, list[Click]]:
    """Each session's clicks in time order (ties in file order), sessions by first click."""
    grouped: dict[Hashable, list[Click]] = defaultdict(list)
    for click in in_time_order(clicks):
        grouped[click.session].append(click)
    return dict(grouped)


def split_last_days(clicks: Iterable[Click], days: float) -> tuple[list[Click], list[Click]]:
    """session-rec's time split: sessions whose last click falls in the last `days` days of
    the data are the test, the others the training (a session is never cut in two)."""
    sessions = sessions_of(clicks)
    if not sessions:
        return [], []
    end = max(s[-1].time_ms for s in sessions.values())
    start = end - round(days * DAY_MS)
    train: list[Click] = []
    test: list[Click] = []
    for session in sessions.values():
        (test if session[-1].time_ms >= start else train).extend(session)
    return train, test


def scored_sessions(test: Iterable[Click], known: set[Hashable]) -> dict[Hashable, list[Click]]:
    """The test sessions as session-rec scores them: views only, views of items unknown to
    the training dropped first, then sessions left with fewer than two views."""
    sessions = sessions_of(c for c in test if c.kind == "view" and c.item in known)
    return {session: views for session, views in sessions.items() if len(views) >= 2}


def _time(click: Click) -> int:
    return click.time_ms
