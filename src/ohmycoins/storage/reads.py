"""Read queries behind the API: ranges with keyset pagination, latest values, health.

Range reads fetch one row more than asked to know whether a next page exists; the
caller turns the last row's key into a cursor. Keyset pagination (`ts > last`, not
`OFFSET`) keeps every page as cheap as the first, however deep a client pages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from operator import itemgetter
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import (
    Integer,
    Select,
    Table,
    Text,
    and_,
    bindparam,
    case,
    cast,
    func,
    or_,
    select,
    type_coerce,
)

from ohmycoins.records import (
    Asset,
    Candle,
    CollectorRun,
    MarketSnapshot,
    OrderBook,
    Record,
    Ticker,
    Trade,
    field_types,
)
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import TIME_COLUMN, fetch_records, select_records
from ohmycoins.storage.tables import RECORD_TABLES

__all__ = [
    "FAILED_STATUSES",
    "SUCCESS_STATUSES",
    "Order",
    "Page",
    "RawQuery",
    "RowPage",
    "RunSummary",
    "candle_rows_query",
    "fetch_page",
    "fetch_rows",
    "keyset_range",
    "latest_orderbooks",
    "latest_runs",
    "latest_successes",
    "latest_tickers",
    "newest_times",
    "read_assets",
    "read_candle_rows",
    "read_markets",
    "read_trade_rows",
    "run_summaries",
    "trade_rows_query",
]

Order = Literal["asc", "desc"]
R = TypeVar("R", bound=Record)

SUCCESS_STATUSES = ("ok", "partial")
FAILED_STATUSES = ("error",)


@dataclass(frozen=True, slots=True)
class Page(Generic[R]):
    """Rows of one page; `more` is True when rows remain beyond the last one."""

    rows: list[R]
    more: bool


def fetch_page(db: Database, record_type: type[R], query: Select[Any], limit: int) -> Page[R]:
    """The first `limit` records of a `select_records` query, and whether more remain."""
    rows = fetch_records(db, record_type, query.limit(limit + 1))
    return Page(rows[:limit], len(rows) > limit)


def keyset_range(
    query: Select[Any],
    table: Table,
    key: Sequence[str],
    start: Any,
    end: Any,
    order: Order,
    after: Any,
) -> Select[Any]:
    """`query` narrowed to `start <= key[0] <= end` and to the rows past `after` (a key,
    or one value for a one-column key) in the direction of `order`, ordered by `key`.
    Each bound is a value or a bind parameter; None leaves it out."""
    columns = [table.c[name] for name in key]
    if start is not None:
        query = query.where(columns[0] >= start)
    if end is not None:
        query = query.where(columns[0] <= end)
    if after is not None:
        query = query.where(
            _beyond(columns, after if isinstance(after, tuple) else (after,), order)
        )
    return query.order_by(*(c.asc() if order == "asc" else c.desc() for c in columns))


def _beyond(columns: Sequence[Any], key: Sequence[Any], order: Order) -> Any:
    """Rows whose (columns) come strictly after `key` in the direction of `order`."""
    first, *rest = columns
    value, *more = key
    past = first > value if order == "asc" else first < value
    if not rest:
        return past
    return or_(past, and_(first == value, _beyond(rest, more, order)))


# --- rows as the driver returns them: the range endpoints' fast path -------------------


@dataclass(frozen=True, slots=True)
class RawQuery:
    """A range read as the driver runs it: the SQL in the driver's parameter style, its
    arguments, and the meaning of the row it returns (one row more than `limit`)."""

    sql: str
    args: Sequence[Any] | Mapping[str, Any]
    columns: tuple[str, ...]
    decimals: tuple[int, ...]
    """Positions of the decimal columns, selected as text."""
    limit: int


@dataclass(frozen=True, slots=True)
class RowPage:
    """A page as plain tuples in `columns` order, decimals as exact plain-notation text
    (`"0.00000001"`, as `format(Decimal, "f")` writes them), None for NULL.

    No record, Decimal or dict is built per row: a day of 1m candles is 1,440 rows, and
    that per-row work cost ten times the query itself."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    more: bool


