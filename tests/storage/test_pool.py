"""PostgreSQL's pool pings only connections that were idle, and a read still survives a
server that dropped its connection: an idle one is replaced at checkout, a fresh one is
replaced by the range reads' single retry."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from ohmycoins.storage import database, ranges
from ohmycoins.storage.database import Database
from ohmycoins.storage.upsert import upsert
from tests import factories as f


@pytest.fixture
def pings(postgres_db: Database, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the pool's pings."""
    seen: list[int] = []
    dialect = postgres_db.engine.dialect
    real = dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        seen.append(1)
        return real(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counted)
    return seen


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
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def _latest_candles(db: Database) -> list[object]:
    query = ranges.candle_query(
        db, "binance", "BTC/USDT", "1m", start=None, end=None, limit=5, form="json"
    )
    return list(ranges.fetch_json(db, query).last or ())


def test_connections_in_use_a_moment_ago_are_not_pinged(
    postgres_db: Database, pings: list[int]
) -> None:
    upsert(postgres_db, [f.candle()])
    for _ in range(5):
        _latest_candles(postgres_db)
        postgres_db.ping()
    assert pings == []


def test_an_idle_connection_found_dead_is_replaced_at_checkout(
    postgres_db: Database, pings: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    upsert(postgres_db, [f.candle()])
    monkeypatch.setattr(database, "FRESH_SECONDS", 0.0)  # every returned one counts as idle
    dead = _backend_of_next_checkout(postgres_db)
    _terminate(postgres_db, dead)
    postgres_db.ping()  # through SQLAlchemy, which has no retry of its own
    assert pings and _backend_of_next_checkout(postgres_db) != dead


def test_a_range_read_retries_once_on_a_fresh_connection_found_dead(
    postgres_db: Database, pings: list[int]
) -> None:
    upsert(postgres_db, [f.candle()])
    dead = _backend_of_next_checkout(postgres_db)
    _terminate(postgres_db, dead)
    assert _latest_candles(postgres_db) == [f.candle().ts]
    assert pings == [] and _backend_of_next_checkout(postgres_db) != dead
