"""PostgreSQL's monthly partitions: the migration moves every row over, months are made
ahead, retention drops whole months, reads across months are unchanged, and writes stay
idempotent with `ts` in the trades' primary key."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from ohmycoins.records import Candle, Trade
from ohmycoins.storage.database import MIGRATIONS, Database
from ohmycoins.storage.dialects import pg_partitions
from ohmycoins.storage.queries import read_records
from ohmycoins.storage.retention import Scope, ensure_partitions, expire, partitions_before
from ohmycoins.storage.upsert import upsert, upsert_records
from ohmycoins.timeframes import datetime_ms
from tests import factories as f

JAN = datetime_ms(datetime(2024, 1, 1, tzinfo=UTC))
FEB = datetime_ms(datetime(2024, 2, 1, tzinfo=UTC))
MAR = datetime_ms(datetime(2024, 3, 1, tzinfo=UTC))
APR = datetime_ms(datetime(2024, 4, 1, tzinfo=UTC))
MINUTE = 60_000

_COLUMNS = {
    "candles": "exchange, symbol, timeframe, ts, open, high, low, close, volume",
    "trades": "exchange, symbol, trade_id, ts, price, amount, side",
    "tickers": "exchange, symbol, ts, last, bid, ask",
    "orderbooks": "exchange, symbol, ts, bids, asks, mid, spread",
}
_ORDER = {
    "candles": "exchange, symbol, timeframe, ts",
    "trades": "exchange, symbol, trade_id",
    "tickers": "exchange, symbol, ts",
    "orderbooks": "exchange, symbol, ts",
}


def _migrate(db: Database, revision: str, action: Callable[..., None] = command.upgrade) -> None:
    with db.engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        action(config, revision)


def _times(rng: random.Random, count: int) -> list[int]:
    """Times spread over January to March 2024, with some on the month boundaries."""
    edges = [FEB - MINUTE, FEB, MAR - MINUTE, MAR]
    return edges + [
        JAN + rng.randrange(0, MAR + 20 * 86_400_000 - JAN) // MINUTE * MINUTE for _ in range(count)
    ]


def _fill_plain_tables(conn: Connection) -> None:
    """Rows written as the schema before 0006 had them (no rollup columns yet)."""
    rng = random.Random(6)
    candle = "INSERT INTO candles VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
    rows = {
        (ex, sym, tf, ts, "1.5", "2", "1", "1.25", None if ts % 3 else "0.000000001")
        for ts in _times(rng, 300)
        for ex, sym, tf in (
            ("binance", "BTC/USDT", "1m"),
            ("binance", "ETH/USDT", "1h"),
            ("kraken", "BTC/USD", "3d"),
        )
    }
    conn.exec_driver_sql(candle, list(rows))
    trades = [
        ("binance", "BTC/USDT", str(i), ts, "100.5", "0.25", "buy")
        for i, ts in enumerate(_times(rng, 200))
    ]
    conn.exec_driver_sql("INSERT INTO trades VALUES (%s, %s, %s, %s, %s, %s, %s)", trades)
    tickers = [("binance", "BTC/USDT", ts, "100", "99", "101") for ts in set(_times(rng, 100))]
    conn.exec_driver_sql(
        "INSERT INTO tickers (exchange, symbol, ts, last, bid, ask) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        tickers,
    )
    books = [
        ("binance", "BTC/USDT", ts, '[["99","1"]]', '[["101","2"]]', "100", "2")
        for ts in set(_times(rng, 100))
    ]
    conn.exec_driver_sql(
        "INSERT INTO orderbooks (exchange, symbol, ts, bids, asks, mid, spread) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        books,
    )


def _dump(conn: Connection) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the four tables, and a read across the February boundary."""
    dump = {
        table: [
            tuple(r)
            for r in conn.exec_driver_sql(f"SELECT {columns} FROM {table} ORDER BY {_ORDER[table]}")
        ]
        for table, columns in _COLUMNS.items()
    }
    across = (
        f"SELECT {_COLUMNS['candles']} FROM candles WHERE symbol = 'BTC/USDT' "
        f"AND ts >= {FEB - 10 * MINUTE} AND ts < {FEB + 10 * MINUTE} ORDER BY ts"
    )
    dump["across"] = [tuple(r) for r in conn.exec_driver_sql(across)]
    return dump


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Database]:
    db = Database(postgres_url)
    yield db
    db.dispose()


def _kind(conn: Connection, table: str) -> str:
    query = text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:t)")
    return str(conn.execute(query, {"t": table}).scalar())


def test_the_migration_moves_plain_tables_into_partitions_without_losing_a_row(
    pg: Database,
) -> None:
    _migrate(pg, "0005")
    with pg.engine.begin() as conn:
        _fill_plain_tables(conn)
        before = _dump(conn)
    assert all(before.values()) and len(before["across"]) == 2
    _migrate(pg, "0006")
    with pg.engine.connect() as conn:
        assert _dump(conn) == before
        assert {t: _kind(conn, t) for t in _COLUMNS} == dict.fromkeys(_COLUMNS, "p")
        months = {"p202401", "p202402", "p202403"}
        for parent in ("candles_tf_1m", "candles_tf_1h", "trades", "tickers", "orderbooks"):
            names = {n.rpartition("_")[2] for n in pg_partitions.partitions_of(conn, parent)}
            assert months <= names, parent
        other = conn.exec_driver_sql("SELECT count(*) FROM candles_tf_other").scalar()
        assert other == len({r for r in before["candles"] if r[2] == "3d"})
        in_default = conn.exec_driver_sql("SELECT count(*) FROM trades_default").scalar()
        assert in_default == 0
    _migrate(pg, "0005", command.downgrade)  # and back to plain tables, every row kept
    with pg.engine.connect() as conn:
        assert _dump(conn) == before
        assert {t: _kind(conn, t) for t in _COLUMNS} == dict.fromkeys(_COLUMNS, "r")