@dataclass(frozen=True, slots=True)
class _Statement:
    sql: str
    defaults: dict[str, Any]
    positions: tuple[str, ...] | None
    """Parameter names in order for a positional driver (sqlite3); None for named."""


_STATEMENTS: dict[tuple[Any, ...], _Statement] = {}


def _text_columns(db: Database, record_type: type[Record]) -> list[Any]:
    """The record's columns with decimals as their text: NUMERIC cast to text on
    PostgreSQL (never in exponent notation), the stored text as is on SQLite."""
    table = RECORD_TABLES[record_type]
    columns: list[Any] = []
    for field in field_types(record_type):
        column: Any = table.c[field.name]
        if field.kind is Decimal:
            as_text = (
                cast(column, Text) if db.dialect == "postgresql" else type_coerce(column, Text)
            )
            column = as_text.label(field.name)
        columns.append(column)
    return columns


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


def _raw_query(
    db: Database, record_type: type[Record], statement: _Statement, values: dict[str, Any]
) -> RawQuery:
    merged = {**statement.defaults, **values}
    args: Sequence[Any] | Mapping[str, Any] = (
        merged if statement.positions is None else [merged[name] for name in statement.positions]
    )
    fields = field_types(record_type)
    decimals = tuple(i for i, field in enumerate(fields) if field.kind is Decimal)
    return RawQuery(
        statement.sql, args, tuple(f.name for f in fields), decimals, values["limit"] - 1
    )


def _bound(name: str, value: Any) -> Any:
    return None if value is None else bindparam(name)


def candle_rows_query(
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
) -> RawQuery:
    """The SQL and arguments of `read_candle_rows` (also run bare by the benchmark)."""
    shape = ("candles", start is None, end is None, after is None, order)

    def build() -> Select[Any]:
        table = RECORD_TABLES[Candle]
        query = select(*_text_columns(db, Candle)).where(
            table.c.exchange == bindparam("exchange"),
            table.c.symbol == bindparam("symbol"),
            table.c.timeframe == bindparam("timeframe"),
        )
        bounds = (_bound("start", start), _bound("end", end), order, _bound("after", after))
        query = keyset_range(query, table, ("ts",), *bounds)
        return query.limit(bindparam("limit", type_=Integer))

    values = {"exchange": exchange, "symbol": symbol, "timeframe": timeframe, "limit": limit + 1}
    values |= {"start": start, "end": end, "after": after}
    return _raw_query(db, Candle, _statement(db, shape, build), values)


def trade_rows_query(
    db: Database,
    exchange: str,
    symbol: str,
    *,
    start: int | None,
    end: int | None,
    limit: int,
    order: Order = "asc",
    after: tuple[int, str] | None = None,
) -> RawQuery:
    """The SQL and arguments of `read_trade_rows`."""
    shape = ("trades", start is None, end is None, after is None, order)

    def build() -> Select[Any]:
        table = RECORD_TABLES[Trade]
        query = select(*_text_columns(db, Trade)).where(
            table.c.exchange == bindparam("exchange"), table.c.symbol == bindparam("symbol")
        )
        last: tuple[Any, Any] | None = (
            None if after is None else (bindparam("after_ts"), bindparam("after_id"))
        )
        bounds = (_bound("start", start), _bound("end", end), order, last)
        query = keyset_range(query, table, ("ts", "trade_id"), *bounds)
        return query.limit(bindparam("limit", type_=Integer))

    values = {"exchange": exchange, "symbol": symbol, "limit": limit + 1}
    values |= {"start": start, "end": end}
    if after is not None:
        values |= {"after_ts": after[0], "after_id": after[1]}
    return _raw_query(db, Trade, _statement(db, shape, build), values)


