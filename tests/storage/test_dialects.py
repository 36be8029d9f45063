"""The backends' implementations are found from whatever names a database."""

from __future__ import annotations

import pytest
from sqlalchemy import make_url, select, text

from ohmycoins.errors import StorageError
from ohmycoins.records import Candle, NewsItem
from ohmycoins.storage.database import Database, engine_url
from ohmycoins.storage.dialects import dialect_for
from ohmycoins.storage.queries import read_records
from ohmycoins.storage.tables import RECORD_TABLES, ExactDecimal
from ohmycoins.storage.upsert import upsert
from tests import factories as f


def test_an_engine_a_connection_a_url_and_a_name_find_one_implementation() -> None:
    db = Database("sqlite://")
    try:
        with db.engine.connect() as conn:
            found = {
                id(dialect_for(of))
                for of in (db.engine, conn, conn.dialect, make_url("sqlite://"), "sqlite")
            }
        assert found == {id(db.backend)}
        assert db.backend.name == db.dialect == "sqlite"
    finally:
        db.dispose()


def test_an_unknown_backend_is_one_line_naming_the_supported_ones() -> None:
    with pytest.raises(StorageError, match=r"^no support for oracle databases \(sqlite, post"):
        dialect_for("oracle")


def test_decimals_print_without_a_database() -> None:
    """A statement or type printed without a backend (logs, debugging) shows NUMERIC."""
    assert str(ExactDecimal().compile()) == "NUMERIC"
    assert "candles.open" in str(select(RECORD_TABLES[Candle]))


def test_mysql_and_mariadb_urls_take_mysqlclient() -> None:
    assert engine_url("mysql://omc:pw@db:3306/omc") == "mysql+mysqldb://omc:pw@db:3306/omc"
    assert engine_url("mariadb://omc@db/omc") == "mysql+mysqldb://omc@db/omc"
    assert engine_url("postgresql://db/omc") == "postgresql+psycopg://db/omc"
    assert engine_url("mysql+pymysql://db/omc") == "mysql+pymysql://db/omc"  # named: kept
    assert dialect_for(make_url(engine_url("mariadb://db/omc"))) is dialect_for("mysql")


def test_keys_differing_only_in_case_are_two_rows(db: Database) -> None:
    """Text keys compare byte by byte on every backend (MySQL's default collations
    would make `btc/usdt` and `BTC/USDT` one key)."""
    upsert(db, [f.candle(symbol="BTC/USDT"), f.candle(symbol="btc/usdt")])
    assert {c.symbol for c in read_records(db, Candle)} == {"BTC/USDT", "btc/usdt"}
    assert [c.symbol for c in read_records(db, Candle, symbol="btc/usdt")] == ["btc/usdt"]


def test_mysql_sessions_are_utc_strict_and_utf8mb4(mysql_db: Database) -> None:
    with mysql_db.engine.connect() as conn:
        zone, mode, charset = conn.execute(
            text("SELECT @@time_zone, @@sql_mode, @@character_set_connection")
        ).one()
    assert (zone, charset) == ("+00:00", "utf8mb4")
    assert "STRICT_ALL_TABLES" in mode.split(",")
    upsert(mysql_db, [f.news_item(title="Bitcoin 🚀 à 100k")])  # four-byte UTF-8 stored
    assert read_records(mysql_db, NewsItem)[0].title == "Bitcoin 🚀 à 100k"
    with pytest.raises(StorageError, match="too long"):  # refused, never stored cut
        upsert(mysql_db, [f.candle(exchange="x" * 192)])
