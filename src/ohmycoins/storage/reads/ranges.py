"""Candle and trade ranges as the range endpoints serve them: no record built per row.

One range query (same filter, keyset, order and limit) in two forms:

- rows (`fetch_rows` of a `form="rows"` query): the driver's tuples, decimals as exact
  plain-notation text; for CSV and Parquet, and for anyone who wants values;
- JSON (`fetch_json` of a `form="json"` query): each row's JSON object written by the
  database, joined into the array the API sends, so Python handles no value of a row.
  SQLite writes each object with `json_object` and joins them too (`group_concat`):
  one string per page, 1,000 candles in 0.9 ms where fetching their columns takes
  1.3. PostgreSQL returns one object per row (its `string_agg` saved nothing), joining
  each object's pieces with `||`; the series' own columns (exchange, symbol,
  timeframe: equal to the filter on every row) arrive as bound JSON text written once
  in Python. That costs PostgreSQL a tenth more than the bare columns, where `to_json`
  on them cost it twice as much and `json_build_object` 2.7 times.

Both fetch one row more than asked to know whether a next page exists, and both spell
decimals as `format(Decimal, "f")` does: PostgreSQL's `NUMERIC::text` never uses an
exponent, and SQLite holds that text already (`storage.tables.decimal_text`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from operator import itemgetter
from typing import Any, Literal

import orjson
from sqlalchemy import (
    Integer,
    Select,
    bindparam,
    select,
)
from sqlalchemy.exc import DBAPIError

from ohmycoins.records import Candle, Record, Trade, field_names, field_types
from ohmycoins.storage.database import Database
from ohmycoins.storage.reads.market import Order, keyset_range
from ohmycoins.storage.tables import RECORD_TABLES

Form = Literal["rows", "json"]

OBJECT = "object"
"""The JSON form's first column on PostgreSQL; the row's key follows it."""
PAGE, COUNT = "page", "count"
"""The JSON form's one row on SQLite: the objects joined by commas, and how many."""


@dataclass(frozen=True, slots=True)
class RawQuery:
    """A range read as the driver runs it: the SQL in the driver's parameter style, its
    arguments, and the meaning of the row it returns (one row more than `limit`)."""

    sql: str
    args: Sequence[Any] | Mapping[str, Any]
    columns: tuple[str, ...]
    """The result's columns: the record's fields (rows); for the JSON form (object, *key)
    on PostgreSQL, (page, count) on SQLite."""
    limit: int
    key: tuple[str, ...]
    """The columns a page's cursor holds: its last row's keyset key."""
    fields: tuple[str, ...]
    """The record's fields, in the order of the row form and of each JSON object."""

    @property
    def joined(self) -> bool:
        """One row, (page, count): the JSON form on SQLite."""
        return self.columns == (PAGE, COUNT)


@dataclass(frozen=True, slots=True)
class RowPage:
    """A page as plain tuples in `columns` order, decimals as exact plain-notation text
    (`"0.00000001"`, as `format(Decimal, "f")` writes them), None for NULL."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    last: tuple[Any, ...] | None
    """The key of the last row, as `JsonPage.last`."""
    more: bool


@dataclass(frozen=True, slots=True)
class JsonPage:
    """A page as the UTF-8 JSON array of its rows' objects (the record's fields in order,
    decimals as exact strings, null for NULL); `last` is the key of its last row."""

    data: bytes
    last: tuple[Any, ...] | None
    more: bool


@dataclass(frozen=True, slots=True)
class _Statement:
    sql: str
    defaults: dict[str, Any]
    positions: tuple[str, ...] | None
    """Parameter names in order for a positional driver (sqlite3); None for named."""


_STATEMENTS: dict[tuple[Any, ...], _Statement] = {}


# --- the two forms of a row -------------------------------------------------------------


def _text_columns(db: Database, record_type: type[Record]) -> list[Any]:
    """The record's columns with decimals as their text: NUMERIC cast to text on
    PostgreSQL (never in exponent notation), the stored text as is on SQLite."""
    table = RECORD_TABLES[record_type]
    columns: list[Any] = []
    for field in field_types(record_type):
        column: Any = table.c[field.name]
        if field.kind is Decimal:
            column = db.backend.decimal_text(column).label(field.name)
        columns.append(column)
    return columns


def _json_columns(
    db: Database, record_type: type[Record], key: Sequence[str], series: Sequence[str]
) -> list[Any]:
    """The row's JSON object, and on PostgreSQL its key (SQLite joins the objects in
    the database, and the page's last key is read from its last object)."""
    table = RECORD_TABLES[record_type]
    fields = field_types(record_type)
    for field in fields:
        if field.kind not in (str, int, Decimal):
            raise TypeError(f"{record_type.__name__}.{field.name}: no JSON form for {field.kind}")
    obj, *keys = db.backend.json_row(table, fields, key, series)
    return [obj.label(OBJECT), *keys]


