"""Readers of import files: CSV with a header row, JSON Lines, a JSON array.

Each yields ``SourceRow``s one at a time (a file is never held whole), numbered by the
line they start on; what cannot be read becomes that row's errors, so an import
reports every problem of a file at once.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from products.services import RowError, SourceRow
from products.validation import IMPORT_DEFAULTS, PRODUCT_FIELDS

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
REQUIRED = ("sku", "title", "price")
ROW = "non_field_errors"
# CSV cells of is_active: the usual spellings of a boolean (anything else is an error).
_TRUE, _FALSE = {"true", "t", "yes", "y", "1"}, {"false", "f", "no", "n", "0"}


def _error(line: int, message: str, field: str = ROW) -> SourceRow:
    return SourceRow(line=line, data={}, errors=(RowError(line, field, message),))


def read_csv(lines: Iterable[str]) -> Iterator[SourceRow]:
    """Rows of a CSV file (opened with ``newline=""``): the header names the API's fields.

    An empty cell of an optional column takes its default.
    """
    reader = csv.reader(lines)
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        return
    problems = [f"unknown column {name!r}" for name in header if name not in PRODUCT_FIELDS]
    problems += [f"missing column {name!r}" for name in REQUIRED if name not in header]
    problems += [f"column {name!r} appears twice" for name in sorted(set(header)) if header.count(name) > 1]
    if problems:
        yield SourceRow(line=1, data={}, errors=tuple(RowError(1, "header", p) for p in problems))
        return
    optional = [(index, name) for index, name in enumerate(header) if name in IMPORT_DEFAULTS]
    width, end = len(header), reader.line_num
    for record in reader:
        line, end = end + 1, reader.line_num
        if not record:
            continue  # a blank line
        if len(record) != width:
            yield _error(line, f"{len(record)} cells, the header has {width}")
            continue
        data = dict(zip(header, record, strict=True))
        for index, name in optional:
            if record[index] == "":
                del data[name]
        if "is_active" in data:
            data["is_active"] = _csv_bool(data["is_active"])
        yield SourceRow(line=line, data=data)


def _csv_bool(cell: str) -> Any:
    low = cell.strip().lower()
    return True if low in _TRUE else False if low in _FALSE else cell


def _object_row(line: int, value: Any) -> SourceRow:
    if not isinstance(value, dict):
        return _error(line, f"expected a JSON object, got {type(value).__name__}")
    return SourceRow(line=line, data=value)


def _loads(text: str | bytes) -> Any:
    return json.loads(text, parse_float=Decimal)  # prices keep their digits


def read_json_lines(lines: Iterable[str | bytes]) -> Iterator[SourceRow]:
    """Rows of JSON Lines (NDJSON): one object per line; blank lines are skipped."""
    for line, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            value = _loads(text)
        except ValueError as exc:
            yield _error(line, f"not JSON: {exc}")
            continue
        yield _object_row(line, value)


def read_json_array(body: bytes) -> Iterator[SourceRow]:
    """Rows of a JSON array, numbered by their position from 1."""
    try:
        value = _loads(body)
    except ValueError as exc:
        yield _error(1, f"not JSON: {exc}")
        return
    if not isinstance(value, list):
        yield _error(1, "expected a JSON array of products")
        return
    for position, item in enumerate(value, start=1):
        yield _object_row(position, item)
