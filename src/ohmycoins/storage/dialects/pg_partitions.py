"""PostgreSQL's monthly partitions of the big tables: candles, trades, tickers, order books.

Each table is declaratively partitioned by RANGE of `ts`, one partition a month
(`trades_p202612` holds December 2026), plus a DEFAULT partition that catches a row of
a month with no partition yet (a backfill of old history), so a write never fails.
Candles are first partitioned by LIST of `timeframe` (`candles_tf_1m`, …, and
`candles_tf_other` for a timeframe not in `TIMEFRAMES`), each of those by month: a
timeframe's retention then drops whole months of that timeframe only.

    candles (LIST timeframe) ── candles_tf_1m (RANGE ts) ── candles_tf_1m_p202612
                                                          └ candles_tf_1m_default
    trades (RANGE ts) ── trades_p202612, …, trades_default

A primary key of a partitioned table must hold the partition key: candles, tickers and
order books have `ts` in their natural key already; trades get (exchange, symbol,
trade_id, ts), and their writes stay idempotent because the write path checks the
natural key (exchange, symbol, trade_id) itself before inserting (see `postgres.py`).

`ensure_months` creates the months ahead (the retention job calls it on schedule) and
moves any rows the DEFAULT partition caught into a partition of their month.
Retention (`expire`) drops whole months that end at or before the cutoff, and deletes
only what the DEFAULT partition holds below it.

Where the TimescaleDB extension is installed, the migration makes hypertables with
monthly chunks and compression instead (`make_hypertable`); retention then drops whole
chunks (`drop_chunks`) where the table's retention covers all its rows, and deletes
per timeframe on candles (chunks hold every timeframe).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, func, select, text

from ohmycoins.errors import StorageError
from ohmycoins.storage.dialects import Expired, delete_before
from ohmycoins.timeframes import TIMEFRAMES, datetime_ms

PARTITIONED: dict[str, str | None] = {
    "candles": "timeframe",
    "trades": None,
    "tickers": None,
    "orderbooks": None,
}
"""Tables partitioned by month, with the column of their LIST level (None: none)."""

MONTHS_AHEAD = 3
"""Months of partitions kept ready past the current one."""

MONTH_MS_MAX = 31 * 86_400_000
_MONTH_NAME = re.compile(r"_p(\d{4})(\d{2})$")
_CHUNK_MS = 30 * 86_400_000
_MONTH_MS = (
    "CAST(extract(epoch FROM date_trunc('month', to_timestamp(ts / 1000.0) AT TIME ZONE 'UTC'))"
    " * 1000 AS bigint)"
)
"""SQL: the start of the UTC month of `ts`, epoch ms."""


def month_start(ts: int) -> int:
    """Epoch ms of the first instant of the UTC month holding `ts`."""
    moment = datetime.fromtimestamp(ts / 1000, UTC)
    return datetime_ms(datetime(moment.year, moment.month, 1, tzinfo=UTC))


def next_month(start: int) -> int:
    return month_start(start + MONTH_MS_MAX)


def month_label(start: int) -> str:
    moment = datetime.fromtimestamp(start / 1000, UTC)
    return f"{moment.year:04d}{moment.month:02d}"


def range_parents(table: str, timeframe: str | None = None) -> list[str]:
    """The RANGE-partitioned tables of `table` (of one timeframe of candles)."""
    if PARTITIONED[table] is None:
        return [table]
    frames = [timeframe] if timeframe is not None else list(TIMEFRAMES)
    return [f"{table}_tf_{tf}" for tf in frames if tf in TIMEFRAMES]


def layout(conn: Connection, table: str) -> str:
    """How `table` is stored: `partitioned`, `hypertable` or `plain`."""
    kind = conn.execute(
        text("SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass(:t)"), {"t": table}
    ).scalar()
    if kind == "p":
        return "partitioned"
    if kind is not None and _is_hypertable(conn, table):
        return "hypertable"
    return "plain"


def _is_hypertable(conn: Connection, table: str) -> bool:
    if not timescale_installed(conn):
        return False
    query = text(
        "SELECT 1 FROM timescaledb_information.hypertables "
        "WHERE hypertable_name = :t AND hypertable_schema = current_schema()"
    )
    return conn.execute(query, {"t": table}).first() is not None


def timescale_installed(conn: Connection) -> bool:
    query = text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
    return conn.execute(query).first() is not None


def partitions_of(conn: Connection, parent: str) -> list[str]:
    """The names of the direct partitions of `parent`."""
    query = text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(:p) ORDER BY c.relname"
    )
    return [row[0] for row in conn.execute(query, {"p": parent})]


def all_partitions(conn: Connection) -> set[str]:
    """Every partition (at any level) of the partitioned tables: not tables of the schema."""
    names: set[str] = set()
    todo = list(PARTITIONED)
    while todo:
        children = partitions_of(conn, todo.pop())
        names.update(children)
        todo += children
    return names


def monthly(conn: Connection, parent: str) -> dict[int, str]:
    """The month partitions of a RANGE parent, by the start of their month."""
    months = {}
    for name in partitions_of(conn, parent):
        found = _MONTH_NAME.search(name)
        if found:
            year, month = int(found[1]), int(found[2])
            months[datetime_ms(datetime(year, month, 1, tzinfo=UTC))] = name
    return months


# --- making a table partitioned (the migration) ---------------------------------------


def partition_existing(conn: Connection, table: Table, key: Sequence[str], now: int) -> int:
    """Move `table` (plain) to a partitioned table of the same name without losing a row:
    rename it, create the partitioned one and its partitions (every month holding a
    row, and the months ahead), copy every row, compare the counts, drop the old one.
    Returns the rows moved."""
    name, old = table.name, _set_aside(conn, table, "unpartitioned")
    create_partitioned(conn, table, key, like=old)
    months = _months_of(conn, old, PARTITIONED[name])
    for parent in range_parents(name):
        wanted = months.get(parent, set()) | set(_ahead(now))
        for start in sorted(wanted):
            _create_month(conn, parent, start)
    conn.exec_driver_sql(f"INSERT INTO {name} SELECT * FROM {old}")
    before = conn.exec_driver_sql(f"SELECT count(*) FROM {old}").scalar_one()
    after = conn.exec_driver_sql(f"SELECT count(*) FROM {name}").scalar_one()
    if before != after:
        raise StorageError(f"partitioning {name} moved {after} of its {before} rows")
    conn.exec_driver_sql(f"DROP TABLE {old}")
    return int(after)


def create_partitioned(conn: Connection, table: Table, key: Sequence[str], like: str) -> None:
    """The partitioned `table` shaped like the table `like`, its primary key (`key` plus
    `ts`), its indexes, its LIST partitions and DEFAULT partitions."""
    name, listed = table.name, PARTITIONED[table.name]
    by = f"LIST ({listed})" if listed else "RANGE (ts)"
    conn.exec_driver_sql(f"CREATE TABLE {name} (LIKE {like} INCLUDING DEFAULTS) PARTITION BY {by}")
    _key_and_indexes(conn, table, partition_key(key))
    if listed:
        for timeframe in TIMEFRAMES:
            conn.exec_driver_sql(
                f"CREATE TABLE {name}_tf_{timeframe} PARTITION OF {name} "
                f"FOR VALUES IN ('{timeframe}') PARTITION BY RANGE (ts)"
            )
        conn.exec_driver_sql(f"CREATE TABLE {name}_tf_other PARTITION OF {name} DEFAULT")
    for parent in range_parents(name):
        conn.exec_driver_sql(f"CREATE TABLE {parent}_default PARTITION OF {parent} DEFAULT")


def partition_key(key: Sequence[str]) -> list[str]:
    """A natural key as a partitioned table's primary key: with `ts`."""
    return [*key, "ts"] if "ts" not in key else list(key)


