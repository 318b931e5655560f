"""The header and row checks shared by the CSV data set converters, with their error wording."""

from __future__ import annotations

import csv
from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path


def bad_row(path: Path, line: int, column: str, detail: str) -> ValueError:
    """A row the converter cannot use: named so that the source file can be fixed."""
    return ValueError(f"{path}: line {line}, column {column!r}: {detail}")


def read_rows(
    handle: Iterable[str],
    path: Path,
    columns: Sequence[str],
    *,
    delimiter: str,
    required: Collection[str],
) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields in `columns` order) for each non-blank row after the header.

    The columns are found by name in the header, so a reordered export still reads correctly;
    `path` only names the file in errors. A row whose field count differs from the header's,
    or whose value is empty in one of the `required` columns (checked in `columns` order),
    raises `bad_row`, as does a missing header or header column.
    """
    rows = csv.reader(handle, delimiter=delimiter)
    header = next(rows, None)
    if header is None:
        raise bad_row(path, 1, columns[0], "the file is empty (no header)")
    found = {name.strip(): i for i, name in enumerate(header)}
    for name in columns:
        if name not in found:
            raise bad_row(path, 1, name, "missing from the header")
    where = [found[name] for name in columns]
    checked = [(i, name) for i, name in enumerate(columns) if name in required]
    width = len(header)
    for row in rows:
        if not row:
            continue  # a blank line carries no event
        line = rows.line_num
        if len(row) != width:
            column = header[len(row)] if len(row) < width else f"#{width + 1} (extra)"
            raise bad_row(path, line, column, f"row has {len(row)} fields, header has {width}")
        values = [row[i] for i in where]
        for i, name in checked:
            if not values[i]:
                raise bad_row(path, line, name, "is empty")
        yield line, values