def _series_json(values: Mapping[str, Any], series: Sequence[str]) -> dict[str, str]:
    """The bound JSON text of each series column: the filter's value, which every row of
    the range holds (equality on text compares exact bytes on both backends)."""
    return {f"json_{name}": orjson.dumps(values[name]).decode() for name in series}


# --- the queries --------------------------------------------------------------------------


def _statement(
    db: Database, shape: tuple[Any, ...], build: Callable[[], Select[Any]]
) -> _Statement:
    """The compiled SQL of one query shape on this backend, compiled once."""
    key = (db.dialect, *shape)
    if key not in _STATEMENTS:
        compiled = build().compile(dialect=db.engine.dialect)
        positions = tuple(compiled.positiontup) if compiled.positiontup else None
        _STATEMENTS[key] = _Statement(compiled.string, dict(compiled.params), positions)
    return _STATEMENTS[key]


def _range_query(
    db: Database,
    record_type: type[Record],
    form: Form,
    key: tuple[str, ...],
    series: tuple[str, ...],
    bounds: tuple[Any, Any, Order, Any],
    values: dict[str, Any],
    limit: int,
) -> RawQuery:
    """The compiled range query of one record type and form: the rows whose `series`
    columns equal their `values`, within the keyset `bounds` (bind parameters or None).
    It asks for `limit + 1` rows: the extra one says whether a next page exists."""
    start, end, order, after = bounds
    shape = (record_type.TABLE, form, start is None, end is None, after is None, order)
    joined = form == "json" and db.backend.joins_json_rows

    def build() -> Select[Any]:
        table = RECORD_TABLES[record_type]
        columns = (
            _text_columns(db, record_type)
            if form == "rows"
            else _json_columns(db, record_type, key, series)
        )
        where = [table.c[name] == bindparam(name) for name in series]
        query = keyset_range(select(*columns).where(*where), table, key, *bounds)
        query = query.limit(bindparam("limit", type_=Integer))
        return db.backend.join_json_rows(query, OBJECT, PAGE, COUNT) if joined else query

    statement = _statement(db, shape, build)
    merged = {**statement.defaults, **values, "limit": limit + 1}
    if form == "json" and not joined:
        merged |= _series_json(values, series)
    args: Sequence[Any] | Mapping[str, Any] = (
        merged if statement.positions is None else [merged[name] for name in statement.positions]
    )
    fields = field_names(record_type)
    names = fields if form == "rows" else (PAGE, COUNT) if joined else (OBJECT, *key)
    return RawQuery(statement.sql, args, names, limit, key, fields)


def _bound(name: str, value: Any) -> Any:
    return None if value is None else bindparam(name)


def candle_query(
    db: Database,
    exchange: str,
    symbol: str,
    timeframe: str,
    *,
    start: int | None,
    end: int | None,
    limit: int,
    order: Order = "asc",
    after: int | None = None,
    form: Form = "rows",
) -> RawQuery:
    """The SQL and arguments of a candle range in `form` (also run bare by the benchmark)."""
    bounds = (_bound("start", start), _bound("end", end), order, _bound("after", after))
    values: dict[str, Any] = {"exchange": exchange, "symbol": symbol, "timeframe": timeframe}
    values |= {"start": start, "end": end, "after": after}
    series = ("exchange", "symbol", "timeframe")
    return _range_query(db, Candle, form, ("ts",), series, bounds, values, limit)


