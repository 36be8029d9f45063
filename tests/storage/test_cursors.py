"""A series' stored state on both backends: cursor, listing, holes and missing candles."""

from __future__ import annotations

from ohmycoins.storage.cursors import (
    Hole,
    Missing,
    SeriesKey,
    forget_holes,
    read_cursor,
    read_holes,
    read_listing,
    read_missing,
    record_holes,
    replace_missing,
    write_cursor,
    write_listing,
)
from ohmycoins.storage.database import Database

BTC = SeriesKey("binance", "candles", "BTC/USDT", "1m")
ETH = SeriesKey("binance", "candles", "ETH/USDT", "1m")


def test_the_listing_is_kept_apart_from_the_cursor(db: Database) -> None:
    with db.engine.begin() as conn:
        assert read_listing(conn, BTC) is None
        write_cursor(conn, BTC, 10, ts=600_000)
        write_listing(conn, BTC, 60_000, 10)
    with db.engine.connect() as conn:
        assert read_listing(conn, BTC) == 60_000 and read_cursor(conn, BTC) == (600_000, None)
        assert read_listing(conn, ETH) is None


def _hole(key: SeriesKey, start: int, checks: int) -> Hole:
    return Hole(key.source, key.symbol, key.timeframe, start, start + 60_000, 2, checks, 5)


def test_holes_are_replaced_and_missing_rows_are_per_series(db: Database) -> None:
    with db.engine.begin() as conn:
        record_holes(conn, [_hole(BTC, 0, 1), _hole(BTC, 600_000, 4), _hole(ETH, 0, 4)])
        replace_missing(conn, BTC, [Missing(120_000, 180_000, 2, 1, 99)])
        replace_missing(conn, ETH, [Missing(0, 0, 1, 3, 7)])
    with db.engine.begin() as conn:
        forget_holes(conn, BTC, [0])
        record_holes(conn, [_hole(BTC, 60_000, 2)])
        replace_missing(conn, BTC, [Missing(240_000, 240_000, 1, 2, 100)])
    with db.engine.connect() as conn:
        holes = read_holes(conn, "binance", "BTC/USDT", "1m")
        assert [(h.start_ts, h.checks) for h in holes] == [(60_000, 2), (600_000, 4)]
        assert read_holes(conn, "binance", "ETH/USDT") == [_hole(ETH, 0, 4)]
        assert read_missing(conn, BTC) == [Missing(240_000, 240_000, 1, 2, 100)]
        assert read_missing(conn, ETH) == [Missing(0, 0, 1, 3, 7)]
