"""A pooled PostgreSQL connection the server dropped (a restart, an idle timeout) is
replaced when it is next checked out: no read fails for it, neither SQLAlchemy's nor
the range reads' bare driver ones."""

from __future__ import annotations

import psycopg

from ohmycoins.storage.database import Database
from ohmycoins.storage.reads import ranges
from ohmycoins.storage.upsert import upsert
from tests import factories as f


def _backend_of_next_checkout(db: Database) -> int:
    """The server process of the connection the pool hands out next (it is LIFO)."""
    raw = db.engine.raw_connection()
    try:
        pid: int = raw.driver_connection.info.backend_pid
        return pid
    finally:
        raw.close()


def _terminate(db: Database, pid: int) -> None:
    with psycopg.connect(db.url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))  # waits for it to go


def test_a_dropped_connection_is_replaced_before_a_range_read(postgres_db: Database) -> None:
    upsert(postgres_db, [f.candle()])
    dead = _backend_of_next_checkout(postgres_db)
    _terminate(postgres_db, dead)
    query = ranges.candle_query(
        postgres_db, "binance", "BTC/USDT", "1m", start=None, end=None, limit=5, form="json"
    )
    assert ranges.fetch_json(postgres_db, query).last == (f.candle().ts,)
    assert _backend_of_next_checkout(postgres_db) != dead


def test_a_dropped_connection_is_replaced_before_a_sqlalchemy_read(
    postgres_db: Database,
) -> None:
    dead = _backend_of_next_checkout(postgres_db)
    _terminate(postgres_db, dead)
    postgres_db.ping()
    assert _backend_of_next_checkout(postgres_db) != dead
