"""REES46 converter on the real October 2019 sample, and on malformed rows."""

from __future__ import annotations

import csv
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from insession.schemas.events import CartAdd, Event, OrderLine, ProductView, Purchase

from insession.datasets import CONVERTERS
from insession.datasets.rees46 import read_rees46

real = pytest.mark.data  # needs ../shared/data
DATA_SET = "rees46"

HEADER = (
    "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n"
)
GOOD = "2019-10-01 00:00:00 UTC,view,1,2,,acme,1.50,7,s-1\n"


@pytest.fixture(scope="module")
def by_line(events: list[Event]) -> dict[int, Event]:
    return {int(e.event_id.removeprefix("rees46-")): e for e in events}


@real
def test_counts_match_the_source_by_type(source: Path, events: list[Event]) -> None:
    with source.open(newline="") as handle:
        kinds = Counter(row["event_type"] for row in csv.DictReader(handle))
    assert sum(kinds.values()) == len(events) == 1000
    produced = Counter(e.type for e in events)
    assert produced == {
        "product_view": kinds["view"],
        "cart_add": kinds["cart"],
        "purchase": kinds["purchase"],
    }


@real
def test_ids_are_unique_and_events_keep_the_file_time_order(events: list[Event]) -> None:
    assert len({e.event_id for e in events}) == len(events)
    times = [e.event_time for e in events]
    assert times == sorted(times)


@real
def test_view_without_category_code_uses_the_category_id(by_line: dict[int, Event]) -> None:
    # line 2: 2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,...
    assert by_line[2] == ProductView(
        event_id="rees46-2",
        event_time=int(datetime(2019, 10, 1, tzinfo=UTC).timestamp() * 1000),
        channel="web",
        customer_id="rees46-541312140",
        session_id="72d76fde-8bb3-4e00-8c23-a032dfed738c",
        product_id="44600062",
        price=35.79,
        currency="USD",
        category="cat-2103807459595387724",
        brand="shiseido",
    )


@real
def test_cart_row_becomes_a_cart_add(by_line: dict[int, Event]) -> None:
    # line 333: 2019-10-01 00:05:14 UTC,cart,5100816,2053013553375346967,,xiaomi,29.51,550121407
    event = by_line[333]
    assert isinstance(event, CartAdd)
    assert (event.product_id, event.quantity, event.unit_price, event.category) == (
        "5100816",
        1,
        29.51,
        "cat-2053013553375346967",
    )
    assert event.customer_id == "rees46-550121407"
    assert event.event_time == int(datetime(2019, 10, 1, 0, 5, 14, tzinfo=UTC).timestamp()) * 1000


@real
def test_purchase_row_becomes_a_one_line_order(by_line: dict[int, Event]) -> None:
    # line 164: ...,purchase,1004856,2053013555631882655,electronics.smartphone,samsung,130.76,
    #           543272936,8187d148-3c41-46d4-b0c0-9c08cd9dc564
    event = by_line[164]
    assert isinstance(event, Purchase)
    assert event.lines == (
        OrderLine(
            product_id="1004856", quantity=1, unit_price=130.76, category="electronics.smartphone"
        ),
    )
    assert event.total == 130.76 and event.currency == "USD"
    assert event.session_id == "8187d148-3c41-46d4-b0c0-9c08cd9dc564"
    assert event.order_id == "rees46-8187d148-3c41-46d4-b0c0-9c08cd9dc564-164"


@real
def test_conversion_is_deterministic(source: Path, events: list[Event]) -> None:
    assert list(CONVERTERS["rees46"](source)) == events


def _write(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "events.csv"
    path.write_text(header + "".join(rows))
    return path


@pytest.mark.parametrize(
    ("row", "column"),
    [
        ("2019-10-01 00:00:01 UTC,view,1,2,,acme,1,5O,7,s-1\n", "#10 (extra)"),
        ("2019-10-01 00:00:01 UTC,view,1,2,,acme,abc,7,s-1\n", "price"),
        ("2019-10-01 00:00:01 UTC,view,1,2,,acme,-3,7,s-1\n", "price"),
        ("2019-10-01 00:00:01 UTC,view,1,2,,acme,1.5,7\n", "user_session"),
        ("2019-10-01 00:00:01,view,1,2,,acme,1.5,7,s-1\n", "event_time"),
        ("2019-13-01 00:00:01 UTC,view,1,2,,acme,1.5,7,s-1\n", "event_time"),
        ("2019-10-01 00:00:01 UTC,remove_from_cart,1,2,,acme,1.5,7,s-1\n", "event_type"),
        ("2019-10-01 00:00:01 UTC,view,,2,,acme,1.5,7,s-1\n", "product_id"),
    ],
)
def test_malformed_row_names_file_line_and_column(tmp_path: Path, row: str, column: str) -> None:
    path = _write(tmp_path, GOOD, row)
    events = read_rees46(path)
    assert next(events).event_id == "rees46-2"  # streamed: the good row comes out first
    where = rf"events\.csv: line 3, column '{re.escape(column)}'"
    with pytest.raises(ValueError, match=where) as bad:
        next(events)
    assert str(path) in str(bad.value)


def test_missing_header_column_is_reported(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD, header=HEADER.replace(",price", ""))
    with pytest.raises(ValueError, match=r"line 1, column 'price': missing from the header"):
        list(read_rees46(path))