def fetch_rows(db: Database, query: RawQuery) -> RowPage:
    """Run a raw range query on the bare driver connection of a pooled one."""
    postgres = db.dialect == "postgresql"
    raw = db.engine.raw_connection()
    try:
        rows = _execute(raw, query, autocommit=postgres)
    finally:
        raw.close()  # back to the pool
    if not postgres and _has_exponent(rows, query.decimals):
        rows = [_plain_row(row, query.decimals) for row in rows]
    if len(rows) > query.limit:
        return RowPage(query.columns, rows[: query.limit], True)
    return RowPage(query.columns, rows, False)


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
            rows: list[tuple[Any, ...]] = cursor.fetchall()
            return rows
        finally:
            cursor.close()
    finally:
        if autocommit:
            driver.autocommit = False


def _has_exponent(rows: list[tuple[Any, ...]], decimals: tuple[int, ...]) -> bool:
    """True when a stored decimal text is in exponent notation (SQLite keeps `str(Decimal)`,
    which writes `1E-8`); one C-level scan per column, since it is rare."""
    for index in decimals:
        text = "".join(filter(None, map(itemgetter(index), rows)))
        if "E" in text or "e" in text:
            return True
    return False


def _plain_row(row: tuple[Any, ...], decimals: tuple[int, ...]) -> tuple[Any, ...]:
    values = list(row)
    for index in decimals:
        if values[index] is not None:
            values[index] = format(Decimal(values[index]), "f")
    return tuple(values)


def read_candle_rows(
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
) -> RowPage:
    """Candles of one series with `start <= ts <= end`, in `order` of ts, as plain rows
    with decimal text (see `RowPage`); `after` is the ts of the previous page's last
    candle (exclusive, in the direction of `order`)."""
    query = candle_rows_query(
        db, exchange, symbol, timeframe, start=start, end=end, limit=limit, order=order, after=after
    )
    return fetch_rows(db, query)


def read_trade_rows(
    db: Database,
    exchange: str,
    symbol: str,
    *,
    start: int | None,
    end: int | None,
    limit: int,
    order: Order = "asc",
    after: tuple[int, str] | None = None,
) -> RowPage:
    """Trades of one market with `start <= ts <= end`, ordered by (ts, trade_id), as plain
    rows with decimal text; `after` is the previous page's last (ts, trade_id), exclusive."""
    query = trade_rows_query(
        db, exchange, symbol, start=start, end=end, limit=limit, order=order, after=after
    )
    return fetch_rows(db, query)


def _latest_per_market(
    db: Database, record_type: type[R], exchange: str | None, symbol: str | None
) -> list[R]:
    """The newest row of each (exchange, symbol), optionally of one exchange or symbol."""
    table = RECORD_TABLES[record_type]
    filters = []
    if exchange is not None:
        filters.append(table.c.exchange == exchange)
    if symbol is not None:
        filters.append(table.c.symbol == symbol)
    newest = (
        select(table.c.exchange, table.c.symbol, func.max(table.c.ts).label("ts"))
        .where(*filters)
        .group_by(table.c.exchange, table.c.symbol)
        .subquery()
    )
    query = (
        select_records(record_type)
        .join(
            newest,
            and_(
                table.c.exchange == newest.c.exchange,
                table.c.symbol == newest.c.symbol,
                table.c.ts == newest.c.ts,
            ),
        )
        .order_by(table.c.exchange, table.c.symbol)
    )
    return fetch_records(db, record_type, query)


def latest_tickers(db: Database, exchange: str | None, symbol: str | None) -> list[Ticker]:
    """The newest ticker of each market."""
    return _latest_per_market(db, Ticker, exchange, symbol)


def latest_orderbooks(db: Database, exchange: str | None, symbol: str | None) -> list[OrderBook]:
    """The newest order-book snapshot of each market."""
    return _latest_per_market(db, OrderBook, exchange, symbol)


