"""MySQL 8 and MariaDB 10.6+ through mysqlclient: row locks, named locks, ODKU.

Each connection starts in UTC (`time_zone`), strict (`sql_mode`), in utf8mb4 and READ
COMMITTED (as PostgreSQL reads); the server cancels a statement at the statement timeout
(`max_statement_time` on MariaDB, `max_execution_time`, SELECTs only, on MySQL), and
either that or a server that does not answer raises `DatabaseUnavailableError`, one
line naming the URL (never its password) and the setting to change.

MySQL has no `RETURNING` on UPDATE (MariaDB has it on INSERT and DELETE only), no
`LIMIT` in an `IN` subquery, no `ON CONFLICT … WHERE`, and its named locks
(`GET_LOCK`) belong to the session, not the transaction. So here an UPDATE that returns
rows locks them first (`FOR UPDATE`), changes them by key and reads them back; the
tasks a claim picks (`FOR UPDATE SKIP LOCKED`) are read before they are changed; a
conditional upsert decides on the locked row; and a connection gives its named locks
back when it returns to the pool, after its transaction ended.

Decimals are stored as their plain text, as on SQLite: MySQL's DECIMAL has one fixed
scale per column, so `0.00120000` would come back as `0.0012000000…` and a record read
back would differ from the one written. SQL that compares or computes casts them to
DECIMAL(65, 30) (35 digits before the point, 30 after), which is exact for every price
and amount a source sends (18 decimal places of a token, 1e-8 prices, 1e12 volumes).

The bulk path is `executemany` of `INSERT … VALUES … ON DUPLICATE KEY UPDATE`, which
mysqlclient sends as multi-row INSERTs. An immutable batch is first inserted whole
inside a savepoint (undone on a stored key); then only its keys are staged in a
session-local temporary table, to read back the versions stored.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import MySQLdb
from MySQLdb.converters import conversions
from sqlalchemy import (
    URL,
    Column,
    ColumnElement,
    Connection,
    Engine,
    Select,
    String,
    Table,
    Text,
    Update,
    and_,
    bindparam,
    cast,
    create_engine,
    event,
    func,
    insert,
    literal_column,
    select,
    text,
    true,
    tuple_,
    type_coerce,
    update,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.engine import Row as ResultRow
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.dml import Insert

from ohmycoins.errors import DatabaseUnavailableError, StorageError
from ohmycoins.storage.dialects import BulkPlan, Dialect, Row, json_object_parts
from ohmycoins.storage.dialects.mysql_backup import BACKUP_SUFFIX, backup_mysql, restore_mysql
from ohmycoins.storage.tables import ExactDecimal, decimal_text


def _decimal_literal(value: Decimal, _conversions: Any) -> str:
    """A Decimal as the quoted plain text the column stores (digits, sign and point
    only: nothing to escape), for the bulk path's tuples."""
    return f"'{decimal_text(value)}'"


_CONVERSIONS = {**conversions, Decimal: _decimal_literal}

SQL_MODE = (
    "STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
    "NO_ENGINE_SUBSTITUTION"
)
"""Refuse what does not fit (a too long text, a number out of range) instead of storing
it cut, as the other backends do."""

LOCK_WAIT_SECONDS = 600
"""How long a writer waits for a named lock (the migration's, a writers' name)."""

_MIGRATION_LOCK = "omc_migration"
_DUPLICATE_KEY = 1062
_STATEMENT_TIMEOUTS = {1969, 3024}  # MariaDB's max_statement_time, MySQL's max_execution_time
_LOST_AT_HANDSHAKE = 2013  # the server accepted, then said nothing within the timeout
_CONNECT_FAILURES = {2002, 2003, 2005, 2006, _LOST_AT_HANDSHAKE}
_LOCKS = "omc_locks"  # connection info: it holds named locks
_UNTIMED = "omc_untimed"  # connection info: its statement timeout is off
_MARIADB = "omc_mariadb"  # connection info: the server is MariaDB
_EXACT = mysql.DECIMAL(65, 30)
_QUOTE: ColumnElement[Any] = literal_column("'\"'")


