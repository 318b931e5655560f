"""DIGINETICA (CIKM Cup 2016) item views and purchases as storefront event contracts.

Terms: DIGINETICA's CIKM Cup 2016 data set, for research use (as `../shared/data/README.md`
records); the files there come from the CRIPAC-DIG/SR-GNN and RecoHut-Datasets repositories
on GitHub. This project reads them in place and never copies or ships them.

No `product_update` is made from it: its only product attribute is the category map
(`product-categories.csv.gz`), and every view and order line already carries its product's
category from it, so a replay's product store learns the same from the events (the data has
no names, prices or stock to add).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from insession.datasets.csv_rows import bad_row, read_rows
from insession.schemas.events import Event, IdentityLink, OrderLine, ProductView, Purchase
from insession.schemas.fields import MAX_EPOCH_MS, MIN_EPOCH_MS

VIEWS = "sample_train-item-views.csv.gz"
PURCHASES = "train-purchases.csv.gz"
CATEGORIES = "product-categories.csv.gz"
VIEW_COLUMNS = ("session_id", "user_id", "item_id", "timeframe", "eventdate")
PURCHASE_COLUMNS = ("sessionId", "userId", "timeframe", "eventdate", "ordernumber", "itemId")
CATEGORY_COLUMNS = ("itemId", "categoryId")
MISSING_USER = "NA"


def _rows(path: Path, columns: Sequence[str]) -> Iterator[tuple[int, list[str]]]:
    """(line number, non-empty fields in `columns` order) for each row of a gzipped ';' file."""
    with gzip.open(path, "rt", newline="", encoding="utf-8") as handle:
        yield from read_rows(handle, path, columns, delimiter=";", required=columns)


def _number(text: str, path: Path, line: int, column: str) -> int:
    """A non-negative integer field (a timeframe, or an id used as a join key)."""
    if not (text.isascii() and text.isdigit()):
        raise bad_row(path, line, column, f"{text[:40]!r} is not a non-negative integer")
    return int(text)


class _Days:
    """Midnight UTC of 'YYYY-MM-DD' in epoch ms, cached: the data spans a few hundred days."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def __call__(self, text: str, path: Path, line: int, column: str) -> int:
        millis = self._seen.get(text)
        if millis is None:
            try:
                day = date.fromisoformat(text)
            except ValueError:
                raise bad_row(path, line, column, f"{text[:40]!r} is not YYYY-MM-DD") from None
            millis = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1000
            if not MIN_EPOCH_MS <= millis <= MAX_EPOCH_MS:
                raise bad_row(path, line, column, f"{text!r} is outside 2000..2100")
            self._seen[text] = millis
        return millis


@dataclass(slots=True)
class _Session:
    """What fixes a session's start: `timeframe` counts from it, `eventdate` is each event's day.

    start = midnight of the first day seen, moved later just enough that every event
    (start + timeframe) falls on its own eventdate: a session that crosses midnight has views
    on two dates, and a purchase days later carries its own date.
    """

    first_day: int
    latest_bound: int  # max over events of (eventdate - timeframe): the start is not earlier

    def see(self, day: int, timeframe: int) -> None:
        self.first_day = min(self.first_day, day)
        self.latest_bound = max(self.latest_bound, day - timeframe)

    @property
    def start(self) -> int:
        return max(self.first_day, self.latest_bound)


@dataclass(slots=True)
class _Order:
    """The rows of one order number; some orders are logged again later with the same items."""

    line: int
    session: str
    user: str
    timeframe: int
    units: dict[tuple[int, str], int] = field(default_factory=dict)  # (timeframe, item) -> rows

    def lines(self, category: dict[str, str]) -> tuple[OrderLine, ...]:
        """One line per item; quantity = its rows within one logging, not summed over re-logs."""
        quantity: dict[str, int] = {}
        for (_, item), count in self.units.items():
            quantity[item] = max(quantity.get(item, 0), count)
        return tuple(
            OrderLine(product_id=item, quantity=units, category=category.get(item))
            for item, units in quantity.items()
        )