def trade_query(
    db: Database,
    exchange: str,
    symbol: str,
    *,
    start: int | None,
    end: int | None,
    limit: int,
    order: Order = "asc",
    after: tuple[int, str] | None = None,
    form: Form = "rows",
) -> RawQuery:
    """The SQL and arguments of a trade range in `form`; the key is (ts, trade_id)."""
    last: tuple[Any, Any] | None = (
        None if after is None else (bindparam("after_ts"), bindparam("after_id"))
    )
    bounds = (_bound("start", start), _bound("end", end), order, last)
    values = {"exchange": exchange, "symbol": symbol, "start": start, "end": end}
    if after is not None:
        values |= {"after_ts": after[0], "after_id": after[1]}
    market = ("exchange", "symbol")
    return _range_query(db, Trade, form, ("ts", "trade_id"), market, bounds, values, limit)


# --- fetching -----------------------------------------------------------------------------


def fetch_rows(db: Database, query: RawQuery) -> RowPage:
    """The rows of a rows-form query, decimals in plain notation."""
    rows = _fetch(db, query)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    key = [query.columns.index(name) for name in query.key]
    last = tuple(rows[-1][index] for index in key) if rows else None
    return RowPage(query.columns, rows, last, more)


def fetch_json(db: Database, query: RawQuery) -> JsonPage:
    """The JSON array of a JSON-form query's objects, and the key of its last row."""
    rows = _fetch(db, query)
    if query.joined:
        return _joined_page(rows[0], query)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    objects = map(itemgetter(0), rows)
    last = tuple(rows[-1][1:]) if rows else None
    return JsonPage(f"[{','.join(objects)}]".encode(), last, more)


def _joined_page(row: tuple[Any, ...], query: RawQuery) -> JsonPage:
    """SQLite's joined objects as a page: the extra object (the one past `limit`) cut off,
    the last key read from the last object. Objects meet at `,{"exchange":` (a comma and
    the first key), which occurs nowhere else: inside a string a quote is escaped, and
    after a string's closing quote comes `,`, `:` or `}`, never a key's letters."""
    text, count = row
    if not count:
        return JsonPage(b"[]", None, False)
    boundary = f',{{"{query.fields[0]}":'
    more = count > query.limit
    if more:
        text = text[: text.rindex(boundary)]
    last = orjson.loads(text[text.rfind(boundary) + 1 :])
    key = tuple(last[name] for name in query.key)
    return JsonPage(f"[{text}]".encode(), key, more)


def _fetch(db: Database, query: RawQuery) -> list[tuple[Any, ...]]:
    """Run a raw query on the bare driver connection of a pooled one (pinged on checkout,
    so a connection the server dropped is replaced first). Driver errors leave as
    SQLAlchemy's (`OperationalError` when the database cannot be reached), as from every
    other read."""
    dialect = db.engine.dialect
    try:
        raw = db.engine.raw_connection()
        try:
            return _execute(raw, query, autocommit=db.backend.autocommit_statements)
        finally:
            raw.close()  # back to the pool
    except dialect.loaded_dbapi.Error as exc:
        error = dialect.loaded_dbapi.Error
        raise DBAPIError.instance(query.sql, query.args, exc, error) from exc


def _execute(raw: Any, query: RawQuery, *, autocommit: bool) -> list[tuple[Any, ...]]:
    """The rows of one statement; in autocommit on PostgreSQL, which spares the BEGIN and
    ROLLBACK round trips a pooled connection would otherwise make around one read."""
    driver = raw.driver_connection
    if autocommit:
        driver.autocommit = True
    try:
        cursor = raw.cursor()
        try:
            cursor.execute(query.sql, query.args)
            return list(cursor.fetchall())  # a list on every driver (mysqlclient: a tuple)
        finally:
            cursor.close()
    finally:
        if autocommit:
            driver.autocommit = False
