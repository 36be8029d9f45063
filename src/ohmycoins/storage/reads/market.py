"""Read queries behind the API: ranges with keyset pagination, latest values, health.

Range reads fetch one row more than asked to know whether a next page exists; the
caller turns the last row's key into a cursor. Keyset pagination (`ts > last`, not
`OFFSET`) keeps every page as cheap as the first, however deep a client pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    case,
    func,
    or_,
    select,
)

from ohmycoins.quality.quarantine import CONFLICTING_DUPLICATE
from ohmycoins.records import (
    RECORD_TYPES,
    Asset,
    Candle,
    CollectorRun,
    MarketSnapshot,
    OrderBook,
    QuarantinedRecord,
    Record,
    Ticker,
)
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import fetch_records, select_records, time_column
from ohmycoins.storage.tables import RECORD_TABLES

__all__ = [
    "FAILED_STATUSES",
    "SUCCESS_STATUSES",
    "Order",
    "Page",
    "RunSummary",
    "candle_times",
    "fetch_page",
    "keyset_range",
    "latest_orderbooks",
    "latest_runs",
    "latest_successes",
    "latest_tickers",
    "newest_times",
    "read_assets",
    "read_markets",
    "run_summaries",
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
    key: Sequence[str | ColumnElement[Any]],
    start: Any,
    end: Any,
    order: Order,
    after: Any,
) -> Select[Any]:
    """`query` narrowed to `start <= key[0] <= end` and to the rows past `after` (a key,
    or one value for a one-column key) in the direction of `order`, ordered by `key`
    (column names, or expressions such as `time_column`). Each bound is a value or a
    bind parameter; None leaves it out."""
    columns = [table.c[name] if isinstance(name, str) else name for name in key]
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


def _newest_per(
    record_type: type[Any], group: Sequence[str], time: str, filters: Sequence[Any]
) -> Select[Any]:
    """A `select_records` query of the newest row (by `time`) of each `group`, among
    the rows matching `filters`."""
    table = RECORD_TABLES[record_type]
    columns = [table.c[name] for name in group]
    newest = (
        select(*columns, func.max(table.c[time]).label(time))
        .where(*filters)
        .group_by(*columns)
        .subquery()
    )
    on = and_(*(table.c[name] == newest.c[name] for name in (*group, time)))
    return select_records(record_type).join(newest, on).where(*filters)


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
    query = _newest_per(record_type, ("exchange", "symbol"), "ts", filters)
    return fetch_records(db, record_type, query.order_by(table.c.exchange, table.c.symbol))


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
    filters = [table.c.source == source, table.c.vs_currency == vs_currency]
    query = (
        _newest_per(MarketSnapshot, ("asset_id",), "ts", filters)
        .order_by(case((table.c.rank.is_(None), 1), else_=0), table.c.rank, table.c.asset_id)
        .limit(limit)
    )
    return fetch_records(db, MarketSnapshot, query)


def candle_times(
    db: Database, exchange: str, symbol: str, timeframe: str, spans: Sequence[tuple[int, int]]
) -> list[list[int]]:
    """The open times of the series' stored candles within each span (inclusive), span
    by span: what a sync compares with the times it expects to find its gaps."""
    table = RECORD_TABLES[Candle]
    series = (table.c.exchange == exchange, table.c.symbol == symbol)
    found: list[list[int]] = []
    with db.engine.connect() as conn:
        for low, high in spans:
            query = select(table.c.ts).where(
                *series, table.c.timeframe == timeframe, table.c.ts >= low, table.c.ts <= high
            )
            found.append([int(ts) for ts in conn.execute(query).scalars()])
    return found


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
    query = _newest_per(CollectorRun, ("collector",), "started_ts", filters)
    query = query.order_by(table.c.collector, table.c.run_id)
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


def newest_times(db: Database) -> dict[str, int | None]:
    """The newest time (epoch ms) of each record table, None when a table is empty."""
    result: dict[str, int | None] = {}
    with db.engine.connect() as conn:
        for table in RECORD_TABLES.values():
            newest = conn.execute(select(func.max(time_column(table)))).scalar()
            result[table.name] = int(newest) if newest is not None else None
    return result


def conflict_counts(db: Database) -> dict[tuple[str, str], int]:
    """Conflicting duplicates quarantined, by (table, source): immutable rows received
    again with other values (each distinct pair of versions once)."""
    table = RECORD_TABLES[QuarantinedRecord]
    tables = {record_type.__name__: record_type.TABLE for record_type in RECORD_TYPES}
    query = (
        select(table.c.record_type, table.c.source, func.count())
        .where(table.c.rule.like(f"%: {CONFLICTING_DUPLICATE}"))
        .group_by(table.c.record_type, table.c.source)
    )
    with db.engine.connect() as conn:
        return {
            (tables.get(record_type, record_type), source): int(count)
            for record_type, source, count in conn.execute(query)
        }