class MySQL(Dialect):
    name = "mysql"
    decimal_as_text = True
    decimal_type = mysql.VARCHAR(100, charset="ascii", collation="ascii_bin")
    autocommit_statements = False
    joins_json_rows = False
    greatest = "GREATEST"
    least = "LEAST"
    mark = "%s"
    backup_suffix = BACKUP_SUFFIX

    # --- backups: the server's own client tools ------------------------------------

    def backup(self, engine: Engine, path: Path) -> dict[str, int]:
        """`mariadb-dump --single-transaction`: one consistent snapshot, rows counted
        from the dump itself."""
        return backup_mysql(engine.url, path)

    def restore(self, engine: Engine, path: Path) -> None:
        restore_mysql(engine.url, path)

    # --- engine and transactions ---------------------------------------------------

    def create_engine(
        self, url: URL, shown: str, connect_timeout: float, statement_timeout: float
    ) -> Engine:
        """A LIFO pool (the warmest connection first); each connection set up once."""
        connect_args: dict[str, Any] = {"charset": "utf8mb4", "conv": _CONVERSIONS}
        if "connect_timeout" not in url.query:
            connect_args["connect_timeout"] = max(1, math.ceil(connect_timeout))
        engine = create_engine(
            url,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=20,
            pool_use_lifo=True,
            pool_recycle=3600,
            isolation_level="READ COMMITTED",
            connect_args=connect_args,
        )
        event.listen(engine, "connect", _session_setup(statement_timeout))
        event.listen(engine, "checkin", _session_restore(statement_timeout))
        event.listen(
            engine, "handle_error", _unavailable(shown, connect_timeout, statement_timeout)
        )
        return engine

    def same_database(self, a: URL, b: URL) -> bool:
        return (a.host, a.port or 3306, a.database) == (b.host, b.port or 3306, b.database)

    def begin_migration(self, conn: Connection) -> None:
        """No statement timeout; one migrator at a time (a named lock: MySQL's DDL
        commits as it goes, so a transaction cannot hold the migration together)."""
        record = conn.connection.info
        conn.exec_driver_sql(f"SET SESSION {_timeout_variable(record)} = 0")
        record[_UNTIMED] = True
        _named_lock(conn, _MIGRATION_LOCK)

    def begin_write(self, conn: Connection) -> None:
        """Nothing: row locks are taken by the statements that need them."""

    def begin_recomputable_write(self, conn: Connection) -> None:
        """Nothing: when a commit reaches the disk is the server's setting
        (`innodb_flush_log_at_trx_commit`), not a transaction's."""

    def serialize_writers(self, conn: Connection, name: str) -> None:
        """A named lock (`GET_LOCK`), held until the connection returns to the pool."""
        _named_lock(conn, name)

    def lock_rows(self, conn: Connection, query: Select[Any]) -> None:
        conn.execute(query.with_for_update()).all()

    # --- SQL expressions -----------------------------------------------------------

    def among(self, column: Column[str], names: Sequence[str]) -> ColumnElement[bool]:
        """A subquery over `JSON_TABLE` of the names bound as one JSON array."""
        values = text(
            "SELECT j.v FROM JSON_TABLE(:names, '$[*]' COLUMNS "
            "(v VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$')) AS j"
        ).bindparams(bindparam("names", json.dumps(list(names)), unique=True))
        return column.in_(values.columns(v=String))

    def conflict_insert(self, table: Table) -> mysql.Insert:
        return mysql.insert(table)

    def upsert(
        self,
        table: Table,
        values: Mapping[str, Any],
        key: Sequence[str],
        changes: Mapping[str, Any],
        where: ColumnElement[bool] | None = None,
    ) -> Insert:
        """`INSERT … ON DUPLICATE KEY UPDATE`; a condition is `upsert_returning`'s."""
        if where is not None:
            raise StorageError("a conditional upsert on MySQL is upsert_returning's")
        statement = mysql.insert(table).values(**values)
        return statement.on_duplicate_key_update(**changes)

    def insert_missing(self, table: Table, values: Mapping[str, Any]) -> Insert:
        """A no-op update of the first key column on a stored key (`INSERT IGNORE`
        would turn every other error into a warning as well)."""
        first = next(iter(table.primary_key.columns)).name
        return mysql.insert(table).values(**values).on_duplicate_key_update({first: table.c[first]})

    def upsert_returning(
        self,
        conn: Connection,
        table: Table,
        values: Mapping[str, Any],
        key: Sequence[str],
        changes: Mapping[str, Any],
        returning: Sequence[ColumnElement[Any]],
        where: ColumnElement[bool] | None = None,
    ) -> ResultRow[Any] | None:
        """The key's named lock, then the stored row locked and `where` read on it, then
        the row inserted or changed. The named lock keeps two first writers of a key from
        racing to insert it: InnoDB gives the loser of such a race a shared lock on the
        winner's row, and two losers upgrading theirs deadlock."""
        _named_lock(
            conn, f"omc_row:{table.name}:{json.dumps([values[name] for name in key], default=str)}"
        )
        match = and_(*(table.c[name] == values[name] for name in key))
        allowed = where if where is not None else true()
        stored = conn.execute(select(allowed).where(match).with_for_update()).first()
        if stored is None:
            conn.execute(insert(table).values(**values))
        elif stored[0]:
            conn.execute(update(table).where(match).values(**changes))
        else:
            return None
        return conn.execute(select(*returning).where(match)).first()

    def update_returning(
        self, conn: Connection, statement: Update, returning: Sequence[ColumnElement[Any]]
    ) -> list[ResultRow[Any]]:
        """The rows matching the UPDATE locked in key order, changed by key, read back."""
        table = statement.table
        assert isinstance(table, Table)
        key = list(table.primary_key.columns)
        where = statement.whereclause if statement.whereclause is not None else true()
        locked = conn.execute(select(*key).where(where).order_by(*key).with_for_update()).all()
        if not locked:
            return []
        mine = (
            key[0].in_([row[0] for row in locked])
            if len(key) == 1
            else tuple_(*key).in_([tuple(row) for row in locked])
        )
        conn.execute(statement.where(mine))
        return list(conn.execute(select(*returning).where(mine)).all())

    def picked(self, conn: Connection, column: Column[Any], query: Select[Any]) -> Any:
        """The picked keys read (and locked) first: MySQL takes no LIMIT inside `IN`."""
        return column.in_(list(conn.execute(query).scalars()))

    def json_contains(self, column: str, param: str) -> str:
        return f"JSON_CONTAINS({column}, JSON_QUOTE(:{param}))"

    def decimal_text(self, column: Any) -> Any:
        return type_coerce(column, Text)

    def number(self, column: Any) -> Any:
        """A decimal's text as DECIMAL(65, 30): exact to 30 decimal places."""
        return cast(column, _EXACT) if isinstance(column.type, ExactDecimal) else column

    def maybe_greater(self, a: Any, b: Any) -> ColumnElement[bool]:
        """Exact: both sides as DECIMAL(65, 30)."""
        comparison: ColumnElement[bool] = self.number(a) > self.number(b)
        return comparison

    def maybe_negative(self, column: Any) -> ColumnElement[bool]:
        negative: ColumnElement[bool] = self.number(column) < 0
        return negative

    def widened(self, factor: Decimal) -> Decimal:
        return factor

    def json_row(
        self, table: Table, fields: Sequence[Any], key: Sequence[str], series: Sequence[str]
    ) -> list[Any]:
        """The row's object built by `CONCAT('{"exchange":', :json_exchange, …,
        ',"open":"', open, '"', …, '}')`, and its key."""
        parts = json_object_parts(table, fields, series, self._json_value)
        return [func.concat(*parts), *(table.c[name] for name in key)]

    def _json_value(self, field: Any, column: Column[Any]) -> Any:
        """A column's value as JSON text: a decimal's stored text quoted, a string
        escaped."""
        if field.kind is Decimal:
            return func.concat(_QUOTE, column, _QUOTE)
        if field.kind is str:
            return func.json_quote(column)
        return cast(column, mysql.CHAR)

    # --- the bulk write path -------------------------------------------------------

    def json_union(self, stored: str, new: str) -> str:
        """Two assignments of the column, which `ON DUPLICATE KEY UPDATE` makes in order:
        the arrays joined, then that array's distinct items sorted (binary collation: by
        code point, as Python sorts), NULL when empty. In one, a subquery would have to
        read the new value, and `VALUES()` is not allowed inside one."""
        column = stored.rpartition(".")[2]
        return (
            f"JSON_MERGE_PRESERVE(COALESCE({stored}, '[]'), COALESCE({new}, '[]')), "
            f"{column} = (SELECT CONCAT('[', "
            "GROUP_CONCAT(DISTINCT JSON_QUOTE(v) ORDER BY v SEPARATOR ','), ']') "
            f"FROM JSON_TABLE({stored}, '$[*]' COLUMNS "
            "(v VARCHAR(4096) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$')) AS j)"
        )

    def on_conflict(
        self, key: Sequence[str], sets: Mapping[str, str] | None, guard: str | None = None
    ) -> str:
        """ON DUPLICATE KEY UPDATE has no WHERE: a guarded column keeps its stored value
        unless the guard holds. Its assignments apply left to right, each seeing those
        before it, so the columns the guard reads come last in `sets`."""
        if not sets:
            return f"ON DUPLICATE KEY UPDATE {key[0]} = {key[0]}"
        if guard:
            sets = {c: f"IF({guard}, {v}, {c})" for c, v in sets.items()}
        return "ON DUPLICATE KEY UPDATE " + ", ".join(f"{c} = {v}" for c, v in sets.items())

    def new_value(self, column: str) -> str:
        return f"VALUES({column})"

    def staged_columns(self, columns: Sequence[str], key: Sequence[str]) -> Sequence[str]:
        return key

    def insert_all(self, conn: Connection, plan: BulkPlan, rows: list[Row]) -> bool:
        """A plain INSERT of every row inside a savepoint; undone on a stored key."""
        marks = self.marks(len(plan.columns))
        sql = f"INSERT INTO {plan.table.name} ({', '.join(plan.columns)}) VALUES ({marks})"
        conn.exec_driver_sql("SAVEPOINT omc_insert_all")
        try:
            conn.exec_driver_sql(sql, rows)
        except IntegrityError as exc:
            if _errno(exc.orig) != _DUPLICATE_KEY:
                raise
            conn.exec_driver_sql("ROLLBACK TO SAVEPOINT omc_insert_all")
            return False
        conn.exec_driver_sql("RELEASE SAVEPOINT omc_insert_all")
        return True

    def write(self, conn: Connection, plan: BulkPlan, rows: list[Row]) -> None:
        """`executemany` of the plan's `INSERT … ON DUPLICATE KEY UPDATE`."""
        if rows:
            conn.exec_driver_sql(plan.sql, rows)

    def stage(self, conn: Connection, plan: BulkPlan, rows: list[Row]) -> None:
        """The batch's keys, in a temporary table shaped as the key columns."""
        keys = [column.name for column in plan.staged.columns]
        listed = ", ".join(keys)
        conn.exec_driver_sql(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {plan.stage} "
            f"SELECT {listed} FROM {plan.table.name} LIMIT 0"
        )
        conn.exec_driver_sql(f"DELETE FROM {plan.stage}")
        at = [plan.columns.index(name) for name in keys]
        staged = [tuple(row[i] for i in at) for row in rows]
        marks = self.marks(len(at))
        conn.exec_driver_sql(f"INSERT INTO {plan.stage} ({listed}) VALUES ({marks})", staged)

    def merge_staged(self, conn: Connection, plan: BulkPlan, rows: list[Row]) -> None:
        conn.exec_driver_sql(plan.sql, rows)


