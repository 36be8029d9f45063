"""Late candles: a candle written at or before its series' newest (a gap filled, a
candle corrected) marks the series' feature rows stale from it on (`features_stale`),
in the candle write itself; the feature job acts on the mark and clears it.

Apart from `storage.features` so that the candle write (`storage.upsert`) does not
import the feature computations (pandas, TA-Lib) at start-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, and_, bindparam, case, delete, literal, select

from ohmycoins.records import Candle
from ohmycoins.storage.dialects import dialect_for
from ohmycoins.storage.queries import select_records
from ohmycoins.storage.tables import RECORD_TABLES, features_stale


@dataclass(frozen=True, slots=True)
class Series:
    """One candle series: (exchange, symbol, timeframe)."""

    exchange: str
    symbol: str
    timeframe: str

    @property
    def base(self) -> str:
        """The asset of the market (`BTC` of `BTC/USDT`)."""
        return self.symbol.split("/")[0]

    def __str__(self) -> str:
        return f"{self.exchange}:{self.symbol}:{self.timeframe}"


def series_key(series: Series) -> dict[str, str]:
    """The series' bind parameters."""
    return {"exchange": series.exchange, "symbol": series.symbol, "timeframe": series.timeframe}


@dataclass(frozen=True, slots=True)
class StaleMark:
    """The series' feature rows are stale from `since` on; `marks` says which mark."""

    since: int
    marks: int


_CANDLES = RECORD_TABLES[Candle]
_SERIES_CANDLES = and_(
    _CANDLES.c.exchange == bindparam("exchange"),
    _CANDLES.c.symbol == bindparam("symbol"),
    _CANDLES.c.timeframe == bindparam("timeframe"),
)
_NEWEST_CANDLE = (
    select(_CANDLES.c.ts).where(_SERIES_CANDLES).order_by(_CANDLES.c.ts.desc()).limit(1)
)
_STORED_CANDLES = select_records(Candle).where(
    _SERIES_CANDLES, _CANDLES.c.ts >= bindparam("low"), _CANDLES.c.ts <= bindparam("high")
)
_STALE_KEY = ("exchange", "symbol", "timeframe")
_STALE_ROW = and_(*(features_stale.c[name] == bindparam(name) for name in _STALE_KEY))
STALE_MARK = select(features_stale.c.since_ts, features_stale.c.marks).where(_STALE_ROW)
"""The series' pending mark, bound by `series_key`: (since_ts, marks), or no row."""


def mark_late_candles(conn: Connection, candles: Sequence[Candle]) -> None:
    """Before `candles` are written: mark each series where one of them lands at or
    before its newest stored candle and is new or changed (a gap filled, a candle
    corrected), from the oldest such candle on. Candles appended after the newest
    stored one, and candles written again as they are, mark nothing."""
    by_series: dict[Series, list[Candle]] = {}
    for candle in candles:
        by_series.setdefault(Series(candle.exchange, candle.symbol, candle.timeframe), []).append(
            candle
        )
    for series, batch in by_series.items():
        since = _oldest_late(conn, series, batch)
        if since is not None:
            _mark_stale(conn, series, since)


def _oldest_late(conn: Connection, series: Series, batch: list[Candle]) -> int | None:
    newest = conn.execute(_NEWEST_CANDLE, series_key(series)).scalar()
    inside = sorted((c for c in batch if newest is not None and c.ts <= newest), key=_open_ts)
    if not inside:
        return None
    params = {**series_key(series), "low": inside[0].ts, "high": inside[-1].ts}
    stored = {row.ts: Candle(*row) for row in conn.execute(_STORED_CANDLES, params)}
    return next((c.ts for c in inside if stored.get(c.ts) != c), None)


def _open_ts(candle: Candle) -> int:
    return candle.ts


def _mark_stale(conn: Connection, series: Series, since: int) -> None:
    """One statement, so concurrent writers keep the oldest mark."""
    table = features_stale
    values = {**series_key(series), "since_ts": since, "marks": 1}
    changes = {
        "since_ts": case((table.c.since_ts < since, table.c.since_ts), else_=literal(since)),
        "marks": table.c.marks + 1,
    }
    conn.execute(dialect_for(conn).upsert(table, values, _STALE_KEY, changes))


def stale_mark(conn: Connection, series: Series) -> StaleMark | None:
    """The series' pending mark, if any."""
    row = conn.execute(STALE_MARK, series_key(series)).first()
    return None if row is None else StaleMark(int(row[0]), int(row[1]))


def clear_stale(conn: Connection, series: Series, mark: StaleMark) -> None:
    """Drop the mark acted on; a mark made since (a newer count) stays for the next run."""
    statement = delete(features_stale).where(_STALE_ROW, features_stale.c.marks == mark.marks)
    conn.execute(statement, series_key(series))
