"""`omc export`: one table's rows, streamed to CSV, JSON lines or Parquet.

Rows are read in batches (`yield_per`: a server-side cursor on PostgreSQL), so a table
larger than memory exports in constant memory. Values are written as the API writes
them: decimals as exact plain text (`0.00000001`, never an exponent or a float), lists
as JSON arrays, times as epoch milliseconds; Parquet decimal columns are strings marked
`{"decimal": "exact"}`, like the API's Parquet pages.

`export_partitioned` writes the daily archives instead: one compressed file per UTC
day (and per symbol), in Hive-style folders any Parquet reader (pyarrow, DuckDB,
Spark) takes as partition columns: `candles/day=2026-12-07/symbol=BTC%2FUSDT/
part.parquet` (zstd inside), or `part.csv.gz` / `part.jsonl.gz`. Rows are read
ordered by symbol and time, so each partition arrives whole and only one file is
open at a time: constant memory, however many days.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import orjson
from sqlalchemy import Select

from ohmycoins.errors import ConfigError
from ohmycoins.records import FieldType, Record, field_types
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import TIME_COLUMN, TIME_FALLBACK, select_records, time_column
from ohmycoins.storage.tables import RECORD_TABLES, TABLE_RECORD_TYPES, decimal_text

DECIMAL_METADATA = {b"decimal": b"exact"}
"""The Arrow field metadata of a decimal column held as its exact text."""

FORMATS = ("csv", "jsonl", "parquet")
PARTITIONS = ("day", "symbol")
"""What `--partition-by` may name: the UTC day of a row's time, and its symbol."""
_SUFFIXES = {"csv": "part.csv.gz", "jsonl": "part.jsonl.gz", "parquet": "part.parquet"}
BATCH_ROWS = 10_000


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
    if table not in TABLE_RECORD_TYPES:
        choices = ", ".join(sorted(TABLE_RECORD_TYPES))
        raise ConfigError("table", table, f"must be one of {choices}")
    return TABLE_RECORD_TYPES[table]


@dataclass(frozen=True, slots=True)
class Partition:
    """One file of a partitioned export."""

    path: Path
    rows: int


def export_partitioned(
    db: Database, query: ExportQuery, directory: Path, fmt: str, by: Sequence[str]
) -> list[Partition]:
    """Write the rows `query` selects under `directory/<table>/`, one compressed file per
    partition of `by` (`day`, `symbol`); returns the files written, in order."""
    if fmt not in FORMATS:
        raise ConfigError("format", fmt, f"must be one of {', '.join(FORMATS)}")
    record_type = _record_type(query.table)
    fields = field_types(record_type)
    names = [f.name for f in fields]
    unknown = [part for part in by if part not in PARTITIONS]
    if unknown or not by:
        raise ConfigError("partition-by", ",".join(by), f"choose from {', '.join(PARTITIONS)}")
    if "symbol" in by and "symbol" not in names:
        raise ConfigError("partition-by", "symbol", f"{query.table} has no symbol column")
    first = ("symbol",) if "symbol" in by else ()
    statement = _statement(query, record_type, partitions=first)
    rows = (row for batch in _batches(db, statement) for row in batch)
    folder_of = _folder_of(query.table, names, by)
    written: list[Partition] = []
    current: tuple[Path, _Archive] | None = None
    for row in rows:
        folder = directory / query.table / folder_of(row)
        if current is None or current[0] != folder:
            if current is not None:
                written.append(current[1].close())
            current = (folder, _Archive(folder / _SUFFIXES[fmt], fmt, fields))
        current[1].add(row)
    if current is not None:
        written.append(current[1].close())
    return written


def _folder_of(table: str, names: list[str], by: Sequence[str]) -> Any:
    """The partition folder of a row: `day=YYYY-MM-DD/symbol=<quoted>`, in `by`'s order."""
    at = names.index(TIME_COLUMN.get(table, "ts"))
    fallback = TIME_FALLBACK.get(table)
    also = names.index(fallback) if fallback else at
    symbol = names.index("symbol") if "symbol" in names else -1

    def folder(row: Sequence[Any]) -> str:
        parts = []
        for part in by:
            if part == "day":
                ts = row[at] if row[at] is not None else row[also]
                parts.append(f"day={time.strftime('%Y-%m-%d', time.gmtime(ts / 1000))}")
            else:
                parts.append(f"symbol={quote(str(row[symbol]), safe='')}")
        return "/".join(parts)

    return folder


class _Archive:
    """One partition's file, written row by row in batches, compressed."""

    def __init__(self, path: Path, fmt: str, fields: Sequence[FieldType]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            raise ConfigError("output", str(path), "exists already: export into a new directory")
        self.path, self.fmt, self.fields = path, fmt, fields
        self.names = [f.name for f in fields]
        self.pending: list[Sequence[Any]] = []
        self.rows = 0
        self.out: Any = None

    def add(self, row: Sequence[Any]) -> None:
        self.pending.append(row)
        if len(self.pending) >= BATCH_ROWS:
            self._flush()

    def close(self) -> Partition:
        self._flush()
        if self.out is not None:
            self.out.close()
        return Partition(self.path, self.rows)

    def _flush(self) -> None:
        if not self.pending:
            return
        rows = _plain_rows(self.pending)
        self.pending = []
        self.rows += len(rows)
        if self.fmt == "parquet":
            self._write_parquet(rows)
            return
        if self.out is None:
            self.out = gzip.open(self.path, "wb")  # noqa: SIM115 (open across batches)
            if self.fmt == "csv":
                self.out.write(_csv_lines([self.names]))
        self.out.write(_csv_lines(rows) if self.fmt == "csv" else _json_lines(rows, self.names))

    def _write_parquet(self, rows: list[list[Any]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.schema([arrow_field(f.name, f.kind) for f in self.fields])
        if self.out is None:
            self.out = pq.ParquetWriter(self.path, schema, compression="zstd")
        columns = [list(column) for column in zip(*rows, strict=True)]
        self.out.write_table(pa.Table.from_arrays(columns, schema=schema))


def _statement(
    query: ExportQuery, record_type: type[Record], partitions: Sequence[str] | None = None
) -> Select[Any]:
    """The rows of `query` in key order; for a partitioned export (`partitions`: the
    columns partitioned by, besides the day), by those columns, then time."""
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
    if partitions is not None:
        keys = [table.c[name] for name in record_type.KEY]
        return statement.order_by(*(table.c[name] for name in partitions), time, *keys)
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