def unpartition(conn: Connection, table: Table) -> None:
    """Back to one plain table of the same name with the natural key (the downgrade)."""
    name, old = table.name, _set_aside(conn, table, "partitioned")
    conn.exec_driver_sql(f"CREATE TABLE {name} (LIKE {old} INCLUDING DEFAULTS)")
    _key_and_indexes(conn, table, [column.name for column in table.primary_key.columns])
    conn.exec_driver_sql(f"INSERT INTO {name} SELECT * FROM {old}")
    conn.exec_driver_sql(f"DROP TABLE {old} CASCADE")


def _set_aside(conn: Connection, table: Table, what: str) -> str:
    """Rename `table` to `<table>_<what>`, its primary key and indexes with it, so a new
    table can take its names; returns the new name."""
    name, old = table.name, f"{table.name}_{what}"
    conn.exec_driver_sql(f"ALTER TABLE {name} RENAME TO {old}")
    conn.exec_driver_sql(f"ALTER TABLE {old} RENAME CONSTRAINT pk_{name} TO pk_{old}")
    for index in table.indexes:
        conn.exec_driver_sql(f"ALTER INDEX IF EXISTS {index.name} RENAME TO {index.name}_old")
    return old


def _key_and_indexes(conn: Connection, table: Table, key: Sequence[str]) -> None:
    """The primary key `key` and the indexes of `table` on the table of its name."""
    name = table.name
    columns = ", ".join(key)
    conn.exec_driver_sql(f"ALTER TABLE {name} ADD CONSTRAINT pk_{name} PRIMARY KEY ({columns})")
    for index in table.indexes:
        on = ", ".join(column.name for column in index.columns)
        conn.exec_driver_sql(f"CREATE INDEX {index.name} ON {name} ({on})")