def test_months_are_made_ahead_and_retention_drops_whole_months(postgres_db: Database) -> None:
    now = FEB + 5 * 86_400_000
    with postgres_db.engine.begin() as conn:
        created = pg_partitions.ensure_months(conn, "trades", now)
        assert [n.rpartition("_")[2] for n in created] == [
            "p202402",
            "p202403",
            "p202404",
            "p202405",
        ]
        assert pg_partitions.ensure_months(conn, "trades", now) == []
    trades = [f.trade(trade_id=str(i), ts=ts) for i, ts in enumerate(_times(random.Random(2), 90))]
    upsert(postgres_db, trades)
    with postgres_db.engine.begin() as conn:  # January's rows were caught by the default
        moved = pg_partitions.ensure_months(conn, "trades", now)
        assert moved == ["trades_p202401"]
        assert conn.exec_driver_sql("SELECT count(*) FROM trades_default").scalar() == 0
    by_id = sorted(trades, key=lambda t: (t.exchange, t.symbol, t.trade_id))
    assert read_records(postgres_db, Trade) == by_id  # a read across months: the same rows
    scope = Scope("trades", "trades")
    with postgres_db.engine.begin() as conn:
        assert partitions_before(conn, scope, MAR) == ["trades_p202401", "trades_p202402"]
        expired = expire(conn, scope, MAR)
    assert expired.partitions == ("trades_p202401", "trades_p202402")
    assert expired.rows == sum(1 for t in trades if t.ts < MAR)
    assert read_records(postgres_db, Trade) == [t for t in by_id if t.ts >= MAR]
    with postgres_db.engine.connect() as conn:
        left = pg_partitions.partitions_of(conn, "trades")
    assert "trades_p202401" not in left and "trades_p202403" in left


def test_candle_months_drop_per_timeframe(postgres_db: Database) -> None:
    candles = [f.candle(ts=JAN + MINUTE), f.candle(timeframe="1h", ts=JAN)]
    upsert(postgres_db, candles)
    with postgres_db.engine.begin() as conn:
        pg_partitions.ensure_months(conn, "candles", FEB)
        expired = expire(conn, Scope("candles_1m", "candles", "1m"), FEB)
    assert expired.partitions == ("candles_tf_1m_p202401",) and expired.rows == 1
    assert read_records(postgres_db, Candle) == [candles[1]]


def test_trade_writes_stay_idempotent_with_ts_in_the_key(postgres_db: Database) -> None:
    trades = [f.trade(trade_id=str(i), ts=FEB - 2 * MINUTE + i * 30_000) for i in range(8)]
    with postgres_db.engine.begin() as conn:
        assert upsert_records(conn, trades).rows == 8
    with postgres_db.engine.begin() as conn:
        again = upsert_records(conn, trades)
    assert (again.rows, len(again.unchanged), again.conflicts) == (0, 8, [])
    moved = f.trade(trade_id="3", ts=APR)  # the same trade id at another time (another month)
    with postgres_db.engine.begin() as conn:
        written = upsert_records(conn, [moved])
    assert written.rows == 0 and [c.received for c in written.conflicts] == [moved]
    assert len(read_records(postgres_db, Trade)) == 8


def test_timescale_hypertables_where_the_extension_exists(pg: Database) -> None:
    """Written for PostgreSQL with TimescaleDB; skipped where the extension is absent."""
    with pg.engine.connect() as conn:
        available = conn.exec_driver_sql(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
        ).first()
    if available is None:
        pytest.skip("the TimescaleDB extension is not available on this PostgreSQL server")
    with pg.engine.begin() as conn:
        conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS timescaledb")
    pg.upgrade()
    with pg.engine.connect() as conn:
        assert pg_partitions.layout(conn, "trades") == "hypertable"
    trades = [f.trade(trade_id=str(i), ts=ts) for i, ts in enumerate(_times(random.Random(4), 50))]
    upsert(pg, trades)
    with pg.engine.begin() as conn:
        expired = expire(conn, Scope("trades", "trades"), MAR)
    assert expired.rows == sum(1 for t in trades if t.ts < MAR) and expired.partitions
    assert {t.trade_id for t in read_records(pg, Trade)} == {
        t.trade_id for t in trades if t.ts >= MAR
    }


@pytest.mark.timeout(60)
def test_partition_maintenance_gives_up_on_a_lock_a_reader_holds(postgres_db: Database) -> None:
    """A month moved out of the DEFAULT partition needs the table to itself. A reader
    that holds it (a backup's snapshot transaction, whose `pg_dump` would then queue
    behind the waiting DDL: a wait no server can see through) makes the step fail after
    its lock timeout, not wait for ever; the next run moves the month."""
    upsert(postgres_db, [f.trade(trade_id=str(i), ts=JAN + i * MINUTE) for i in range(3)])
    now = FEB + 5 * 86_400_000
    with postgres_db.engine.connect() as reader:
        reader.execute(text("SELECT count(*) FROM trades")).scalar()  # holds its lock
        with pytest.raises(DBAPIError, match="lock timeout"), postgres_db.engine.begin() as conn:
            ensure_partitions(conn, now)
        reader.rollback()
    with postgres_db.engine.begin() as conn:
        assert "trades_p202401" in ensure_partitions(conn, now)
    assert len(read_records(postgres_db, Trade)) == 3
