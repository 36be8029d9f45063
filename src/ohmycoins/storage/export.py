"""`omc export`: one table's rows, streamed to CSV, JSON lines or Parquet.

Rows are read in batches (`yield_per`: a server-side cursor on PostgreSQL), so a table
larger than memory exports in constant memory. Values are written as the API writes
them: decimals as exact plain text (`0.00000001`, never an exponent or a float), lists
as JSON arrays, times as epoch milliseconds; Parquet decimal columns are strings marked
`{"decimal": "exact"}`, like the API's Parquet pages.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

import orjson
from sqlalchemy import Select

from ohmycoins.errors import ConfigError
from ohmycoins.records import RECORD_TYPES, FieldType, Record, field_types
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import select_records, time_column
from ohmycoins.storage.tables import RECORD_TABLES, decimal_text

DECIMAL_METADATA = {b"decimal": b"exact"}
"""The Arrow field metadata of a decimal column held as its exact text."""

FORMATS = ("csv", "jsonl", "parquet")
BATCH_ROWS = 10_000
TABLES: dict[str, type[Record]] = {t.TABLE: t for t in RECORD_TYPES}


@dataclass(frozen=True, slots=True)
class ExportQuery:
    """Which rows of which table: `since <= time < until` and columns equal to values."""

    table: str
    since: int | None = None
    until: int | None = None
    equal: Mapping[str, str] = field(default_factory=dict)


def export_table(db: Database, query: ExportQuery, out: IO[bytes], fmt: str) -> int:
    """Write the rows `query` selects to `out` in `fmt`; returns how many were written."""
    if fmt not in FORMATS:
        raise ConfigError("format", fmt, f"must be one of {', '.join(FORMATS)}")
    record_type = _record_type(query.table)
    fields = field_types(record_type)
    statement = _statement(query, record_type)
    batches = (_plain_rows(batch) for batch in _batches(db, statement))
    if fmt == "parquet":
        return _write_parquet(batches, fields, out)
    names = [f.name for f in fields]
    if fmt == "csv":
        out.write(_csv_lines([names]))
    count = 0
    for rows in batches:
        out.write(_csv_lines(rows) if fmt == "csv" else _json_lines(rows, names))
        count += len(rows)
    return count


def _record_type(table: str) -> type[Record]:
    if table not in TABLES:
        raise ConfigError("table", table, f"must be one of {', '.join(sorted(TABLES))}")
    return TABLES[table]


def _statement(query: ExportQuery, record_type: type[Record]) -> Select[Any]:
    table = RECORD_TABLES[record_type]
    fields = {f.name: f for f in field_types(record_type)}
    statement = select_records(record_type)
    time = time_column(table)
    if query.since is not None:
        statement = statement.where(time >= query.since)
    if query.until is not None:
        statement = statement.where(time < query.until)
    for column, value in query.equal.items():
        if column not in fields:
            raise ConfigError("where", column, f"{query.table} has no such column")
        statement = statement.where(table.c[column] == _typed(fields[column], value))
    return statement.order_by(*(table.c[name] for name in record_type.KEY))


def _batches(db: Database, statement: Select[Any]) -> Iterator[Sequence[Sequence[Any]]]:
    with db.engine.connect() as conn:
        result = conn.execution_options(yield_per=BATCH_ROWS).execute(statement)
        yield from result.partitions()


def _typed(field: FieldType, value: str) -> Any:
    """A `--where` value as its column's type (the command line gives text)."""
    try:
        if field.kind is int:
            return int(value)
        if field.kind is bool:
            return value.lower() in ("1", "true", "yes")
        if field.kind is Decimal:
            return Decimal(value)
    except (ArithmeticError, ValueError):
        kind = field.kind.__name__
        raise ConfigError("where", f"{field.name}={value}", f"must be a {kind}") from None
    return value


def _plain_rows(rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """Rows with exact decimal text and lists as JSON, ready for any of the formats."""
    return [[_plain(value) for value in row] for row in rows]


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return json.dumps(_jsonable(value))
    return _jsonable(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    return value


def _csv_lines(rows: Sequence[Sequence[Any]]) -> bytes:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    return text.getvalue().encode()


def _json_lines(rows: Sequence[Sequence[Any]], names: Sequence[str]) -> bytes:
    return b"".join(orjson.dumps(dict(zip(names, row, strict=True))) + b"\n" for row in rows)


def _write_parquet(
    batches: Iterator[list[list[Any]]], fields: Sequence[FieldType], out: IO[bytes]
) -> int:
    import pyarrow as pa  # here, not at import: it costs every CLI command 60 ms
    import pyarrow.parquet as pq

    schema = pa.schema([arrow_field(f.name, f.kind) for f in fields])
    count = 0
    with pq.ParquetWriter(out, schema) as writer:
        for rows in batches:
            columns = [list(column) for column in zip(*rows, strict=True)]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))
            count += len(rows)
    return count


def arrow_field(name: str, kind: type) -> Any:
    """The Arrow field of a column of `kind`; decimals as their exact text, marked."""
    import pyarrow as pa

    if kind is int:
        return pa.field(name, pa.int64())
    if kind is bool:
        return pa.field(name, pa.bool_())
    if kind is Decimal:
        return pa.field(name, pa.string(), metadata=DECIMAL_METADATA)
    return pa.field(name, pa.string())
