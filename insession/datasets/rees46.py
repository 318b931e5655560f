"""REES46 multi-category store events (Kaggle, October 2019) as storefront event contracts.

Terms: REES46's data set (collected by its Open CDP project, published on Kaggle as
"eCommerce behavior data from multi category store"), whose Kaggle page sets its terms;
`../shared/data/README.md` records the 1,000-event sample there as a public Kaggle sample
that came through a public GitHub repository. This project reads it in place, for tests and
research use only, and never copies or ships it.

No `product_update` is made from it: the export has no catalogue, only each event's price,
brand and category at that moment, which the events carry already (the product store learns
them from there); stating them as the feed would freeze the first price seen, where the
shop's prices move during the month.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from insession.datasets.csv_rows import bad_row, read_rows
from insession.schemas.events import CartAdd, Event, OrderLine, ProductView, Purchase
from insession.schemas.fields import MAX_EPOCH_MS, MIN_EPOCH_MS

COLUMNS = (
    "event_time",
    "event_type",
    "product_id",
    "category_id",
    "category_code",
    "brand",
    "price",
    "user_id",
    "user_session",
)
REQUIRED = frozenset({"event_type", "product_id", "category_id", "user_id"})
CURRENCY = "USD"  # the data set's prices are in US dollars
PREFIX = "rees46-"


def _event_time(text: str, path: Path, line: int) -> int:
    """'2019-10-01 00:00:00 UTC' as epoch milliseconds (the source is always in UTC)."""
    if not text.endswith(" UTC"):
        raise bad_row(path, line, "event_time", f"{text[:40]!r} is not 'YYYY-MM-DD HH:MM:SS UTC'")
    try:
        moment = datetime.fromisoformat(text[:-4]).replace(tzinfo=UTC)
    except ValueError:
        raise bad_row(
            path, line, "event_time", f"{text[:40]!r} is not 'YYYY-MM-DD HH:MM:SS UTC'"
        ) from None
    millis = int(moment.timestamp()) * 1000 + moment.microsecond // 1000
    if not MIN_EPOCH_MS <= millis <= MAX_EPOCH_MS:
        raise bad_row(path, line, "event_time", f"{text!r} is outside 2000..2100")
    return millis


def _price(text: str, path: Path, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise bad_row(path, line, "price", f"{text[:40]!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise bad_row(path, line, "price", f"{text[:40]!r} is not a finite price >= 0")
    return value


def read_rees46(path: Path) -> Iterator[Event]:
    """Stream a REES46 CSV export as events, in file order (the export is time-ordered).

    view -> ProductView, cart -> CartAdd, purchase -> Purchase with one line: the export logs
    one row per product bought, with no order id, so each row becomes its own order. The event
    id is "rees46-<line number>", which keeps ids stable across re-conversions.
    """
    with path.open(newline="", encoding="utf-8") as handle:
        for line, values in read_rows(handle, path, COLUMNS, delimiter=",", required=REQUIRED):
            (
                time_text,
                kind,
                product_id,
                category_id,
                category_code,
                brand,
                price_text,
                user_id,
                session,
            ) = values
            event_time = _event_time(time_text, path, line)
            price = _price(price_text, path, line)
            category = category_code or f"cat-{category_id}"
            who = {
                "event_id": f"{PREFIX}{line}",
                "event_time": event_time,
                "channel": "web",
                "customer_id": PREFIX + user_id,
                "session_id": session or None,
            }
            if kind == "view":
                yield ProductView(
                    **who,
                    product_id=product_id,
                    price=price,
                    currency=CURRENCY,
                    category=category,
                    brand=brand or None,
                )
            elif kind == "cart":
                yield CartAdd(
                    **who,
                    product_id=product_id,
                    quantity=1,
                    unit_price=price,
                    currency=CURRENCY,
                    category=category,
                )
            elif kind == "purchase":
                line_bought = OrderLine(
                    product_id=product_id, quantity=1, unit_price=price, category=category
                )
                yield Purchase(
                    **who,
                    order_id=f"{PREFIX}{session or user_id}-{line}",
                    total=price,
                    currency=CURRENCY,
                    lines=(line_bought,),
                )
            else:
                raise bad_row(
                    path, line, "event_type", f"{kind[:40]!r} is not one of view, cart, purchase"
                )
