"""Migrations build the whole schema from nothing, twice is a no-op, and the newest
migration matches the tables the code writes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect
from typer.testing import CliRunner

from ohmycoins.cli import app
from ohmycoins.records import NewsItem
from ohmycoins.storage.database import MIGRATIONS, Database
from ohmycoins.storage.dialects import dialect_for, schema_names
from ohmycoins.storage.queries import read_records
from ohmycoins.storage.tables import metadata
from ohmycoins.storage.upsert import upsert
from tests import factories as f
from tests.conftest import BACKENDS, sqlite_url

REVISIONS = ["0001", "0002", "0003", "0004", "0005", "0006", "0007", "0009", "0010"]
"""Every revision, oldest first: the chain a fresh database goes through."""


def _fresh(url: str) -> Database:
    return Database(url)


def test_upgrade_from_empty_then_noop(db: Database) -> None:
    fresh = _fresh(db.url)
    assert fresh.upgrade() == []  # the fixture already migrated this database
    assert fresh.is_current()
    tables = set(inspect(fresh.engine).get_table_names())
    assert set(metadata.tables) <= tables
    fresh.dispose()


def test_first_upgrade_applies_every_revision(tmp_path) -> None:
    db = _fresh(sqlite_url(tmp_path))
    assert db.current_revision() is None
    assert db.upgrade() == REVISIONS
    assert db.upgrade() == []
    db.dispose()


def test_migrations_match_the_table_definitions(db: Database) -> None:
    """Partitions of the partitioned tables (PostgreSQL) are not tables of the schema."""
    with db.engine.connect() as conn:
        partitions = dialect_for(conn).partitions(conn)
        assert bool(partitions) == (dialect_for(conn).name == "postgresql")
        assert _schema_differences(conn) == []


def _schema_differences(conn: Connection) -> list[object]:
    """What the migrated schema lacks or has more than the table definitions, the
    partitions of partitioned tables aside."""
    opts = {"compare_type": False, "include_name": schema_names(conn)}
    context = MigrationContext.configure(conn, opts=opts)
    return list(compare_metadata(context, metadata))


def test_cli_db_upgrade_twice(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OMC_DATABASE_URL", sqlite_url(tmp_path))
    runner = CliRunner()
    first = runner.invoke(app, ["db", "upgrade"])
    assert first.exit_code == 0, first.output
    assert "applied 0001" in first.output
    second = runner.invoke(app, ["db", "upgrade"])
    assert second.exit_code == 0
    assert "schema is current" in second.output


def test_exponent_decimals_stored_by_earlier_revisions_are_rewritten(tmp_path) -> None:
    """Before 0003 SQLite kept `str(Decimal)`: `1E-8`; after it, the plain text only."""
    db = _fresh(sqlite_url(tmp_path))
    with db.engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
        insert = (
            "INSERT INTO candles (exchange, symbol, timeframe, ts, open, high, low, close, volume)"
            " VALUES ('binance', 'BTC/USDT', '1m', ?, ?, ?, ?, ?, ?)"
        )
        conn.exec_driver_sql(insert, (1, "1E-8", "1E+3", "0E-8", "37000.10", None))
        conn.exec_driver_sql(insert, (2, "37000.10", "37010.5", "36990", "37005.25", "12.5"))
        conn.exec_driver_sql(
            "INSERT INTO trades (exchange, symbol, trade_id, ts, price, amount, side)"
            " VALUES ('binance', 'BTC/USDT', 'E1', 1, '5E-7', '2.5E+2', 'buy')"
        )
    assert db.upgrade()[0] == "0003"
    with db.engine.connect() as conn:
        candles = conn.exec_driver_sql(
            "SELECT open, high, low, close, volume FROM candles ORDER BY ts"
        ).fetchall()
        trade = conn.exec_driver_sql("SELECT trade_id, price, amount FROM trades").one()
    assert candles[0] == ("0.00000001", "1000", "0.00000000", "37000.10", None)
    assert candles[1] == ("37000.10", "37010.5", "36990", "37005.25", "12.5")
    assert tuple(trade) == ("E1", "0.0000005", "250")
    db.dispose()


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend, not migrated yet."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


def test_every_revision_applies_to_an_empty_database(empty_url: str) -> None:
    """The migrations themselves (not a copy of their tables) build the schema."""
    db = _fresh(empty_url)
    assert db.upgrade() == REVISIONS
    with db.engine.connect() as conn:
        assert _schema_differences(conn) == []
    db.dispose()


def _migrate(db: Database, action: Callable[..., None], revision: str) -> None:
    with db.engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        action(config, revision)


def test_holes_stored_before_0004_are_verified_once_more(tmp_path) -> None:
    """Earlier versions recorded a candle whose one refetch failed as a hole: the holes
    already stored start one check short of final, so the next sync verifies them."""
    from ohmycoins.collectors.candle_gaps import FINAL_CHECKS
    from ohmycoins.storage.cursors import read_holes

    db = _fresh(sqlite_url(tmp_path))
    _migrate(db, command.upgrade, "0003")
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO candle_holes (exchange, symbol, timeframe, start_ts, end_ts, candles,"
            " found_ts) VALUES ('binance', 'BTC/USDT', '1m', 60000, 120000, 2, 5)"
        )
    assert db.upgrade() == REVISIONS[REVISIONS.index("0004") :]
    with db.engine.connect() as conn:
        [hole] = read_holes(conn)
    assert (hole.start_ts, hole.candles, hole.found_ts) == (60_000, 2, 5)
    assert hole.checks == FINAL_CHECKS - 1
    db.dispose()


def test_news_dates_may_be_unknown_after_0005_and_stored_rows_stay(empty_url: str) -> None:
    """0005 makes `published_ts` nullable and adds `fetched_ts`; rows stored before
    keep their time; the downgrade gives an unknown date its first fetch time back."""
    db = _fresh(empty_url)
    _migrate(db, command.upgrade, "0004")
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO news_items (item_id, url, title, outlet, published_ts, source)"
            " VALUES ('old', 'https://example.com/old', 'Old story', 'Example', 5, 'rss')"
        )
    _migrate(db, command.upgrade, "0005")
    upsert(db, [f.news_item(item_id="new", published_ts=None, fetched_ts=7)])
    items = {item.item_id: item for item in read_records(db, NewsItem)}
    assert (items["old"].published_ts, items["old"].fetched_ts) == (5, None)
    assert (items["new"].published_ts, items["new"].fetched_ts) == (None, 7)
    _migrate(db, command.downgrade, "0004")
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT item_id, published_ts FROM news_items").fetchall()
    assert sorted(map(tuple, rows)) == [("new", 7), ("old", 5)]
    db.dispose()
