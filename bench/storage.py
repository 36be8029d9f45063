"""Bulk upsert throughput: the project's path beside the raw driver's best path.

    python bench/storage.py [--rows 1000000] [--postgres URL] [--mysql URL] [--dataset trades]

For 1,000,000 candles and 1,000,000 trades on SQLite (and PostgreSQL or MySQL/MariaDB
when a URL is given or OMC_TEST_POSTGRES_URL / OMC_TEST_MYSQL_URL is set) it prints
rows/s of:
- raw: sqlite3 `executemany` of prepared tuples in one transaction / psycopg binary
  COPY of prepared tuples / mysqlclient `executemany` of a plain multi-row INSERT of
  prepared tuples (no conflict handling: the fastest a driver writes), and on MySQL
  also `LOAD DATA LOCAL INFILE` of the same rows as a tab-separated file;
- ohmycoins: `storage.upsert(records)` from domain records (idempotent: conflict
  handling, decimal conversion, dedupe by key);
- ohmycoins + checks: `ingest.store(records)`, validation included;
and the ratio ohmycoins ÷ raw (goal ≥ 0.50). Peak RSS is printed at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scratch import mysql_database, postgres_schema
from sqlalchemy import make_url, text

from ohmycoins.collectors.ingest import store
from ohmycoins.records import Candle, Record, Trade
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import RECORD_TABLES
from ohmycoins.storage.upsert import upsert

T0 = 1_600_000_020_000 - 1_600_000_020_000 % 60_000


def make_candles(n: int, symbols: int = 10, start: int = T0) -> list[Candle]:
    """`n` 1m candles of `symbols` markets, minute after minute from `start`."""
    names = [f"C{i}/USDT" for i in range(symbols)]
    out = []
    for i in range(n):
        price = Decimal(20_000 + i % 1000) / 100
        out.append(
            Candle(
                "binance",
                names[i % symbols],
                "1m",
                start + (i // symbols) * 60_000,
                price,
                price + Decimal("0.5"),
                price - Decimal("0.5"),
                price,
                Decimal(i % 997) / 1000,
            )
        )
    return out


def make_trades(n: int) -> list[Trade]:
    return [
        Trade(
            "binance",
            "BTC/USDT",
            str(i),
            T0 + i,
            Decimal(30_000 + i % 500) / 10,
            Decimal(i % 991 + 1) / 10_000,
            "buy" if i % 2 else "sell",
        )
        for i in range(n)
    ]


def raw_rows(records: list[Record]) -> list[tuple[object, ...]]:
    """Prepared tuples in the stored form (decimals as text), ready for the driver."""
    return [tuple(str(v) if isinstance(v, Decimal) else v for v in vars_of(r)) for r in records]


def vars_of(record: Record) -> tuple[object, ...]:
    return tuple(getattr(record, field.name) for field in dataclasses.fields(record))


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def sqlite_raw(records: list[Record], rows: list[tuple[object, ...]], folder: str) -> float:
    path = Path(folder) / f"raw-{uuid.uuid4().hex}.db"
    seed = Database(f"sqlite:///{path}")
    seed.upgrade()
    seed.dispose()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    table = RECORD_TABLES[type(records[0])].name
    marks = ", ".join("?" for _ in rows[0])

    def write() -> None:
        with conn:
            conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)

    seconds = timed(write)
    conn.close()
    return seconds


def postgres_raw(records: list[Record], rows: list[tuple[object, ...]], url: str) -> float:
    import psycopg

    table = RECORD_TABLES[type(records[0])]
    types = [
        "numeric"
        if str(c.type) == "NUMERIC" or "Decimal" in type(c.type).__name__
        else {"BIGINT": "int8", "TEXT": "text"}[str(c.type.compile())]
        for c in table.columns
    ]
    native = [
        tuple(Decimal(v) if t == "numeric" else v for v, t in zip(row, types, strict=True))
        for row in rows
    ]
    with psycopg.connect(url) as conn:
        conn.execute(f"TRUNCATE {table.name}")

        def write() -> None:
            with (
                conn.cursor() as cur,
                cur.copy(f"COPY {table.name} FROM STDIN (FORMAT BINARY)") as copy,
            ):
                copy.set_types(types)
                for row in native:
                    copy.write_row(row)
            conn.commit()

        seconds = timed(write)
        conn.execute(f"TRUNCATE {table.name}")
        conn.commit()
    return seconds


def mysql_raw(
    records: list[Record], rows: list[tuple[object, ...]], url: str, folder: str
) -> tuple[float, float]:
    """Seconds of a plain multi-row INSERT (`executemany`) and of `LOAD DATA LOCAL
    INFILE` of the same rows, each into the emptied table in one transaction."""
    import MySQLdb

    table = RECORD_TABLES[type(records[0])].name
    parts = make_url(url)
    conn = MySQLdb.connect(
        host=parts.host or "127.0.0.1",
        port=parts.port or 3306,
        user=parts.username or "root",
        password=parts.password or "",
        database=parts.database or "",
        charset="utf8mb4",
        local_infile=True,
    )
    cursor = conn.cursor()
    marks = ", ".join("%s" for _ in rows[0])
    path = Path(folder) / f"{table}.tsv"

    def insert() -> None:
        cursor.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        conn.commit()

    def load() -> None:
        with path.open("w") as file:
            file.writelines("\t".join(map(str, row)) + "\n" for row in rows)
        cursor.execute(f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE {table}")
        conn.commit()

    cursor.execute(f"DELETE FROM {table}")
    insert_s = timed(insert)
    cursor.execute(f"DELETE FROM {table}")
    conn.commit()
    load_s = timed(load)
    cursor.execute(f"DELETE FROM {table}")
    conn.commit()
    conn.close()
    return insert_s, load_s


def fresh_sqlite(folder: str) -> Database:
    db = Database(f"sqlite:///{Path(folder) / f'omc-{uuid.uuid4().hex}.db'}")
    db.upgrade()
    return db


def report(name: str, backend: str, n: int, raw_s: float, ours_s: float, checked_s: float) -> None:
    raw, ours, checked = n / raw_s, n / ours_s, n / checked_s
    print(
        f"{name:8} {backend:10} raw {raw:>10,.0f} rows/s | ohmycoins {ours:>10,.0f} rows/s "
        f"(ratio {ours / raw:.2f}) | with checks {checked:>10,.0f} rows/s "
        f"(ratio {checked / raw:.2f})",
        flush=True,
    )


def bench_sqlite(name: str, records: list[Record], folder: str, now: int) -> None:
    raw_s = sqlite_raw(records, raw_rows(records), folder)
    ours = fresh_sqlite(folder)
    ours_s = timed(lambda: upsert(ours, records))
    checked = fresh_sqlite(folder)
    checked_s = timed(lambda: store(checked, records, source="bench", at_ms=now))
    report(name, "sqlite", len(records), raw_s, ours_s, checked_s)


def bench_postgres(name: str, records: list[Record], base_url: str, now: int) -> None:
    url, drop = postgres_schema(base_url)
    table = RECORD_TABLES[type(records[0])].name
    try:
        db = Database(url)
        db.upgrade()
        raw_s = postgres_raw(records, raw_rows(records), url)
        ours_s = timed(lambda: upsert(db, records))
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {table}"))
        checked_s = timed(lambda: store(db, records, source="bench", at_ms=now))
        report(name, "postgresql", len(records), raw_s, ours_s, checked_s)
        db.dispose()
    finally:
        drop()


def bench_mysql(name: str, records: list[Record], base_url: str, folder: str, now: int) -> None:
    url, drop = mysql_database(base_url)
    table = RECORD_TABLES[type(records[0])].name
    try:
        db = Database(url)
        db.upgrade()
        raw_s, load_s = mysql_raw(records, raw_rows(records), url, folder)
        ours_s = timed(lambda: upsert(db, records))
        with db.engine.begin() as conn:
            conn.execute(text(f"DELETE FROM {table}"))
        checked_s = timed(lambda: store(db, records, source="bench", at_ms=now))
        report(name, "mysql", len(records), raw_s, ours_s, checked_s)
        print(
            f"{name:8} {'mysql':10} LOAD DATA LOCAL INFILE {len(records) / load_s:>10,.0f} rows/s"
        )
        db.dispose()
    finally:
        drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--postgres", default=os.environ.get("OMC_TEST_POSTGRES_URL"))
    parser.add_argument("--mysql", default=os.environ.get("OMC_TEST_MYSQL_URL"))
    parser.add_argument(
        "--dataset", action="append", choices=("candles", "trades"), help="default: both"
    )
    args = parser.parse_args()
    datasets = args.dataset or ["candles", "trades"]
    now = T0 + args.rows * 60_000
    print(f"{args.rows:,} rows per dataset")
    with tempfile.TemporaryDirectory() as folder:
        for name, make in (("candles", make_candles), ("trades", make_trades)):
            if name not in datasets:
                continue
            records: list[Record] = list(make(args.rows))
            bench_sqlite(name, records, folder, now)
            if args.postgres:
                bench_postgres(name, records, args.postgres, now)
            if args.mysql:
                bench_mysql(name, records, args.mysql, folder, now)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak_mb:,.0f} MiB")


if __name__ == "__main__":
    main()
