"""Sync cursors and known candle holes: where each series stands, kept in the database
so a restart resumes exactly where the last committed write stopped.

Cursor writes take the caller's open connection, so a cursor moves in the same
transaction as the data it covers: after a crash it never points past stored data.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, select

from ohmycoins.storage.database import upsert_row
from ohmycoins.storage.tables import candle_holes, sync_cursors


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


@dataclass(frozen=True, slots=True)
class Hole:
    """Candles the exchange does not have: open times start_ts..end_ts inclusive."""

    exchange: str
    symbol: str
    timeframe: str
    start_ts: int
    end_ts: int
    candles: int


def record_holes(conn: Connection, holes: list[Hole], now_ms: int) -> None:
    """Remember holes so they are reported, and not refetched forever."""
    for hole in holes:
        values = {**dataclasses.asdict(hole), "found_ts": now_ms}
        upsert_row(conn, candle_holes, values, ("exchange", "symbol", "timeframe", "start_ts"))


def read_holes(
    conn: Connection, exchange: str | None = None, symbol: str | None = None,
    timeframe: str | None = None,
) -> list[Hole]:  # fmt: skip
    """Known holes, optionally of one series, oldest first."""
    query = select(
        candle_holes.c.exchange, candle_holes.c.symbol, candle_holes.c.timeframe,
        candle_holes.c.start_ts, candle_holes.c.end_ts, candle_holes.c.candles,
    )  # fmt: skip
    for column, value in (("exchange", exchange), ("symbol", symbol), ("timeframe", timeframe)):
        if value is not None:
            query = query.where(candle_holes.c[column] == value)
    query = query.order_by(candle_holes.c.exchange, candle_holes.c.symbol, candle_holes.c.start_ts)
    return [Hole(*row) for row in conn.execute(query)]
