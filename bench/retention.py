"""Retention: whole monthly partitions dropped beside the same rows DELETEd, and rollups.

    python bench/retention.py [--candles 1000000] [--symbols 4] [--postgres URL]

`--candles` 1m candles of `--symbols` series, one a minute (1,000,000 over 4 series is
about six months), are loaded into fresh databases; retention keeps the last 30 days.
It prints, each beside a baseline measured in the same run:
- PostgreSQL: the removal as `omc retention run` does it (the months before the cutoff
  dropped whole) against a DELETE of the same rows in an identical schema;
- the whole retention run (each day rolled up into 1h and 1d, written through the
  upsert path, then the months dropped; on SQLite a DELETE), in detail rows per second;
- the rollup computation alone (`enrich.rollups`) against the database's own GROUP BY
  of the same hours (PostgreSQL) in rows per second.
The issue asks for 10M candles: `--candles 10000000` (minutes of a run here; the
default is smaller so that it fits in a few).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scratch import postgres_schema
from bench.storage import make_candles
from sqlalchemy import text

from ohmycoins.collectors.retention import run_retention
from ohmycoins.enrich.rollups import candle_rollups
from ohmycoins.records import Candle
from ohmycoins.settings import DEFAULT_RETENTION, Settings
from ohmycoins.storage.database import Database
from ohmycoins.storage.retention import Scope, cutoff_of, ensure_partitions, expire
from ohmycoins.storage.upsert import upsert
from ohmycoins.timeframes import DAY_MS, floor_ts

T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
KEEP_DAYS = 30
BATCH = 200_000


def settings() -> Settings:
    """Only 1m candles expire (after `KEEP_DAYS`); everything else is kept."""
    kept = dict.fromkeys(DEFAULT_RETENTION, "forever")
    return Settings(retention={**kept, "candles_1m": f"{KEEP_DAYS}d"})


def timed(action: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def load(db: Database, candles: list[Candle]) -> None:
    for start in range(0, len(candles), BATCH):
        upsert(db, candles[start : start + BATCH])


def day_cutoff(now: int) -> int:
    return floor_ts(now - KEEP_DAYS * DAY_MS, "1d")


def full_run(db: Database, now: int, detail: int) -> None:
    seconds, report = timed(lambda: asyncio.run(run_retention(db, settings(), now=now)))
    rows = report.rows  # type: ignore[attr-defined]
    rollups = report.rollups  # type: ignore[attr-defined]
    print(
        f"  retention run: {rows:,} of {detail:,} detail rows rolled up and removed, "
        f"{rollups:,} rollups written, in {seconds:.2f} s = {rows / seconds:,.0f} rows/s",
        flush=True,
    )


def bench_sqlite(candles: list[Candle], now: int, folder: str) -> None:
    print("sqlite")
    db = Database(f"sqlite:///{folder}/run.db")
    db.upgrade()
    load(db, candles)
    full_run(db, now, len(candles))
    db.dispose()


def bench_postgres(candles: list[Candle], now: int, base_url: str) -> None:
    print("postgresql")
    cutoff = day_cutoff(now)
    dropping, drop_schema = postgres_schema(base_url)
    deleting, drop_delete = postgres_schema(base_url)
    running, drop_run = postgres_schema(base_url)
    try:
        dbs = [Database(url) for url in (dropping, deleting, running)]
        for db in dbs:
            db.upgrade()
            load(db, candles)
            with db.engine.begin() as conn:
                ensure_partitions(conn, now)
        drop_db, delete_db, run_db = dbs
        compare_removal(drop_db, delete_db, cutoff)
        compare_rollups(candles, delete_db)
        full_run(run_db, now, len(candles))
        for db in dbs:
            db.dispose()
    finally:
        drop_schema()
        drop_delete()
        drop_run()


def compare_removal(drop_db: Database, delete_db: Database, cutoff: int) -> None:
    scope = Scope("candles_1m", "candles", "1m")

    with drop_db.engine.connect() as conn:  # where partitions are dropped: a month's start
        cutoff = cutoff_of(conn, scope, cutoff)

    def drop() -> object:
        with drop_db.engine.begin() as conn:
            return expire(conn, scope, cutoff)

    def delete() -> object:
        with delete_db.engine.begin() as conn:
            statement = text("DELETE FROM candles WHERE timeframe = '1m' AND ts < :cutoff")
            return conn.execute(statement, {"cutoff": cutoff}).rowcount

    drop_s, expired = timed(drop)
    delete_s, deleted = timed(delete)
    rows = expired.rows  # type: ignore[attr-defined]
    months = len(expired.partitions)  # type: ignore[attr-defined]
    assert rows == deleted, (rows, deleted)
    print(
        f"  removal of {rows:,} rows: {months} partitions dropped in {drop_s:.3f} s | "
        f"DELETE {delete_s:.3f} s ({delete_s / drop_s:,.0f}x the drop)",
        flush=True,
    )


def compare_rollups(candles: list[Candle], db: Database) -> None:
    """Hourly rollups of the candles still stored in `db` (after the cutoff)."""
    ours_s, hours = timed(lambda: candle_rollups(candles, "1h"))
    query = text(
        "SELECT exchange, symbol, ts / 3600000, (array_agg(open ORDER BY ts))[1], max(high), "
        "min(low), (array_agg(close ORDER BY ts DESC))[1], sum(volume), count(*) "
        "FROM candles WHERE timeframe = '1m' GROUP BY 1, 2, 3"
    )
    with db.engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM candles WHERE timeframe = '1m'")).scalar()
        sql_s, _ = timed(lambda: conn.execute(query).all())
    print(
        f"  rollup 1m -> 1h, in Python: {len(candles) / ours_s:,.0f} rows/s "
        f"({len(hours):,} hours) | GROUP BY in PostgreSQL: {(stored or 0) / sql_s:,.0f} rows/s "
        f"({stored:,} rows)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, default=1_000_000)
    parser.add_argument("--symbols", type=int, default=4)
    parser.add_argument("--postgres", default=os.environ.get("OMC_TEST_POSTGRES_URL"))
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    candles = make_candles(args.candles, args.symbols, T0)
    now = candles[-1].ts + 60_000
    days = (now - T0) / DAY_MS
    print(f"{args.candles:,} 1m candles, {args.symbols} series, {days:.0f} days; keep {KEEP_DAYS}")
    with tempfile.TemporaryDirectory() as folder:
        if not args.skip_sqlite:
            bench_sqlite(candles, now, folder)
    if args.postgres:
        bench_postgres(candles, now, args.postgres)


if __name__ == "__main__":
    main()
