"""YOOCHOOSE converter on the real 100k sample, the registry, and malformed rows."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest
from insession.schemas.events import Event, ProductView

from insession.datasets import CONVERTERS, default_source
from insession.datasets.yoochoose import read_yoochoose

real = pytest.mark.data  # needs ../shared/data
DATA_SET = "yoochoose"
PARTS = ("train_tr", "train_valid")


def _part(event: Event) -> str:
    return event.event_id.split("-")[1]


@real
def test_counts_match_each_part(folder: Path, events: list[Event]) -> None:
    for part, expected in zip(PARTS, (53_254, 16_539), strict=True):
        with gzip.open(folder / f"{part}.tsv.gz", "rt", newline="") as handle:
            rows = sum(1 for _ in csv.DictReader(handle, delimiter="\t"))
        assert rows == expected
        assert sum(_part(e) == part for e in events) == rows
    assert all(isinstance(e, ProductView) for e in events)
    assert len({e.event_id for e in events}) == len(events)


@real
def test_training_part_first_then_validation_each_ordered_by_time(events: list[Event]) -> None:
    parts = [_part(e) for e in events]
    split = parts.index("train_valid")
    assert set(parts[:split]) == {"train_tr"} and set(parts[split:]) == {"train_valid"}
    for chunk in (events[:split], events[split:]):
        times = [e.event_time for e in chunk]
        assert times == sorted(times)


@real
def test_known_click(events: list[Event]) -> None:
    # train_tr line 2: 3<TAB>214716935<TAB>1396437466.94 (two decimals: 940 ms)
    [event] = [e for e in events if e.event_id == "yc-train_tr-2"]
    assert event == ProductView(
        event_id="yc-train_tr-2",
        event_time=1_396_437_466_940,
        channel="web",
        anonymous_id="yc-s3",
        session_id="yc-3",
        product_id="214716935",
    )
    assert events[0].event_time == 1_396_314_141_719  # earliest click, 2014-04-01 01:02:21.719


@real
def test_registry_and_default_sources(shared_data: Path) -> None:
    assert set(CONVERTERS) == {"rees46", "diginetica", "yoochoose"}
    for name in CONVERTERS:
        assert default_source(name, shared_data).exists()
    with pytest.raises(ValueError, match="unknown data set 'nope'"):
        default_source("nope", shared_data)


def _folder(tmp_path: Path, train: str, valid: str = "") -> Path:
    for part, body in zip(PARTS, (train, valid), strict=True):
        with gzip.open(tmp_path / f"{part}.tsv.gz", "wt") as handle:
            handle.write("SessionId\tItemId\tTime\n" + body)
    return tmp_path


def test_small_folder_sorts_each_part_by_time(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "1\t10\t1396000002.5\n2\t11\t1396000001\n", "3\t12\t1395000000\n")
    assert [(e.event_id, e.event_time) for e in read_yoochoose(folder)] == [
        ("yc-train_tr-3", 1_396_000_001_000),
        ("yc-train_tr-2", 1_396_000_002_500),
        ("yc-train_valid-2", 1_395_000_000_000),
    ]


@pytest.mark.parametrize(
    ("row", "column"),
    [
        ("1\t10\tabc\n", "Time"),
        ("1\t10\tnan\n", "Time"),
        ("1\t10\t1396000001000\n", "Time"),  # milliseconds, not seconds
        ("1\t10\n", "Time"),
        ("1\t\t1396000001\n", "ItemId"),
        ("1\t10\t1396000001\t4\n", "#4 (extra)"),
    ],
)
def test_malformed_row_names_file_line_and_column(tmp_path: Path, row: str, column: str) -> None:
    folder = _folder(tmp_path, "1\t10\t1396000001\n" + row)
    with pytest.raises(ValueError) as bad:
        list(read_yoochoose(folder))
    assert str(bad.value).startswith(f"{folder / 'train_tr.tsv.gz'}: line 3, column '{column}'")
