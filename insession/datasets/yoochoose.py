"""YOOCHOOSE (RecSys Challenge 2015) clicks, session-rec 100k sample, as product views.

Terms: YOOCHOOSE's RecSys Challenge 2015 data set, for research use (as
`../shared/data/README.md` records); the sample there is the one the rn5l/session-rec
framework prepares. This project reads it in place and never copies or ships it. The sample
has no product attributes (ids only), so no `product_update` is made from it.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

from insession.datasets.csv_rows import bad_row, read_rows
from insession.schemas.events import Event, ProductView
from insession.schemas.fields import MAX_EPOCH_MS, MIN_EPOCH_MS

PARTS = ("train_tr", "train_valid")
COLUMNS = ("SessionId", "ItemId", "Time")


def _millis(text: str, path: Path, line: int) -> int:
    """Unix seconds with a fraction ('1396437466.94') as epoch milliseconds."""
    try:
        seconds = float(text)
    except ValueError:
        raise bad_row(path, line, "Time", f"{text[:40]!r} is not a number") from None
    millis = round(seconds * 1000) if math.isfinite(seconds) else -1
    if not MIN_EPOCH_MS <= millis <= MAX_EPOCH_MS:
        raise bad_row(path, line, "Time", f"{text[:40]!r} is not unix seconds in 2000..2100")
    return millis


def _clicks(path: Path, columns: Sequence[str] = COLUMNS) -> list[tuple[int, int, str, str]]:
    """(event_time, line, session, item) of one part, sorted by time then line.

    The files are grouped by session, not by time, so a part is sorted in memory: the tuples
    are small (the 100k sample is ~70k rows).
    """
    clicks: list[tuple[int, int, str, str]] = []
    with gzip.open(path, "rt", newline="", encoding="utf-8") as handle:
        for line, (session, item, time_text) in read_rows(
            handle, path, columns, delimiter="\t", required=columns[:2]
        ):
            clicks.append((_millis(time_text, path, line), line, session, item))
    clicks.sort()
    return clicks


def read_yoochoose(folder: Path, parts: Sequence[str] = PARTS) -> Iterator[Event]:
    """Anonymous product views of each part in turn (train_tr, then train_valid), each by time.

    The parts are kept apart, training before validation, as the session-rec split intends:
    the split is by session, so the validation part starts a few minutes before the training
    part ends. Event ids are "yc-<part>-<line>".
    """
    for part in parts:
        path = folder / f"{part}.tsv.gz"
        for event_time, line, session, item in _clicks(path):
            yield ProductView(
                event_id=f"yc-{part}-{line}",
                event_time=event_time,
                channel="web",
                anonymous_id=f"yc-s{session}",
                session_id=f"yc-{session}",
                product_id=item,
            )
