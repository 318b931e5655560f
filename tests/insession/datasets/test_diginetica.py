"""DIGINETICA converter on the real sample: views, joined purchases, time order, bad rows."""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from insession.schemas.events import Event, IdentityLink, OrderLine, ProductView, Purchase

from insession.datasets.diginetica import read_diginetica

real = pytest.mark.data  # needs ../shared/data
DATA_SET = "diginetica"


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with gzip.open(path, "rt", newline="") as handle:
        yield from csv.DictReader(handle, delimiter=";")


def _midnight(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()) * 1000


def _day(event: Event) -> date:
    return datetime.fromtimestamp(event.event_time / 1000, UTC).date()


@pytest.fixture(scope="module")
def view_sessions(folder: Path) -> set[str]:
    return {row["session_id"] for row in _rows(folder / "sample_train-item-views.csv.gz")}


def _session(event: Event) -> str:
    assert event.session_id is not None
    return event.session_id.removeprefix("dgn-")


@real
def test_counts_match_the_source(
    folder: Path, events: list[Event], view_sessions: set[str]
) -> None:
    views = sum(1 for _ in _rows(folder / "sample_train-item-views.csv.gz"))
    joined = [
        row for row in _rows(folder / "train-purchases.csv.gz") if row["sessionId"] in view_sessions
    ]
    orders = {row["ordernumber"] for row in joined}
    assert sum(isinstance(e, ProductView) for e in events) == views == 12_391
    assert sum(isinstance(e, Purchase) for e in events) == len(orders) == 156
    links = sum(isinstance(e, IdentityLink) for e in events)
    assert links == 1281, "one link where each session first shows its user"
    assert len(events) == views + len(orders) + links
    assert len({e.event_id for e in events}) == len(events)


@real
def test_events_are_ordered_by_event_time(events: list[Event]) -> None:
    times = [e.event_time for e in events]
    assert times == sorted(times)
    assert _day(events[0]) == date(2016, 1, 3)


@real
def test_purchases_join_only_to_sessions_in_the_view_sample(
    folder: Path, events: list[Event], view_sessions: set[str]
) -> None:
    purchase_rows = list(_rows(folder / "train-purchases.csv.gz"))
    expected = {row["sessionId"] for row in purchase_rows} & view_sessions
    bought = {_session(e) for e in events if isinstance(e, Purchase)}
    assert bought == expected
    assert len(bought) == 138
    assert len({row["sessionId"] for row in purchase_rows}) > 10 * len(bought)
    # and each purchase comes after the first view of its session
    first_view: dict[str, int] = {}
    for event in events:
        if isinstance(event, ProductView):
            first_view.setdefault(_session(event), event.event_time)
        elif isinstance(event, Purchase):
            assert event.event_time > first_view[_session(event)]


@real
def test_known_anonymous_view(folder: Path, events: list[Event]) -> None:
    # views line 2: 1;NA;81766;526309;2016-05-09 and product-categories: 81766;1010
    [event] = [e for e in events if e.event_id == "dgn-view-2"]
    assert event == ProductView(
        event_id="dgn-view-2",
        event_time=_midnight("2016-05-09") + 526_309,
        channel="web",
        anonymous_id="dgn-s1",
        session_id="dgn-1",
        product_id="81766",
        category="cat-1010",
    )


@real
def test_known_purchase_identifies_an_anonymous_session(events: list[Event]) -> None:
    # session 150 browsed as NA; purchases: 150;18278;17100868;2016-05-06;16421;25911
    session = [e for e in events if e.session_id == "dgn-150"]
    assert [e.type for e in session] == [
        "product_view",
        "product_view",
        "identity_link",
        "purchase",
    ]
    assert all(e.customer_id is None for e in session[:2])
    assert session[2] == IdentityLink(
        event_id="dgn-link-order-16421",
        event_time=session[3].event_time,
        channel="web",
        customer_id="dgn-u18278",
        anonymous_id="dgn-s150",
        session_id="dgn-150",
        method="checkout",
    )
    assert session[3] == Purchase(
        event_id="dgn-order-16421",
        event_time=_midnight("2016-05-06") + 17_100_868,
        channel="web",
        customer_id="dgn-u18278",
        anonymous_id="dgn-s150",
        session_id="dgn-150",
        order_id="dgn-16421",
        lines=(OrderLine(product_id="25911", category="cat-822"),),
    )


@real
def test_known_user_view_carries_the_customer(events: list[Event]) -> None:
    # views: 617;194;35789;7112;2016-01-03 (the earliest view in the sample), after the link
    # a backend sends at the login
    link, view = events[:2]
    assert view.event_id == "dgn-view-2021"
    assert view.customer_id == "dgn-u194" and view.anonymous_id == "dgn-s617"
    assert view.event_time == _midnight("2016-01-03") + 7_112
    assert isinstance(link, IdentityLink) and link.event_id == "dgn-link-view-2021"
    assert (link.customer_id, link.anonymous_id, link.event_time) == (
        "dgn-u194",
        "dgn-s617",
        view.event_time,
    )