def _errno(error: BaseException | None) -> int | None:
    args = getattr(error, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _named_lock(conn: Connection, name: str) -> None:
    """`GET_LOCK` of `name` (hashed to fit 64 characters), released at checkin."""
    if len(name) > 64:
        name = "omc_" + hashlib.blake2b(name.encode(), digest_size=16).hexdigest()
    conn.connection.info[_LOCKS] = True
    got = conn.execute(
        text("SELECT GET_LOCK(:name, :wait)"), {"name": name, "wait": LOCK_WAIT_SECONDS}
    ).scalar()
    if got != 1:
        raise StorageError(f"lock {name!r} not granted within {LOCK_WAIT_SECONDS} s")


def _timeout_variable(info: Mapping[str, Any]) -> str:
    return "max_statement_time" if info.get(_MARIADB) else "max_execution_time"


def _timeout_setting(info: Mapping[str, Any], statement_timeout: float) -> str:
    """`max_statement_time` in seconds on MariaDB, `max_execution_time` in ms on MySQL."""
    if info.get(_MARIADB):
        return f"max_statement_time = {max(statement_timeout, 0):g}"
    return f"max_execution_time = {max(math.ceil(statement_timeout * 1000), 0)}"


def _session_setup(statement_timeout: float) -> Callable[[Any, Any], None]:
    """A `connect` hook: UTC, strict, utf8mb4 and the statement timeout, in one SET."""

    def setup(dbapi_connection: Any, record: Any) -> None:
        record.info[_MARIADB] = "MariaDB" in dbapi_connection.get_server_info()
        cursor = dbapi_connection.cursor()
        cursor.execute(
            f"SET time_zone = '+00:00', sql_mode = '{SQL_MODE}', "
            f"{_timeout_setting(record.info, statement_timeout)}"
        )
        cursor.close()

    return setup


def _session_restore(statement_timeout: float) -> Callable[[Any, Any], None]:
    """A `checkin` hook: the named locks given back and a migration's statement timeout
    put back, so the next user of the connection starts as a new one would."""

    def restore(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is None:
            return  # invalidated: the server released its session's locks
        locks, untimed = record.info.pop(_LOCKS, False), record.info.pop(_UNTIMED, False)
        if not (locks or untimed):
            return
        cursor = dbapi_connection.cursor()
        if locks:
            cursor.execute("DO RELEASE_ALL_LOCKS()")
        if untimed:
            cursor.execute(f"SET {_timeout_setting(record.info, statement_timeout)}")
        cursor.close()

    return restore


def _unavailable(
    shown: str, connect_timeout: float, statement_timeout: float
) -> Callable[[ExceptionContext], None]:
    """A `handle_error` hook: a failed connect or a statement cancelled at the statement
    timeout becomes DatabaseUnavailableError; every other error goes on as it was."""

    def translate(context: ExceptionContext) -> None:
        error = context.original_exception
        if context.is_pre_ping or not isinstance(error, MySQLdb.Error):
            return
        code = _errno(error)
        reason = " ".join(str(error.args[-1] if error.args else error).split())
        if context.connection is None and code in _CONNECT_FAILURES:
            if code == _LOST_AT_HANDSHAKE or "timed out" in reason:
                raise DatabaseUnavailableError(
                    shown,
                    f"does not answer: no connection within {max(1, math.ceil(connect_timeout))}"
                    " s (OMC_DATABASE_CONNECT_TIMEOUT)",
                ) from error
            raise DatabaseUnavailableError(shown, f"refused to connect: {reason}") from error
        if code in _STATEMENT_TIMEOUTS:
            raise DatabaseUnavailableError(
                shown,
                f"cancelled a statement after {statement_timeout:g} s "
                "(OMC_DATABASE_STATEMENT_TIMEOUT)",
            ) from error

    return translate


DIALECT = MySQL()