def make_hypertable(conn: Connection, table: Table, key: Sequence[str]) -> None:
    """TimescaleDB instead of declarative partitions: a hypertable with monthly chunks
    of the integer `ts`, its rows moved in, and compression segmented by series."""
    name = table.name
    columns = ", ".join(partition_key(key))
    conn.exec_driver_sql(f"ALTER TABLE {name} DROP CONSTRAINT pk_{name}")
    conn.exec_driver_sql(f"ALTER TABLE {name} ADD CONSTRAINT pk_{name} PRIMARY KEY ({columns})")
    conn.execute(
        text(
            "SELECT create_hypertable(CAST(:t AS regclass), 'ts', "
            "chunk_time_interval => CAST(:chunk AS bigint), migrate_data => true)"
        ),
        {"t": name, "chunk": _CHUNK_MS},
    )
    segments = ", ".join(c for c in ("exchange", "symbol", PARTITIONED[name]) if c)
    conn.exec_driver_sql(
        f"ALTER TABLE {name} SET (timescaledb.compress, "
        f"timescaledb.compress_segmentby = '{segments}')"
    )


def _months_of(conn: Connection, table: str, listed: str | None) -> dict[str, set[int]]:
    """The months holding rows of a plain table, by the RANGE parent they go to."""
    query = f"SELECT DISTINCT {'' if not listed else listed + ', '}{_MONTH_MS}"
    rows = conn.exec_driver_sql(f"{query} FROM {table}").all()
    found: dict[str, set[int]] = {}
    for row in rows:
        if listed:
            if row[0] not in TIMEFRAMES:
                continue
            parent = f"{table.removesuffix('_unpartitioned')}_tf_{row[0]}"
        else:
            parent = table.removesuffix("_unpartitioned")
        found.setdefault(parent, set()).add(int(row[-1]))
    return found


def _ahead(now: int) -> Iterator[int]:
    start = month_start(now)
    for _ in range(MONTHS_AHEAD + 1):
        yield start
        start = next_month(start)


# --- on schedule: months ahead, rows the default caught ---------------------------------


