"""Sync cursors and known candle holes: where each series stands, kept in the database
so a restart resumes exactly where the last committed write stopped.

Cursor writes take the caller's open connection, so a cursor moves in the same
transaction as the data it covers: after a crash it never points past stored data.
Where a collection resumes from the data itself (the newest stored macro value, the
latest day of protocol rows), `latest_ts` reads that point.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, and_, delete, func, insert, select

from ohmycoins.records import Record
from ohmycoins.storage.database import Database, upsert_row
from ohmycoins.storage.tables import RECORD_TABLES, candle_holes, candle_missing, sync_cursors


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """One series a cursor follows: (source, dataset, symbol, timeframe)."""

    source: str
    dataset: str
    symbol: str
    timeframe: str = ""


def read_cursor(conn: Connection, key: SeriesKey) -> tuple[int | None, str | None]:
    """The series' cursor as (last covered time, last id); (None, None) when new."""
    row = conn.execute(
        select(sync_cursors.c.cursor_ts, sync_cursors.c.cursor_id).where(_cursor_is(key))
    ).first()
    return (row[0], row[1]) if row else (None, None)


def write_cursor(
    conn: Connection, key: SeriesKey, now_ms: int, *, ts: int | None = None, id: str | None = None
) -> None:
    """Move the series' cursor (on the caller's transaction)."""
    values = {
        "source": key.source,
        "dataset": key.dataset,
        "symbol": key.symbol,
        "timeframe": key.timeframe,
        "cursor_ts": ts,
        "cursor_id": id,
        "updated_ts": now_ms,
    }
    upsert_row(conn, sync_cursors, values, ("source", "dataset", "symbol", "timeframe"))


def _cursor_is(key: SeriesKey) -> Any:
    return and_(
        sync_cursors.c.source == key.source,
        sync_cursors.c.dataset == key.dataset,
        sync_cursors.c.symbol == key.symbol,
        sync_cursors.c.timeframe == key.timeframe,
    )


def latest_ts(
    db: Database, record_type: type[Record], *, column: str = "ts", **equal: Any
) -> int | None:
    """The newest `column` time stored of `record_type` among the rows whose columns
    equal `equal` (one series of one source, say); None when there are none."""
    table = RECORD_TABLES[record_type]
    query = select(func.max(table.c[column]))
    for name, value in equal.items():
        query = query.where(table.c[name] == value)
    with db.engine.connect() as conn:
        newest = conn.execute(query).scalar()
    return None if newest is None else int(newest)


def read_listing(conn: Connection, key: SeriesKey) -> int | None:
    """The open time of the series' first candle on the exchange, once it is known."""
    return read_cursor(conn, _listing_key(key))[0]


def write_listing(conn: Connection, key: SeriesKey, listed_ts: int, now_ms: int) -> None:
    """Record the series' first candle: what comes before it is not expected, whatever
    range a sync asks for, so it is never reported as a hole."""
    write_cursor(conn, _listing_key(key), now_ms, ts=listed_ts)


def _listing_key(key: SeriesKey) -> SeriesKey:
    return dataclasses.replace(key, dataset=f"{key.dataset}.listed")


@dataclass(frozen=True, slots=True)
class Hole:
    """Candles the exchange does not have: open times start_ts..end_ts inclusive, which
    well-formed answers lacked `checks` times (the last one at `found_ts`)."""

    exchange: str
    symbol: str
    timeframe: str
    start_ts: int
    end_ts: int
    candles: int
    checks: int
    found_ts: int


def record_holes(conn: Connection, holes: list[Hole]) -> None:
    """Remember holes so they are reported, and not refetched forever."""
    for hole in holes:
        upsert_row(
            conn,
            candle_holes,
            dataclasses.asdict(hole),
            ("exchange", "symbol", "timeframe", "start_ts"),
        )


def forget_holes(conn: Connection, key: SeriesKey, starts: list[int]) -> None:
    """Drop the series' holes that start at `starts` (verified again, and replaced)."""
    if starts:
        conn.execute(
            delete(candle_holes).where(
                _series_is(candle_holes, key), candle_holes.c.start_ts.in_(starts)
            )
        )


def read_holes(
    conn: Connection, exchange: str | None = None, symbol: str | None = None,
    timeframe: str | None = None,
) -> list[Hole]:  # fmt: skip
    """Known holes, optionally of one series, oldest first."""
    query = select(*(candle_holes.c[name] for name in _HOLE_FIELDS))
    for column, value in (("exchange", exchange), ("symbol", symbol), ("timeframe", timeframe)):
        if value is not None:
            query = query.where(candle_holes.c[column] == value)
    query = query.order_by(candle_holes.c.exchange, candle_holes.c.symbol, candle_holes.c.start_ts)
    return [Hole(*row) for row in conn.execute(query)]


_HOLE_FIELDS = tuple(f.name for f in dataclasses.fields(Hole))


@dataclass(frozen=True, slots=True)
class Missing:
    """Candles not stored yet, open times start_ts..end_ts inclusive, that the exchange
    has not been shown to lack: tried `attempts` times, next at `next_try_ts`."""

    start_ts: int
    end_ts: int
    candles: int
    attempts: int
    next_try_ts: int


def read_missing(conn: Connection, key: SeriesKey) -> list[Missing]:
    """The series' missing candles, oldest first."""
    columns = (candle_missing.c[f.name] for f in dataclasses.fields(Missing))
    query = select(*columns).where(_series_is(candle_missing, key))
    return [Missing(*row) for row in conn.execute(query.order_by(candle_missing.c.start_ts))]


def replace_missing(conn: Connection, key: SeriesKey, missing: list[Missing]) -> None:
    """Make `missing` the series' whole list of missing candles."""
    conn.execute(delete(candle_missing).where(_series_is(candle_missing, key)))
    series = {"exchange": key.source, "symbol": key.symbol, "timeframe": key.timeframe}
    if missing:
        conn.execute(insert(candle_missing), [{**series, **dataclasses.asdict(m)} for m in missing])


def _series_is(table: Table, key: SeriesKey) -> Any:
    return and_(
        table.c.exchange == key.source,
        table.c.symbol == key.symbol,
        table.c.timeframe == key.timeframe,
    )