@real
def test_every_event_lands_on_its_own_eventdate(folder: Path, events: list[Event]) -> None:
    # timeframe counts from the session start; sessions crossing midnight (629, 2205) and
    # purchases days later (session 156: bought 2016-05-27 after browsing on 2016-05-07)
    # keep their recorded dates
    by_id = {e.event_id: e for e in events}
    with gzip.open(folder / "sample_train-item-views.csv.gz", "rt", newline="") as handle:
        rows = csv.DictReader(handle, delimiter=";")
        for row in rows:
            event = by_id[f"dgn-view-{rows.line_num}"]
            assert _day(event).isoformat() == row["eventdate"]
    assert _day(by_id["dgn-order-21173"]) == date(2016, 5, 27)
    crossing = [e.event_time for e in events if e.session_id == "dgn-629"]
    assert len(crossing) == 17
    assert max(crossing) - min(crossing) < 20 * 60_000  # one 20-minute visit, not a day apart


@real
def test_order_logged_twice_is_one_purchase(events: list[Event]) -> None:
    # order 16343 is in the purchases file twice (2016-05-06 and 2016-05-07), same 3 items
    [order] = [e for e in events if isinstance(e, Purchase) and e.order_id == "dgn-16343"]
    assert [(line.product_id, line.quantity) for line in order.lines] == [
        ("35285", 1),
        ("381429", 1),
        ("376193", 1),
    ]
    assert _day(order) == date(2016, 5, 6)


def _folder(tmp_path: Path, views: str, purchases: str = "", categories: str = "") -> Path:
    files = {
        "sample_train-item-views.csv.gz": "session_id;user_id;item_id;timeframe;eventdate\n",
        "train-purchases.csv.gz": "sessionId;userId;timeframe;eventdate;ordernumber;itemId\n",
        "product-categories.csv.gz": "itemId;categoryId\n",
    }
    for (name, header), body in zip(files.items(), (views, purchases, categories), strict=True):
        with gzip.open(tmp_path / name, "wt") as handle:
            handle.write(header + body)
    return tmp_path


def test_small_folder_orders_joins_and_quantities(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path,
        views="1;NA;10;5000;2016-05-01\n2;7;11;1000;2016-05-01\n1;NA;11;2000;2016-05-01\n",
        purchases="1;NA;9000;2016-05-01;77;10\n1;NA;9000;2016-05-01;77;10\n"
        "3;NA;100;2016-05-01;78;10\n",
        categories="10;5\n",
    )
    events = list(read_diginetica(folder))
    assert [e.event_id for e in events] == [
        "dgn-link-view-3",
        "dgn-view-3",
        "dgn-view-4",
        "dgn-view-2",
        "dgn-order-77",
    ]
    assert events[1].customer_id == "dgn-u7" and events[1].category is None
    assert events[2].customer_id is None and events[3].category == "cat-5"
    assert events[4] == Purchase(
        event_id="dgn-order-77",
        event_time=_midnight("2016-05-01") + 9000,
        channel="web",
        anonymous_id="dgn-s1",
        session_id="dgn-1",
        order_id="dgn-77",
        lines=(OrderLine(product_id="10", quantity=2, category="cat-5"),),
    )


@pytest.mark.parametrize(
    ("views", "purchases", "where"),
    [
        (
            "1;NA;10;5000;2016-05-01\n1;NA;11;12x;2016-05-01\n",
            "",
            r"sample_train-item-views\.csv\.gz: line 3, column 'timeframe'",
        ),
        (
            "1;NA;10;5000;2016-05-01\n1;NA;11;6000;2016/05/01\n",
            "",
            r"sample_train-item-views\.csv\.gz: line 3, column 'eventdate'",
        ),
        (
            "1;NA;10;5000;2016-05-01\n1;NA;11;6000\n",
            "",
            r"sample_train-item-views\.csv\.gz: line 3, column 'eventdate'",
        ),
        (
            "1;NA;10;5000;2016-05-01\n",
            "1;NA;-4;2016-05-01;77;10\n",
            r"train-purchases\.csv\.gz: line 2, column 'timeframe'",
        ),
        (
            "1;NA;10;5000;2016-05-01\n",
            "1;NA;9000;2016-05-01;77;\n",
            r"train-purchases\.csv\.gz: line 2, column 'itemId'",
        ),
    ],
)
def test_malformed_row_names_file_line_and_column(
    tmp_path: Path, views: str, purchases: str, where: str
) -> None:
    folder = _folder(tmp_path, views, purchases)
    with pytest.raises(ValueError, match=where):
        list(read_diginetica(folder))