def ensure_months(conn: Connection, table: str, now: int) -> list[str]:
    """Create the partitions of the current month and `MONTHS_AHEAD` after it, and one
    for every month of the rows the DEFAULT partition caught (moving them in); returns
    the partitions created. Nothing on a table that is not partitioned."""
    if layout(conn, table) != "partitioned":
        return []
    created = []
    for parent in range_parents(table):
        have = monthly(conn, parent)
        caught = set(_default_months(conn, parent))
        for start in sorted((caught | set(_ahead(now))) - set(have)):
            if start in caught:
                created.append(_move_from_default(conn, parent, start))
            else:
                created.append(_create_month(conn, parent, start))
    return created


def _create_month(conn: Connection, parent: str, start: int) -> str:
    name = f"{parent}_p{month_label(start)}"
    conn.exec_driver_sql(
        f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {parent} "
        f"FOR VALUES FROM ({start}) TO ({next_month(start)})"
    )
    return name


def _default_months(conn: Connection, parent: str) -> list[int]:
    """The months of the rows the DEFAULT partition caught."""
    rows = conn.exec_driver_sql(f"SELECT DISTINCT {_MONTH_MS} FROM {parent}_default").all()
    return sorted(int(row[0]) for row in rows)


def _move_from_default(conn: Connection, parent: str, start: int) -> str:
    """A month partition for rows the DEFAULT partition holds: the default is detached,
    the month created, its rows moved over, and the default attached again."""
    default, end = f"{parent}_default", next_month(start)
    conn.exec_driver_sql(f"ALTER TABLE {parent} DETACH PARTITION {default}")
    name = _create_month(conn, parent, start)
    within = f"ts >= {start} AND ts < {end}"
    conn.exec_driver_sql(f"INSERT INTO {name} SELECT * FROM {default} WHERE {within}")
    conn.exec_driver_sql(f"DELETE FROM {default} WHERE {within}")
    conn.exec_driver_sql(f"ALTER TABLE {parent} ATTACH PARTITION {default} DEFAULT")
    return name


# --- retention ---------------------------------------------------------------------------


def droppable(conn: Connection, table: str, cutoff: int, timeframe: str | None) -> list[str]:
    """The month partitions wholly before `cutoff` (of one timeframe of candles)."""
    if layout(conn, table) != "partitioned":
        return []
    return _months_before(conn, table, cutoff, timeframe)


def _months_before(conn: Connection, table: str, cutoff: int, timeframe: str | None) -> list[str]:
    """`droppable` of a table known to be partitioned."""
    return [
        name
        for parent in range_parents(table, timeframe)
        for start, name in sorted(monthly(conn, parent).items())
        if next_month(start) <= cutoff
    ]


def expire(
    conn: Connection,
    table: Table,
    column: ColumnElement[Any],
    cutoff: int,
    timeframe: str | None,
) -> Expired:
    """Remove the rows of `table` (of one timeframe) before `cutoff`: whole partitions
    (or chunks) dropped, and a DELETE of what is left below it (rows the DEFAULT
    partition holds; a month only partly before the cutoff is kept whole)."""
    kind = layout(conn, table.name)
    dropped: list[str] = []
    rows = 0
    if kind == "partitioned":
        for name in _months_before(conn, table.name, cutoff, timeframe):
            rows += conn.exec_driver_sql(f"SELECT count(*) FROM {name}").scalar_one()
            conn.exec_driver_sql(f"DROP TABLE {name}")
            dropped.append(name)
    elif kind == "hypertable" and timeframe is None:
        before = select(func.count()).select_from(table).where(column < cutoff)
        rows = conn.execute(before).scalar_one()
        chunks = conn.execute(
            text("SELECT drop_chunks(CAST(:t AS regclass), older_than => CAST(:c AS bigint))"),
            {"t": table.name, "c": cutoff},
        ).all()
        dropped += [str(chunk[0]) for chunk in chunks]
        delete_before(conn, table, column, cutoff, None)
        return Expired(rows, tuple(dropped))
    rows += delete_before(conn, table, column, cutoff, timeframe)
    return Expired(rows, tuple(dropped))
