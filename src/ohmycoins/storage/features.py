"""The feature store: candle series read as float arrays, the other ledgers read for
one asset, and feature rows written and read back (`tables.features`).

A feature row's values are little-endian float64 in the set's column order, NaN for
NULL (`tables.features` says why); `feature_sets` keeps each version's columns, so rows
of an old version stay readable after the set changed.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import (
    Connection,
    Float,
    Select,
    and_,
    bindparam,
    cast,
    delete,
    select,
    union_all,
)

from ohmycoins.enrich.feature_joins import LEDGER_REACH_MS, Ledgers
from ohmycoins.enrich.feature_sets import Bars, FeatureFrame, FeatureSet
from ohmycoins.errors import StorageError
from ohmycoins.records import (
    Asset,
    Candle,
    CatalystEvent,
    MacroObservation,
    MarketSnapshot,
    NewsItem,
    OnchainMetric,
    OrderBook,
    SocialPost,
    Trade,
)
from ohmycoins.storage.database import Database
from ohmycoins.storage.dialects import dialect_for
from ohmycoins.storage.feature_stale import STALE_MARK, Series, StaleMark, series_key
from ohmycoins.storage.queries import select_records
from ohmycoins.storage.tables import (
    RECORD_TABLES,
    TABLE_RECORD_TYPES,
    feature_sets,
    features,
)
from ohmycoins.timeframes import timeframe_ms

ROW_DTYPE = np.dtype("<f8")


# --- candles as arrays ---------------------------------------------------------------


def read_bars(
    conn: Connection,
    series: Series,
    *,
    since: int | None = None,
    until: int | None = None,
    context: int = 0,
) -> Bars:
    """The series' candles `since <= ts <= until`, oldest first; with `context` (and
    `since`), the `context` candles before `since` first, in the same statement (the
    warm-up of an update or a rebuild from a time: how many there are is
    `np.searchsorted(bars.ts, since)`). Prices as float64 (the database converts them)."""
    params = {**series_key(series), "since": since, "until": until, "context": context}
    if context and since is not None:
        query = _bars_with_context(until is not None)
    else:
        query = _bars_query(since is not None, until is not None)
    rows = dialect_for(conn).read_numbers(conn, query, params)
    return bars_of(rows, timeframe_ms(series.timeframe))


@functools.cache
def _bars_query(since: bool, until: bool) -> Select[Any]:
    """The candle read of `read_bars` with the bounds given (built once)."""
    table = RECORD_TABLES[Candle]
    prices = [cast(table.c[n], Float) for n in ("open", "high", "low", "close", "volume")]
    query = select(table.c.ts, *prices).where(
        table.c.exchange == bindparam("exchange"),
        table.c.symbol == bindparam("symbol"),
        table.c.timeframe == bindparam("timeframe"),
    )
    if since:
        query = query.where(table.c.ts >= bindparam("since"))
    if until:
        query = query.where(table.c.ts <= bindparam("until"))
    return query.order_by(table.c.ts)


@functools.cache
def _bars_with_context(until: bool) -> Select[Any]:
    """`since <= ts (<= until)`, after the newest `context` candles before `since`: one
    statement, where two would cost a round trip more."""
    table = RECORD_TABLES[Candle]
    before = (
        _bars_query(False, False)
        .where(table.c.ts < bindparam("since"))
        .order_by(None)
        .order_by(table.c.ts.desc())
        .limit(bindparam("context"))
        .subquery()
    )
    both = union_all(select(before), _bars_query(True, until).order_by(None)).subquery()
    return select(both).order_by(both.c.ts)


def bars_of(rows: Sequence[Sequence[Any]], step_ms: int) -> Bars:
    """Bars from (ts, open, high, low, close, volume) rows; a NULL volume is NaN."""
    if not rows:
        empty = np.empty(0)
        return Bars.of([np.empty(0, np.int64), empty, empty, empty, empty, empty], step_ms)
    # one conversion of the whole block (None -> nan); an epoch-ms time is exact in a
    # float64 (below 2**53)
    block = np.array(rows, dtype=np.float64)
    columns = [np.ascontiguousarray(block[:, i]) for i in range(1, 6)]
    return Bars.of([block[:, 0].astype(np.int64), *columns], step_ms)


# --- the other ledgers for one asset -------------------------------------------------


def read_ledgers(conn: Connection, series: Series, since: int, until: int) -> Ledgers:
    """What the other ledgers hold for the series' asset that can join a candle with
    `since <= ts <= until`: from `LEDGER_REACH_MS` before `since` (the longest look-back
    of a join) to its close. Macro values are read whole (few rows,
    and a monthly value stays current). Every ledger in one go (`Dialect.read_all`: one
    round trip on PostgreSQL)."""
    step = timeframe_ms(series.timeframe)
    base = series.base
    params = {"low": since - LEDGER_REACH_MS, "high": until + step, "base": base,
              "exchange": series.exchange, "symbol": series.symbol}  # fmt: skip
    queries = [(_ledger_query(record_type.TABLE), params) for record_type in _LEDGERS]
    read = dict(zip(_LEDGERS, dialect_for(conn).read_all(conn, queries), strict=True))

    def records(record_type: type[Any]) -> list[Any]:
        return [record_type(*row) for row in read[record_type]]

    return Ledgers(
        trades=records(Trade),
        books=records(OrderBook),
        news=[n for n in records(NewsItem) if base in n.currencies],
        posts=[p for p in records(SocialPost) if base in p.currencies],
        catalysts=[e for e in records(CatalystEvent) if base in e.assets],
        onchain=records(OnchainMetric),
        macro=records(MacroObservation),
        ranks=records(MarketSnapshot),
    )


_LEDGERS: tuple[type[Any], ...] = (
    Trade, OrderBook, NewsItem, SocialPost, CatalystEvent, OnchainMetric, MacroObservation,
    MarketSnapshot,
)  # fmt: skip
_LEDGER_TIME: dict[type[Any], str] = {NewsItem: "published_ts"}
_ASSET_TABLE = RECORD_TABLES[Asset]
_ASSET_IDS = union_all(
    *(
        select(column).where(_ASSET_TABLE.c.symbol == bindparam("base"), column != "")
        for column in (_ASSET_TABLE.c.asset_id, _ASSET_TABLE.c.coingecko_id)
    )
)
"""The ids the asset goes by in the glass ledger (`bitcoin` for BTC)."""


@functools.cache
def _ledger_query(table_name: str) -> Select[Any]:
    """The rows of one ledger that may join the series (built once: an update runs
    often, and building a statement costs more than running it)."""
    record_type = TABLE_RECORD_TYPES[table_name]
    table = RECORD_TABLES[record_type]
    query = select_records(record_type)
    if record_type is MacroObservation:
        return query
    time = table.c[_LEDGER_TIME.get(record_type, "ts")]
    query = query.where(time >= bindparam("low"), time <= bindparam("high"))
    if record_type in (Trade, OrderBook):
        query = query.where(
            table.c.exchange == bindparam("exchange"), table.c.symbol == bindparam("symbol")
        )
    if record_type is OnchainMetric:
        query = query.where(table.c.asset.in_(_ASSET_IDS))
    if record_type is MarketSnapshot:
        query = query.where(table.c.symbol == bindparam("base"))
    return query


# --- feature rows --------------------------------------------------------------------


def register_set(conn: Connection, feature_set: FeatureSet, now_ms: int) -> None:
    """Record a set version and its columns (once: a version never changes)."""
    values = {
        "set_version": feature_set.version,
        "name": feature_set.name,
        "columns": json.dumps(feature_set.columns),
        "definition": json.dumps(feature_set.definition, sort_keys=True),
        "created_ts": now_ms,
    }
    conn.execute(dialect_for(conn).insert_missing(feature_sets, values))


def set_columns(conn: Connection, version: str) -> list[str]:
    """The columns of a stored set version; StorageError when none is stored."""
    text = conn.execute(
        select(feature_sets.c.columns).where(feature_sets.c.set_version == version)
    ).scalar()
    if text is None:
        raise StorageError(f"no feature set version {version!r} is stored")
    columns: list[str] = json.loads(text)
    return columns


def stored_versions(conn: Connection, name: str | None = None) -> list[str]:
    """Stored set versions (of one set name), oldest first."""
    query = select(feature_sets.c.set_version).order_by(feature_sets.c.created_ts)
    if name is not None:
        query = query.where(feature_sets.c.name == name)
    return list(conn.execute(query).scalars())


_SERIES_ROWS = and_(
    features.c.exchange == bindparam("exchange"),
    features.c.symbol == bindparam("symbol"),
    features.c.timeframe == bindparam("timeframe"),
    features.c.set_version == bindparam("version"),
)
"""The feature rows of one series and set version: bound by `_series_params`."""

_NEWEST = select(features.c.ts).where(_SERIES_ROWS).order_by(features.c.ts.desc()).limit(1)
"""The newest row's time, as the key's last row (written as such: PostgreSQL plans a
`max()` over a table not analyzed yet, a rebuilt one, as a scan of every row)."""


def _series_params(series: Series, version: str) -> dict[str, str]:
    return {**series_key(series), "version": version}


_STATE = select(
    _NEWEST.scalar_subquery(),
    *(STALE_MARK.with_only_columns(c).scalar_subquery() for c in STALE_MARK.selected_columns),
)


def series_state(
    conn: Connection, series: Series, version: str
) -> tuple[int | None, StaleMark | None]:
    """The open time of the series' newest stored feature row of `version`, and the
    series' pending stale mark (`stale_mark`): one statement, what an update reads first."""
    newest, since, marks = conn.execute(_STATE, _series_params(series, version)).one()
    mark = None if since is None else StaleMark(int(since), int(marks))
    return (None if newest is None else int(newest)), mark