def read_diginetica(folder: Path) -> Iterator[Event]:
    """Views of the sample sessions plus the purchases of those sessions, ordered by event_time.

    Views are anonymous ("dgn-s<session>"); a known user adds "dgn-u<user>". Where a session
    first shows its user, an IdentityLink comes first ("dgn-link-view-<line>" or
    "dgn-link-order-<number>", method login or checkout), as a shop's backend sends one at a
    login: only identity links link a device to a customer. Each order number becomes one
    Purchase at its earliest logging, without prices (the data has none). Ordering needs the
    sample's rows in memory (12k); categories are kept only for items that occur.
    """
    days = _Days()
    views_path = folder / VIEWS
    views: list[tuple[int, str, str, str, int]] = []  # line, session, user, item, timeframe
    sessions: dict[str, _Session] = {}
    for line, (session, user, item, frame_text, day_text) in _rows(views_path, VIEW_COLUMNS):
        frame = _number(frame_text, views_path, line, "timeframe")
        day = days(day_text, views_path, line, "eventdate")
        views.append((line, session, user, item, frame))
        known = sessions.get(session)
        if known is None:
            sessions[session] = _Session(day, day - frame)
        else:
            known.see(day, frame)

    purchases_path = folder / PURCHASES
    orders: dict[str, _Order] = {}
    for line, (session, user, frame_text, day_text, number, item) in _rows(
        purchases_path, PURCHASE_COLUMNS
    ):
        frame = _number(frame_text, purchases_path, line, "timeframe")
        day = days(day_text, purchases_path, line, "eventdate")
        known = sessions.get(session)
        if known is None:
            continue  # the session is not in the view sample: nothing to join to
        known.see(day, frame)
        order = orders.get(number)
        if order is None:
            order = orders[number] = _Order(line, session, user, frame)
        elif order.session != session:
            raise bad_row(
                purchases_path,
                line,
                "sessionId",
                f"order {number} already belongs to session {order.session}",
            )
        order.timeframe = min(order.timeframe, frame)
        if order.user == MISSING_USER:
            order.user = user
        order.units[frame, item] = order.units.get((frame, item), 0) + 1

    wanted = {item for *_, item, _ in views}
    for order in orders.values():
        wanted.update(item for _, item in order.units)
    category: dict[str, str] = {}
    categories_path = folder / CATEGORIES
    for line, (item, category_id) in _rows(categories_path, CATEGORY_COLUMNS):
        _number(category_id, categories_path, line, "categoryId")
        if item in wanted:
            category[item] = f"cat-{category_id}"

    # (event_time, views before purchases at the same ms, source line, view index or order)
    timeline: list[tuple[int, int, int, int | str]] = [
        (sessions[session].start + frame, 0, line, index)
        for index, (line, session, _, _, frame) in enumerate(views)
    ]
    timeline.extend(
        (sessions[order.session].start + order.timeframe, 1, order.line, number)
        for number, order in orders.items()
    )
    timeline.sort()
    linked: dict[str, str] = {}  # session -> the user its device is linked to
    for event_time, _, line, key in timeline:
        if isinstance(key, int):
            _, session, user, _, _ = views[key]
            trigger, method = f"view-{line}", "login"
        else:
            session, user = orders[key].session, orders[key].user
            trigger, method = f"order-{key}", "checkout"
        if user != MISSING_USER and linked.get(session) != user:
            linked[session] = user
            yield IdentityLink(
                event_id=f"dgn-link-{trigger}",
                event_time=event_time,
                channel="web",
                customer_id=f"dgn-u{user}",
                anonymous_id=f"dgn-s{session}",
                session_id=f"dgn-{session}",
                method=method,
            )
        if isinstance(key, int):
            _, session, user, item, _ = views[key]
            yield ProductView(
                event_id=f"dgn-view-{line}",
                event_time=event_time,
                channel="web",
                customer_id=None if user == MISSING_USER else f"dgn-u{user}",
                anonymous_id=f"dgn-s{session}",
                session_id=f"dgn-{session}",
                product_id=item,
                category=category.get(item),
            )
        else:
            order = orders[key]
            yield Purchase(
                event_id=f"dgn-order-{key}",
                event_time=event_time,
                channel="web",
                customer_id=None if order.user == MISSING_USER else f"dgn-u{order.user}",
                anonymous_id=f"dgn-s{order.session}",
                session_id=f"dgn-{order.session}",
                order_id=f"dgn-{key}",
                lines=order.lines(category),
            )
