"""The database handle: engine creation per backend and schema migrations.

`Database(url)` is built by the caller (CLI, app, tests), never at import time;
`Database.of(settings)` with the settings' timeouts. Each backend's engine set-up
(SQLite's WAL, busy timeout and folder; PostgreSQL's timeouts through psycopg 3) is
its `Dialect`'s (`storage/dialects/`), kept as `db.backend`. Migrations are Alembic's,
run in-process by `upgrade()`.

A database that does not answer never hangs us: connections give up after the
connect timeout and the server cancels a statement at the statement timeout; either
raises `DatabaseUnavailableError`, one line naming the URL (never its password) and
the setting to change.

A database that cannot be opened (a SQLite path that cannot hold the file, a server
that refuses) is a `StorageError` naming the URL, password hidden, and the reason in
one line: `cannot open database sqlite:///x/y.db: /x/y.db is a directory`. A write in
`write_transaction` that fails is a `StorageError` naming what was written and where.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, Table, make_url, text
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from ohmycoins.errors import StorageError
from ohmycoins.settings import DEFAULT_CONNECT_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT, Settings
from ohmycoins.storage.dialects import dialect_for, driver_url

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def engine_url(url: str) -> str:
    """The SQLAlchemy URL for a user-facing database URL (postgresql:// → psycopg 3,
    mysql:// and mariadb:// → mysqlclient)."""
    return driver_url(url)


def shown_url(url: str) -> str:
    """A database URL as the user wrote it, password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", url)


def driver_reason(exc: SQLAlchemyError) -> str:
    """The driver's own words for a database failure, on one line (without the
    statement and documentation link SQLAlchemy adds)."""
    original = getattr(exc, "orig", None)
    return " ".join(str(original if original is not None else exc).split())


def same_database(first: str, second: str) -> bool:
    """True when two URLs name one database: one SQLite file however its path is
    spelled, or the same server, port and database (user and password aside)."""
    a, b = make_url(engine_url(first)), make_url(engine_url(second))
    backend = dialect_for(a)
    return backend is dialect_for(b) and backend.same_database(a, b)


def _create_engine(url: str, connect_timeout: float, statement_timeout: float) -> Engine:
    try:
        sa_url = make_url(engine_url(url))
    except (ArgumentError, ValueError) as exc:
        raise StorageError(f"cannot open database {shown_url(url)}: {exc}") from None
    backend = dialect_for(sa_url)
    return backend.create_engine(sa_url, shown_url(url), connect_timeout, statement_timeout)


def upsert_row(
    conn: Connection, table: Table, values: dict[str, Any], key: tuple[str, ...]
) -> None:
    """Insert one row, or replace the non-key columns of the row with its `key`: one
    statement, where the bulk path's COPY takes several round trips for a single row."""
    changes = {name: value for name, value in values.items() if name not in key}
    conn.execute(dialect_for(conn).upsert(table, values, key, changes))


def serialize_writers(conn: Connection, name: str) -> None:
    """Make the rest of this transaction the only one named `name` at a time, across
    processes (read, then write what the read decided): an advisory lock on PostgreSQL,
    a named lock (`GET_LOCK`) on MySQL, the database's write lock on SQLite, so it must
    be the transaction's first statement."""
    dialect_for(conn).serialize_writers(conn, name)


@contextmanager
def write_transaction(db: Database, what: str) -> Iterator[Connection]:
    """A connection in a transaction that commits when the block ends and rolls back
    when it raises; a database failure is raised as `StorageError("<what> in <db>
    failed: …")`, so callers above storage never see a driver's exception types."""
    try:
        with db.engine.begin() as conn:
            yield conn
    except SQLAlchemyError as exc:
        raise StorageError(f"{what} in {db!r} failed: {exc}") from exc


@contextmanager
def autocommitting(db: Database) -> Iterator[Connection]:
    """A connection whose statements each run in a transaction of their own where that
    is cheaper (`Dialect.autocommit_statements`: PostgreSQL, spared the BEGIN and
    ROLLBACK or COMMIT round trips; a read sees what was committed when it started, as
    in a READ COMMITTED transaction); elsewhere a plain connection (one transaction)."""
    with db.engine.connect() as conn:
        if db.backend.autocommit_statements:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


@contextmanager
def rolled_back(db: Database, what: str) -> Iterator[Connection]:
    """A connection in a transaction that is rolled back when the block ends: what it
    wrote is seen inside it only (a dry run). Failures as in `write_transaction`."""
    try:
        with db.engine.connect() as conn:
            transaction = conn.begin()
            try:
                yield conn
            finally:
                transaction.rollback()
    except SQLAlchemyError as exc:
        raise StorageError(f"{what} in {db!r} failed: {exc}") from exc


class Database:
    """One database, SQLite, PostgreSQL or MySQL/MariaDB, with its engine and migrations."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT,
    ) -> None:
        self.url = url
        self.engine = _create_engine(url, connect_timeout, statement_timeout)
        self.backend = dialect_for(self.engine)
        self.dialect = self.backend.name

    @classmethod
    def of(cls, settings: Settings) -> Database:
        """The database of `settings.database_url`, with the settings' timeouts."""
        return cls(
            settings.database_url,
            connect_timeout=settings.database_connect_timeout,
            statement_timeout=settings.database_statement_timeout,
        )

    def __repr__(self) -> str:
        return f"Database({self.engine.url.render_as_string(hide_password=True)!r})"

    def upgrade(self) -> list[str]:
        """Migrate to the newest schema; returns the revisions applied (none if current)."""
        self.ping()  # a database that cannot be reached says so, not "migration failed"
        try:
            with self.engine.begin() as conn:
                self.backend.begin_migration(conn)
                before = MigrationContext.configure(conn).get_current_revision()
                config = _alembic_config()
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
                return _revisions_between(before, _head_revision())
        except SQLAlchemyError as exc:
            raise StorageError(
                f"migration of {shown_url(self.url)} failed: {driver_reason(exc)}"
            ) from exc

    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def is_current(self) -> bool:
        """True when the schema is at the newest migration."""
        return self.current_revision() == _head_revision()

    def ping(self) -> None:
        """Raise StorageError unless the database answers."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise StorageError(
                f"cannot open database {shown_url(self.url)}: {driver_reason(exc)}"
            ) from exc

    def dispose(self) -> None:
        self.engine.dispose()


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def _revisions_between(before: str | None, head: str | None) -> list[str]:
    if before == head:
        return []
    script = ScriptDirectory.from_config(_alembic_config())
    revisions = script.iterate_revisions(head, before)
    return [rev.revision for rev in reversed(list(revisions))]