def delete_features(conn: Connection, series: Series, version: str, since: int | None) -> None:
    """Drop the series' rows of `version` from `since` on (all without it): a rebuild."""
    statement = delete(features).where(_SERIES_ROWS)
    if since is not None:
        statement = statement.where(features.c.ts >= since)
    conn.execute(statement, _series_params(series, version))


def append_features(conn: Connection, series: Series, version: str, frame: FeatureFrame) -> int:
    """Insert the frame's rows (none of them stored yet), with the backend's fastest
    plain insert (`Dialect.append_vectors`); returns how many."""
    key = (series.exchange, series.symbol, series.timeframe, version)
    dialect_for(conn).append_vectors(conn, features, key, frame.ts, frame.warm_up, frame.values)
    return len(frame)


@dataclass(frozen=True, slots=True)
class FeaturePage:
    """Feature rows of one page: times, warm-up marks, values (rows x `columns`)."""

    columns: list[str]
    ts: list[int]
    warm_up: list[bool]
    values: np.ndarray[Any, np.dtype[np.float64]]
    more: bool


def read_features(
    db: Database,
    series: Series,
    version: str,
    *,
    start: int | None = None,
    end: int | None = None,
    after: int | None = None,
    limit: int | None = None,
    order: str = "asc",
    columns: Sequence[str] | None = None,
) -> FeaturePage:
    """A page of the series' feature rows of `version`, `start <= ts <= end`, past the
    keyset `after`, with the `columns` asked (all by default, in set order)."""
    with db.engine.connect() as conn:
        stored = set_columns(conn, version)
        picked = list(columns) if columns else stored
        unknown = [name for name in picked if name not in stored]
        if unknown:
            raise KeyError(", ".join(unknown))
        query = select(features.c.ts, features.c.warm_up, features.c.vals).where(_SERIES_ROWS)
        if start is not None:
            query = query.where(features.c.ts >= start)
        if end is not None:
            query = query.where(features.c.ts <= end)
        if after is not None:
            query = query.where(features.c.ts > after if order == "asc" else features.c.ts < after)
        query = query.order_by(features.c.ts.asc() if order == "asc" else features.c.ts.desc())
        if limit is not None:
            query = query.limit(limit + 1)
        rows = conn.execute(query, _series_params(series, version)).all()
    more = limit is not None and len(rows) > limit
    rows = rows[:limit] if limit is not None else rows
    matrix = np.frombuffer(b"".join(bytes(r[2]) for r in rows), dtype=ROW_DTYPE)
    matrix = matrix.reshape(len(rows), len(stored))
    index = [stored.index(name) for name in picked]
    return FeaturePage(
        picked, [int(r[0]) for r in rows], [bool(r[1]) for r in rows], matrix[:, index], more
    )


def arrow_table(pages: list[tuple[Series, FeaturePage]]) -> Any:
    """One Arrow table of feature pages: series, `ts`, `time`, `month`, `warm_up`, values."""
    import pyarrow as pa

    tables = []
    for series, page in pages:
        ts = pa.array(page.ts, pa.int64())
        n = len(page.ts)
        arrays: dict[str, Any] = {
            "exchange": pa.array([series.exchange] * n, pa.string()),
            "symbol": pa.array([series.symbol] * n, pa.string()),
            "timeframe": pa.array([series.timeframe] * n, pa.string()),
            "ts": ts,
            "time": ts.cast(pa.timestamp("ms", tz="UTC")),
            "warm_up": pa.array(page.warm_up, pa.bool_()),
        }
        for index, name in enumerate(page.columns):
            arrays[name] = pa.array(page.values[:, index], pa.float64(), from_pandas=True)
        tables.append(pa.table(arrays))
    return pa.concat_tables(tables) if tables else pa.table({})
