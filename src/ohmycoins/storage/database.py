"""The database handle: engine creation per backend and schema migrations.

`Database(url)` is built by the caller (CLI, app, tests), never at import time;
`Database.of(settings)` with the settings' timeouts. SQLite gets WAL, a busy timeout
and its folder created on demand; PostgreSQL goes through psycopg 3. Migrations are
Alembic's, run in-process by `upgrade()`.

A database that does not answer never hangs us: PostgreSQL connections give up after
the connect timeout and the server cancels a statement at the statement timeout;
either raises `DatabaseUnavailableError`, one line naming the URL (never its password)
and the setting to change.

A database that cannot be opened (a SQLite path that cannot hold the file, a server
that refuses) is a `StorageError` naming the URL, password hidden, and the reason in
one line: `cannot open database sqlite:///x/y.db: /x/y.db is a directory`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Connection, Engine, Table, create_engine, event, make_url, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from ohmycoins.errors import DatabaseUnavailableError, StorageError, os_reason
from ohmycoins.settings import DEFAULT_CONNECT_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT, Settings
from ohmycoins.storage.tables import decimal_text

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK_ID = 0x6F6D63  # PostgreSQL advisory lock taken while migrating

_QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a cancelled statement

sqlite3.register_adapter(Decimal, decimal_text)  # the bulk path's decimals, as ExactDecimal


def engine_url(url: str) -> str:
    """The SQLAlchemy URL for a user-facing database URL (postgresql:// → psycopg 3)."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


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
    if a.get_backend_name() != b.get_backend_name():
        return False
    if a.get_backend_name() == "sqlite":
        return _sqlite_file(a) == _sqlite_file(b)
    return (a.host, a.port or 5432, a.database) == (b.host, b.port or 5432, b.database)


def _sqlite_file(url: URL) -> str:
    name = url.database or ":memory:"
    return name if name == ":memory:" else str(Path(name).expanduser().resolve())


def _create_engine(url: str, connect_timeout: float, statement_timeout: float) -> Engine:
    """The pool hands out the connection used last (LIFO): its caches are the warmest,
    and after a burst the surplus ones stay idle instead of taking turns."""
    try:
        sa_url = make_url(engine_url(url))
    except (ArgumentError, ValueError) as exc:
        raise StorageError(f"cannot open database {shown_url(url)}: {exc}") from None
    if sa_url.get_backend_name() != "sqlite":
        engine = create_engine(
            sa_url,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=20,
            pool_use_lifo=True,
            connect_args=_postgres_timeouts(sa_url, connect_timeout, statement_timeout),
        )
        event.listen(engine, "handle_error", _unavailable(url, connect_timeout, statement_timeout))
        return engine
    options: dict[str, Any] = {"connect_args": {"timeout": 30}}
    if sa_url.database and sa_url.database != ":memory:":
        _sqlite_folder(url, Path(sa_url.database).expanduser())
        options["pool_use_lifo"] = True  # a file has a queue pool; memory, one per thread
    engine = create_engine(sa_url, **options)
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _postgres_timeouts(
    url: URL, connect_timeout: float, statement_timeout: float
) -> dict[str, Any]:
    """libpq's connect timeout (whole seconds, at least 2) and the server's statement
    timeout, set as the connection starts (no extra round trip). What the URL's own
    query sets (`?connect_timeout=`, `?options=-c…`) is kept and wins."""
    args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        args["connect_timeout"] = _libpq_seconds(connect_timeout)
    options = [str(url.query["options"])] if "options" in url.query else []
    if statement_timeout > 0:
        options.insert(0, f"-c statement_timeout={math.ceil(statement_timeout * 1000)}")
    if options:
        args["options"] = " ".join(options)
    return args


def _libpq_seconds(timeout: float) -> int:
    return max(2, math.ceil(timeout))


def _unavailable(
    url: str, connect_timeout: float, statement_timeout: float
) -> Callable[[ExceptionContext], None]:
    """A `handle_error` hook that turns a failed connect (refused, timed out) or a
    statement cancelled at the statement timeout into DatabaseUnavailableError; every
    other error goes on as SQLAlchemy raised it."""
    shown = shown_url(url)

    def translate(context: ExceptionContext) -> None:
        error = context.original_exception
        if context.is_pre_ping:
            return  # the pool replaces the connection and connects anew: seen then
        reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        if context.connection is None and isinstance(error, _dbapi_errors(context)):
            if "timeout" not in reason:
                raise DatabaseUnavailableError(shown, f"refused to connect: {reason}") from error
            raise DatabaseUnavailableError(
                shown,
                f"does not answer: no connection within {_libpq_seconds(connect_timeout)} s "
                "(OMC_DATABASE_CONNECT_TIMEOUT)",
            ) from error
        if getattr(error, "sqlstate", None) == _QUERY_CANCELED and "timeout" in reason:
            raise DatabaseUnavailableError(
                shown,
                f"cancelled a statement after {statement_timeout:g} s "
                "(OMC_DATABASE_STATEMENT_TIMEOUT)",
            ) from error

    return translate


def _dbapi_errors(context: ExceptionContext) -> type[Exception]:
    errors: type[Exception] = context.dialect.loaded_dbapi.OperationalError
    return errors


def _sqlite_folder(url: str, path: Path) -> None:
    """Create the folder of a SQLite file; a path that cannot hold a writable file is a
    StorageError saying why (SQLite itself says only "unable to open database file")."""

    def refused(reason: str) -> StorageError:
        return StorageError(f"cannot open database {url}: {reason}")

    if path.is_dir():
        raise refused(f"{path} is a directory")
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise refused(f"{folder} is not a directory") from None
    except OSError as exc:
        raise refused(f"cannot create directory {folder}: {os_reason(exc)}") from None
    if not path.exists() and not os.access(folder, os.W_OK | os.X_OK):
        raise refused(f"directory {folder} is not writable")
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise refused(f"{path} is not writable")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def conflict_insert(table: Table, dialect: str) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into `table` that takes ON CONFLICT clauses, in the dialect's own flavour."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def upsert_row(
    conn: Connection, table: Table, values: dict[str, Any], key: tuple[str, ...]
) -> None:
    """Insert one row, or replace the non-key columns of the row with its `key`: one
    statement, where the bulk path's COPY takes several round trips for a single row."""
    statement = conflict_insert(table, conn.dialect.name).values(**values)
    updates = {name: statement.excluded[name] for name in values if name not in key}
    conn.execute(statement.on_conflict_do_update(index_elements=list(key), set_=updates))


def serialize_writers(conn: Connection, name: str) -> None:
    """Make the rest of this transaction the only one named `name` at a time, across
    processes (read, then write what the read decided): an advisory lock on PostgreSQL,
    the database's write lock on SQLite, so it must be the transaction's first statement."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        return
    key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), signed=True)
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


class Database:
    """One database, SQLite or PostgreSQL, with its engine and migrations."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT,
    ) -> None:
        self.url = url
        self.engine = _create_engine(url, connect_timeout, statement_timeout)
        self.dialect = self.engine.dialect.name

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
                if self.dialect == "postgresql":
                    conn.execute(text("SET LOCAL statement_timeout = 0"))  # a big table's rewrite
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID}
                    )
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
