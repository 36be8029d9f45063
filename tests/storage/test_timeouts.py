"""A database that does not answer raises one clear error in bounded time, never hangs:
the connect timeout against a server that accepts and stays silent, the statement
timeout on a real PostgreSQL and MySQL/MariaDB, and URLs named without their password."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import pytest
from sqlalchemy import Connection, text

from ohmycoins.errors import DatabaseUnavailableError, StorageError
from ohmycoins.storage.database import Database, same_database, shown_url
from ohmycoins.storage.upsert import upsert
from tests import factories as f
from tests.support.silent import silent_server

BOUND = 30  # seconds: far beyond every timeout below, only so a regression cannot hang


async def test_connect_timeout_against_a_server_that_never_answers() -> None:
    async with silent_server() as silent:
        db = Database(f"postgresql://omc:s3cret@127.0.0.1:{silent.port}/omc", connect_timeout=2)
        try:
            with pytest.raises(DatabaseUnavailableError) as caught:
                await asyncio.wait_for(asyncio.to_thread(db.upgrade), BOUND)
        finally:
            db.dispose()
        assert silent.accepted.is_set()
    message = str(caught.value)
    assert message == (
        f"database postgresql://omc:***@127.0.0.1:{silent.port}/omc does not answer: "
        "no connection within 2 s (OMC_DATABASE_CONNECT_TIMEOUT)"
    )
    assert isinstance(caught.value, StorageError)


def test_a_refused_connection_names_the_url_without_its_password() -> None:
    db = Database("postgresql://omc:s3cret@127.0.0.1:1/omc")
    with pytest.raises(DatabaseUnavailableError) as caught:
        db.ping()
    message = str(caught.value)
    assert message.startswith("database postgresql://omc:***@127.0.0.1:1/omc refused to connect")
    assert "s3cret" not in message and "\n" not in message


def test_statement_timeout_cancels_a_long_statement(postgres_url: str) -> None:
    db = Database(postgres_url, statement_timeout=0.2)
    try:
        with db.engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "200ms"
            assert conn.execute(text("SHOW search_path")).scalar().startswith("t_")
        with pytest.raises(DatabaseUnavailableError) as caught, db.engine.connect() as conn:
            conn.execute(text("SELECT pg_sleep(30)"))
        assert str(caught.value).endswith(
            "cancelled a statement after 0.2 s (OMC_DATABASE_STATEMENT_TIMEOUT)"
        )
        db.ping()  # the pool still serves
    finally:
        db.dispose()


def test_no_statement_timeout_when_set_to_zero(postgres_url: str) -> None:
    db = Database(postgres_url, statement_timeout=0)
    try:
        with db.engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "0"
    finally:
        db.dispose()


def test_the_urls_own_options_win(postgres_url: str) -> None:
    url = f"{postgres_url}{quote(' -c statement_timeout=7s')}"
    db = Database(url, statement_timeout=0.2)
    try:
        with db.engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "7s"
    finally:
        db.dispose()


def test_migrations_are_not_cut_by_the_statement_timeout(postgres_url: str) -> None:
    """A statement three times the timeout is cancelled in an ordinary transaction and
    runs to its end in a migration's, and a fresh schema migrates. (A 1 ms timeout
    proved the same but now and then cancelled the connection's own first statements
    on a loaded machine.)"""
    db = Database(postgres_url, statement_timeout=0.1)
    try:
        with pytest.raises(DatabaseUnavailableError), db.engine.begin() as conn:
            conn.execute(text("SELECT pg_sleep(0.3)"))
        with db.engine.begin() as conn:
            db.backend.begin_migration(conn)
            conn.execute(text("SELECT pg_sleep(0.3)"))
        assert db.upgrade()
        assert db.is_current()
    finally:
        db.dispose()


def test_same_database() -> None:
    assert same_database("sqlite:///./data/x.db", "sqlite:///data/x.db")
    assert not same_database("sqlite:///./data/x.db", "sqlite:///./data/demo.db")
    assert same_database("postgresql://a:1@db/omc", "postgresql://b@db:5432/omc")
    assert not same_database("postgresql://db/omc", "postgresql://db/demo")
    assert not same_database("postgresql://db/omc", "sqlite:///omc")


def test_safe_url_masks_the_password() -> None:
    assert shown_url("postgresql://omc:s3cret@db/omc") == "postgresql://omc:***@db/omc"
    assert shown_url("sqlite:///./data/demo.db") == "sqlite:///./data/demo.db"


def test_a_bulk_copy_cut_by_the_statement_timeout_is_a_storage_error(postgres_url: str) -> None:
    """The bulk path's COPY runs on the bare driver: its errors become StorageError too.
    A lock held by another transaction (reads pass, writes wait) makes the COPY wait
    past the timeout."""
    db = Database(postgres_url, statement_timeout=0.2)
    db.upgrade()
    try:
        with db.engine.begin() as holder:
            holder.execute(text("LOCK TABLE candles IN EXCLUSIVE MODE"))
            with pytest.raises(StorageError) as caught:
                upsert(db, [f.candle()])
        assert "statement timeout" in str(caught.value)
        assert upsert(db, [f.candle()]) == 1  # once the lock is gone
    finally:
        db.dispose()


# --- MySQL / MariaDB ------------------------------------------------------------------


async def test_mysql_connect_timeout_against_a_server_that_never_answers() -> None:
    async with silent_server() as silent:
        db = Database(f"mysql://omc:s3cret@127.0.0.1:{silent.port}/omc", connect_timeout=2)
        try:
            with pytest.raises(DatabaseUnavailableError) as caught:
                await asyncio.wait_for(asyncio.to_thread(db.upgrade), BOUND)
        finally:
            db.dispose()
        assert silent.accepted.is_set()
    assert str(caught.value) == (
        f"database mysql://omc:***@127.0.0.1:{silent.port}/omc does not answer: "
        "no connection within 2 s (OMC_DATABASE_CONNECT_TIMEOUT)"
    )


def test_mysql_refused_connection_names_the_url_without_its_password() -> None:
    db = Database("mysql://omc:s3cret@127.0.0.1:1/omc")
    with pytest.raises(DatabaseUnavailableError) as caught:
        db.ping()
    message = str(caught.value)
    assert message.startswith("database mysql://omc:***@127.0.0.1:1/omc refused to connect")
    assert "s3cret" not in message and "\n" not in message


def _mysql_sleep(conn: Connection, seconds: float) -> None:
    """`SLEEP` counted against the statement timeout on MySQL too, which times SELECTs."""
    conn.execute(text("SELECT SLEEP(:s) FROM (SELECT 1) AS one"), {"s": seconds})


def test_mysql_statement_timeout_cancels_a_long_statement(mysql_url: str) -> None:
    db = Database(mysql_url, statement_timeout=0.2)
    try:
        with pytest.raises(DatabaseUnavailableError) as caught, db.engine.connect() as conn:
            _mysql_sleep(conn, 30)
        assert str(caught.value).endswith(
            "cancelled a statement after 0.2 s (OMC_DATABASE_STATEMENT_TIMEOUT)"
        )
        db.ping()  # the pool still serves
    finally:
        db.dispose()


def test_mysql_migrations_are_not_cut_by_the_statement_timeout(mysql_url: str) -> None:
    """Cancelled outside a migration, run to its end inside one, and the connection
    that migrated has its timeout back once returned to the pool."""
    db = Database(mysql_url, statement_timeout=0.1)
    try:
        with pytest.raises(DatabaseUnavailableError), db.engine.begin() as conn:
            _mysql_sleep(conn, 0.3)
        with db.engine.begin() as conn:
            db.backend.begin_migration(conn)
            _mysql_sleep(conn, 0.3)
        assert db.upgrade()
        assert db.is_current()
        with pytest.raises(DatabaseUnavailableError), db.engine.begin() as conn:
            _mysql_sleep(conn, 0.3)
    finally:
        db.dispose()


def test_mysql_same_database_and_shown_url() -> None:
    assert same_database("mysql://a:1@db/omc", "mariadb://b@db:3306/omc")
    assert not same_database("mysql://db/omc", "mysql://db/demo")
    assert not same_database("mysql://db/omc", "postgresql://db/omc")
    assert shown_url("mysql://omc:s3cret@db/omc") == "mysql://omc:***@db/omc"
