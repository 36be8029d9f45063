"""Backup and restore throughput: `omc backup` / `omc restore` beside the raw tools.

    python bench/backup.py [--rows 1000000] [--postgres URL]

Fills a database with candles (SQLite, and PostgreSQL when a URL is given or
OMC_TEST_POSTGRES_URL is set), then prints MB/s (of the backup file) of:
- ohmycoins backup: `storage.backup.backup` (the snapshot, the copy, the row counts
  of the manifest, its sha256) / raw: `sqlite3 DB ".backup FILE"` / `pg_dump -Fc`;
- ohmycoins restore: `storage.backup.restore` (emptiness check, the load, every
  table's rows counted against the manifest) / raw: `sqlite3 DB ".restore FILE"` /
  `pg_restore` into an empty database;
and the ratio ohmycoins ÷ raw.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.storage import make_candles
from sqlalchemy import create_engine, make_url, text

from ohmycoins.storage.backup import backup, restore
from ohmycoins.storage.database import Database, engine_url
from ohmycoins.storage.upsert import upsert

BATCH = 100_000


def fill(db: Database, rows: int) -> None:
    db.upgrade()
    candles = make_candles(rows)
    for start in range(0, rows, BATCH):
        upsert(db, candles[start : start + BATCH])


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def line(what: str, size: int, ours: float, raw: float) -> None:
    """MB/s of the backup file (a PostgreSQL dump is compressed: rows/s say more)."""
    mb = size / 1e6
    rows = int(what.split(", ")[1].split()[0].replace(",", ""))
    print(
        f"{what:<36} file {mb:6.1f} MB   ohmycoins {mb / ours:6.1f} MB/s "
        f"{rows / ours:9,.0f} rows/s   raw {mb / raw:6.1f} MB/s {rows / raw:9,.0f} rows/s   "
        f"ohmycoins/raw {raw / ours:4.2f}"
    )


def bench_sqlite(rows: int, folder: Path) -> None:
    source = Database(f"sqlite:///{folder}/source.db")
    fill(source, rows)
    stamp = iter(range(10**6))
    taken: list[Path] = []
    ours = timed(lambda: taken.append(backup(source, folder / "ours", 1000 * next(stamp))[0]))
    raw_file = folder / "raw.db"
    raw = timed(
        lambda: subprocess.run(
            ["sqlite3", f"{folder}/source.db", f".backup {raw_file}"], check=True
        )
    )
    line(f"SQLite backup, {rows:,} rows", taken[0].stat().st_size, ours, raw)
    target = Database(f"sqlite:///{folder}/target.db")
    ours = timed(lambda: restore(target, taken[0]))
    raw = timed(
        lambda: subprocess.run(
            ["sqlite3", f"{folder}/raw-target.db", f".restore {raw_file}"], check=True
        )
    )
    line(f"SQLite restore, {rows:,} rows", taken[0].stat().st_size, ours, raw)
    source.dispose()
    target.dispose()


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(engine_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def libpq(url: str) -> dict[str, str]:
    parsed = make_url(url)
    env = {"PGHOST": parsed.host or "", "PGPORT": str(parsed.port or 5432)}
    env |= {"PGUSER": parsed.username or "", "PGDATABASE": parsed.database or ""}
    if parsed.password:
        env["PGPASSWORD"] = parsed.password
    return {**os.environ, **env}


def bench_postgres(server: str, rows: int, folder: Path) -> None:
    with fresh_database(server) as source_url, fresh_database(server) as ours_target, \
            fresh_database(server) as raw_target:  # fmt: skip
        source = Database(source_url)
        fill(source, rows)
        taken: list[Path] = []
        ours = timed(lambda: taken.append(backup(source, folder / "pg", 1000)[0]))
        raw_file = folder / "raw.dump"
        dump = ["pg_dump", "--format=custom", "--no-owner", f"--file={raw_file}"]
        raw = timed(lambda: subprocess.run(dump, env=libpq(source_url), check=True))
        line(f"PostgreSQL backup, {rows:,} rows", taken[0].stat().st_size, ours, raw)
        target = Database(ours_target)
        ours = timed(lambda: restore(target, taken[0]))
        load = ["pg_restore", "--no-owner", "--exit-on-error", "--single-transaction"]
        load += [f"--dbname={make_url(raw_target).database}", str(raw_file)]
        raw = timed(lambda: subprocess.run(load, env=libpq(raw_target), check=True))
        line(f"PostgreSQL restore, {rows:,} rows", taken[0].stat().st_size, ours, raw)
        source.dispose()
        target.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--postgres", default=os.environ.get("OMC_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        bench_sqlite(args.rows, Path(scratch))
        if args.postgres:
            bench_postgres(args.postgres, args.rows, Path(scratch))


if __name__ == "__main__":
    main()