def read_markets(
    db: Database, *, source: str, vs_currency: str, limit: int
) -> list[MarketSnapshot]:
    """The newest snapshot of each coin from one source, by market-cap rank (unranked last)."""
    table = RECORD_TABLES[MarketSnapshot]
    newest = (
        select(table.c.asset_id, func.max(table.c.ts).label("ts"))
        .where(table.c.source == source, table.c.vs_currency == vs_currency)
        .group_by(table.c.asset_id)
        .subquery()
    )
    query = (
        select_records(MarketSnapshot)
        .join(newest, and_(table.c.asset_id == newest.c.asset_id, table.c.ts == newest.c.ts))
        .where(table.c.source == source, table.c.vs_currency == vs_currency)
        .order_by(case((table.c.rank.is_(None), 1), else_=0), table.c.rank, table.c.asset_id)
        .limit(limit)
    )
    return fetch_records(db, MarketSnapshot, query)


def read_assets(db: Database, *, active_only: bool = False) -> list[Asset]:
    """Every asset of the universe, by rank (unranked last), then id."""
    table = RECORD_TABLES[Asset]
    query = select_records(Asset)
    if active_only:
        query = query.where(table.c.active.is_(True))
    query = query.order_by(
        case((table.c.rank.is_(None), 1), else_=0), table.c.rank, table.c.asset_id
    )
    return fetch_records(db, Asset, query)


def latest_runs(db: Database, collectors: Sequence[str] | None = None) -> dict[str, CollectorRun]:
    """The newest run of each collector (optionally of these collectors only)."""
    return _newest_run_by(db, collectors, statuses=None)


def latest_successes(
    db: Database, collectors: Sequence[str] | None = None
) -> dict[str, CollectorRun]:
    """The newest successful (ok or partial) run of each collector."""
    return _newest_run_by(db, collectors, statuses=SUCCESS_STATUSES)


def _newest_run_by(
    db: Database, collectors: Sequence[str] | None, statuses: Sequence[str] | None
) -> dict[str, CollectorRun]:
    table = RECORD_TABLES[CollectorRun]
    filters = []
    if collectors is not None:
        filters.append(table.c.collector.in_(list(collectors)))
    if statuses is not None:
        filters.append(table.c.status.in_(list(statuses)))
    newest = (
        select(table.c.collector, func.max(table.c.started_ts).label("started_ts"))
        .where(*filters)
        .group_by(table.c.collector)
        .subquery()
    )
    query = (
        select_records(CollectorRun)
        .join(
            newest,
            and_(
                table.c.collector == newest.c.collector,
                table.c.started_ts == newest.c.started_ts,
            ),
        )
        .where(*filters)
        .order_by(table.c.collector, table.c.run_id)
    )
    return {run.collector: run for run in fetch_records(db, CollectorRun, query)}


@dataclass(frozen=True, slots=True)
class RunSummary:
    """Totals over every stored run of one collector."""

    collector: str
    runs: int
    failures: int
    records_written: int
    records_quarantined: int


def run_summaries(db: Database) -> list[RunSummary]:
    """Runs, failures, records written and quarantined per collector."""
    table = RECORD_TABLES[CollectorRun]
    failed = func.sum(case((table.c.status.in_(list(FAILED_STATUSES)), 1), else_=0))
    query = (
        select(
            table.c.collector,
            func.count(),
            failed,
            func.coalesce(func.sum(table.c.records_written), 0),
            func.coalesce(func.sum(table.c.records_quarantined), 0),
        )
        .group_by(table.c.collector)
        .order_by(table.c.collector)
    )
    with db.engine.connect() as conn:
        return [
            RunSummary(name, int(runs), int(fails or 0), int(written), int(quarantined))
            for name, runs, fails, written, quarantined in conn.execute(query)
        ]


def newest_times(db: Database, tables: Sequence[str] | None = None) -> dict[str, int | None]:
    """The newest time (epoch ms) of each record table, None when a table is empty."""
    result: dict[str, int | None] = {}
    with db.engine.connect() as conn:
        for record_type, table in RECORD_TABLES.items():
            if tables is not None and table.name not in tables:
                continue
            column = table.c[TIME_COLUMN.get(table.name, "ts")]
            newest = conn.execute(select(func.max(column))).scalar()
            result[record_type.TABLE] = int(newest) if newest is not None else None
    return result
