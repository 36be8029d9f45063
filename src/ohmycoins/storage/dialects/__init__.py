"""Every place the backends differ, behind one interface: `Dialect`.

The rest of the project asks `dialect_for(engine, connection, URL or name)` for the
backend's implementation and calls it; it never names a backend itself. Each method
below is one thing done differently per backend (engine set-up, locks, the bulk write
path, SQL fragments, backups with the backend's own tool). A new backend is one more
module here implementing them, and one more line in `_MODULES`.

The implementations are imported on first use, so a backend's driver (psycopg) is
loaded only when a database of that kind is opened, and `storage/tables.py` can ask
this package about a backend without an import cycle.
"""

from __future__ import annotations

import abc
import contextlib
import importlib
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import (
    URL,
    Column,
    ColumnElement,
    Connection,
    Engine,
    Numeric,
    Select,
    Table,
    Text,
    Update,
    and_,
    bindparam,
    delete,
    func,
    inspect,
    literal_column,
    select,
)
from sqlalchemy import Dialect as SQLAlchemyDialect
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Row as ResultRow
from sqlalchemy.sql import table as named_table
from sqlalchemy.sql.dml import Insert
from sqlalchemy.types import TypeEngine

from ohmycoins.errors import StorageError

__all__ = [
    "KEY_TEXT",
    "LONG_TEXT",
    "NUMBER",
    "BulkPlan",
    "Dialect",
    "Expired",
    "Row",
    "count_rows",
    "decimal_as_text",
    "decimal_type",
    "delete_before",
    "dialect_for",
    "driver_url",
    "json_object_parts",
    "run_tool",
    "schema_names",
]

Row = tuple[Any, ...]
APPEND_BATCH = 20_000
"""Rows per `executemany` of `append_vectors` (bounds the tuples held at once)."""

_MODULES = {"sqlite": "sqlite", "postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}
"""SQLAlchemy's backend name -> the module of this package implementing it."""

_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+mysqldb",
    "mariadb": "mysql+mysqldb",
}
"""The scheme of a user's database URL -> SQLAlchemy's backend and driver for it."""

_MYSQL = ("mysql", "mariadb")
_NULL: ColumnElement[Any] = literal_column("'null'")

KEY_TEXT: TypeEngine[str] = Text().with_variant(
    mysql.VARCHAR(191, charset="utf8mb4", collation="utf8mb4_bin"), *_MYSQL
)
"""Text in a primary key, a unique constraint or an index. MySQL indexes no TEXT whole:
there it is a VARCHAR(191), so four of them fit InnoDB's 3,072-byte key, compared byte
by byte (`utf8mb4_bin`) as the other backends compare text."""

LONG_TEXT: TypeEngine[str] = Text().with_variant(
    mysql.MEDIUMTEXT(charset="utf8mb4", collation="utf8mb4_bin"), *_MYSQL
)
"""Any other text. MySQL's TEXT holds 64 KB (a deep order book's JSON holds more) and
takes the database's character set: MEDIUMTEXT in utf8mb4 there."""

NUMBER: TypeEngine[Decimal] = Numeric().with_variant(mysql.DECIMAL(65, 30), *_MYSQL)
"""A plain NUMERIC: MySQL's default NUMERIC is DECIMAL(10, 0), without a fraction."""


@dataclass(frozen=True)
class BulkPlan:
    """How one record type is written on one backend (built once per type, cached)."""

    dialect: Dialect
    table: Table
    columns: tuple[str, ...]
    to_rows: Callable[[Sequence[Any]], list[Row]]
    sql: str
    stage: str
    staged: Table
    """The staging table as SQLAlchemy sees it (what `staged_columns` keeps), to join."""


@dataclass(frozen=True, slots=True)
class Expired:
    """Rows removed by retention from one table (of one timeframe): `rows` in all, and
    the whole partitions (or chunks) dropped to remove them, by name."""

    rows: int
    partitions: tuple[str, ...] = ()


class Dialect(abc.ABC):
    """One backend's way of doing each thing that differs between backends."""

    name: str
    """SQLAlchemy's name of the backend (`engine.dialect.name`)."""

    decimal_as_text: bool
    """Decimals are stored as their plain text (no exact NUMERIC type)."""

    autocommit_statements: bool
    """A single statement runs best in autocommit (no BEGIN/COMMIT round trips)."""

    joins_json_rows: bool
    """A JSON page is joined into one text by the database (else by the reader)."""

    decimal_type: TypeEngine[Any]
    """The column type of an exact decimal."""

    greatest: str
    """SQL function of the larger of two values."""

    least: str
    """SQL function of the smaller of two values."""

    mark: str
    """The driver's placeholder of a parameter, in SQL the bulk path writes itself."""

    # --- engine and transactions ---------------------------------------------------

    @abc.abstractmethod
    def create_engine(
        self, url: URL, shown: str, connect_timeout: float, statement_timeout: float
    ) -> Engine:
        """The engine of `url` (`shown`: the URL as the user wrote it, for messages)."""

    @abc.abstractmethod
    def same_database(self, a: URL, b: URL) -> bool:
        """True when two URLs of this backend name one database."""

    @abc.abstractmethod
    def begin_migration(self, conn: Connection) -> None:
        """Prepare a migration's transaction: one migrator at a time, no timeout."""

    @abc.abstractmethod
    def begin_write(self, conn: Connection) -> None:
        """First statement of a transaction that will write (take the write lock early)."""

    @abc.abstractmethod
    def serialize_writers(self, conn: Connection, name: str) -> None:
        """Make the rest of the transaction the only one named `name` at a time."""

    @abc.abstractmethod
    def lock_rows(self, conn: Connection, query: Select[Any]) -> None:
        """Lock the rows of `query` in its order, where the backend has row locks."""

    @abc.abstractmethod
    def begin_recomputable_write(self, conn: Connection) -> None:
        """First statement of a transaction whose rows can be recomputed from stored data
        (feature rows): its commit need not wait for the disk."""

    def read_all(
        self, conn: Connection, queries: Sequence[tuple[Select[Any], Mapping[str, Any]]]
    ) -> list[Sequence[Sequence[Any]]]:
        """The rows of several reads that do not depend on each other, in their order:
        here one after the other (no round trips on SQLite, a few on MySQL); PostgreSQL
        sends them all before it waits for the first answer."""
        return [conn.execute(query, params).all() for query, params in queries]

    def read_numbers(
        self, conn: Connection, query: Select[Any], params: Mapping[str, Any]
    ) -> list[Row]:
        """The rows of a query whose columns no type converts (numbers: candles read as
        floats), as the driver gives them: plain tuples, no row objects built."""
        result = conn.execute(query, params)
        rows = list(result.cursor.fetchall()) if result.cursor is not None else []
        result.close()
        return rows

    # --- SQL expressions -----------------------------------------------------------

    @abc.abstractmethod
    def among(self, column: Column[str], names: Sequence[str]) -> ColumnElement[bool]:
        """`column IN names`, the names bound as one parameter however many."""

    @abc.abstractmethod
    def conflict_insert(self, table: Table) -> Any:
        """An INSERT into `table` that takes the backend's conflict clauses."""

    def upsert(
        self,
        table: Table,
        values: Mapping[str, Any],
        key: Sequence[str],
        changes: Mapping[str, Any],
        where: ColumnElement[bool] | None = None,
    ) -> Insert:
        """Insert `values`; where `key` is stored, apply `changes` (when `where`)."""
        statement = self.conflict_insert(table).values(**values)
        upsert: Insert = statement.on_conflict_do_update(
            index_elements=[table.c[name] for name in key], set_=dict(changes), where=where
        )
        return upsert

    def insert_missing(self, table: Table, values: Mapping[str, Any]) -> Insert:
        """Insert `values` unless their key is stored."""
        insert: Insert = self.conflict_insert(table).values(**values).on_conflict_do_nothing()
        return insert

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
        """`upsert`, then `returning` of the row written: None when `where` kept the
        stored row as it was."""
        statement = self.upsert(table, values, key, changes, where).returning(*returning)
        return conn.execute(statement).first()

    def update_returning(
        self, conn: Connection, statement: Update, returning: Sequence[ColumnElement[Any]]
    ) -> list[ResultRow[Any]]:
        """Run an UPDATE and return `returning` of each row it changed."""
        return list(conn.execute(statement.returning(*returning)).all())

    def picked(self, conn: Connection, column: Column[Any], query: Select[Any]) -> Any:
        """`column IN (query)`, for an UPDATE of the rows `query` picks (and locks)."""
        return column.in_(select(query.cte("picked").c[column.name]))

    @abc.abstractmethod
    def json_contains(self, column: str, param: str) -> str:
        """SQL: the JSON array of strings in `column` has an element equal to `:param`."""

    @abc.abstractmethod
    def decimal_text(self, column: Any) -> Any:
        """A decimal column as its exact text (never in exponent notation)."""

    @abc.abstractmethod
    def number(self, column: Any) -> Any:
        """A column as a number SQL can compare and compute with."""

    @abc.abstractmethod
    def maybe_greater(self, a: Any, b: Any) -> ColumnElement[bool]:
        """True on every row where a > b (and maybe a few more, cleared exactly later)."""

    @abc.abstractmethod
    def maybe_negative(self, column: Any) -> ColumnElement[bool]:
        """True on every row where the column is below zero."""

    @abc.abstractmethod
    def widened(self, factor: Decimal) -> Decimal | float:
        """`factor` as compared in SQL: itself, or a float a bit smaller."""

    @abc.abstractmethod
    def json_row(
        self, table: Table, fields: Sequence[Any], key: Sequence[str], series: Sequence[str]
    ) -> list[Any]:
        """The columns of a range read's JSON form: the row's JSON object, then, unless
        `joins_json_rows`, the row's key columns."""

    def join_json_rows(self, query: Select[Any], column: str, page: str, count: str) -> Select[Any]:
        """One row: the objects in `column` of the page `query` joined by commas in its
        order (labelled `page`), and how many (`count`); where `joins_json_rows`."""
        raise NotImplementedError(f"{self.name} does not join JSON rows in the database")

    # --- retention and partitions --------------------------------------------------

    def conflict_columns(self, table: Table, key: Sequence[str]) -> Sequence[str]:
        """The columns of the unique index a write of `table` conflicts on: its natural
        key, or more where the backend's partitions need their key in it."""
        return key

    def partitions(self, conn: Connection) -> set[str]:
        """Names of the tables that are partitions of another (not tables of the schema)."""
        return set()

    def ensure_partitions(self, conn: Connection, now: int) -> list[str]:
        """Create the partitions the coming months need; returns those created."""
        return []

    def expiry_cutoff(self, conn: Connection, table: str, cutoff: int) -> int:
        """The cutoff retention applies to `table`: where whole partitions are dropped,
        the start of the partition holding `cutoff` (a partition is dropped whole)."""
        return cutoff

    def expiring_partitions(
        self, conn: Connection, table: str, cutoff: int, timeframe: str | None
    ) -> list[str]:
        """The partitions retention would drop whole (of one timeframe of candles)."""
        return []

    def expire(
        self,
        conn: Connection,
        table: Table,
        column: ColumnElement[Any],
        cutoff: int,
        timeframe: str | None,
    ) -> Expired:
        """Remove the rows of `table` (of one `timeframe`) whose `column` is before
        `cutoff`: a DELETE, where the backend has no partitions to drop."""
        return Expired(delete_before(conn, table, column, cutoff, timeframe))

    # --- the bulk write path -------------------------------------------------------

    def driver(self, conn: Connection) -> Any:
        """The driver's own connection under `conn` (COPY, savepoints set by hand)."""
        raw = conn.connection.driver_connection
        if raw is None:
            raise StorageError(f"{self.name} connection has no driver connection")
        return raw

    @abc.abstractmethod
    def json_union(self, stored: str, new: str) -> str:
        """SQL for the sorted union of two JSON string arrays, NULL when empty."""

    def on_conflict(
        self, key: Sequence[str], sets: Mapping[str, str] | None, guard: str | None = None
    ) -> str:
        """SQL after a bulk INSERT: on a stored `key`, apply `sets` (column -> SQL of
        `stored_value` and `new_value`) where `guard` holds; with no sets, keep the
        stored row."""
        if not sets:
            return f"ON CONFLICT ({', '.join(key)}) DO NOTHING"
        assignments = ", ".join(f"{column} = {value}" for column, value in sets.items())
        update = f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {assignments}"
        return f"{update} WHERE {guard}" if guard else update

    def stored_value(self, table: str, column: str) -> str:
        """SQL, in `on_conflict`'s sets: the stored row's value of `column`."""
        return f"{table}.{column}"

    def new_value(self, column: str) -> str:
        """SQL, in `on_conflict`'s sets: the value of `column` the INSERT brought."""
        return f"excluded.{column}"

    def merge_source(self, columns: Sequence[str], stage: str) -> str:
        """The rows a bulk merge inserts: `VALUES` of each row (`executemany`), or the
        staged batch."""
        return f"VALUES ({self.marks(len(columns))})"

    def marks(self, count: int) -> str:
        """`count` placeholders, comma-separated."""
        return ", ".join(self.mark for _ in range(count))

    @abc.abstractmethod
    def staged_columns(self, columns: Sequence[str], key: Sequence[str]) -> Sequence[str]:
        """The columns the staging table holds."""

    def append_vectors(
        self,
        conn: Connection,
        table: Table,
        key: Sequence[str],
        ts: np.ndarray[Any, np.dtype[np.int64]],
        flags: np.ndarray[Any, np.dtype[np.bool_]],
        values: np.ndarray[Any, np.dtype[np.float64]],
    ) -> None:
        """Insert rows of `table` (the feature rows), none of whose keys is stored: the
        text `key` columns the same on every row, then per row its `ts`, its flag and its
        row of `values` as little-endian float64 bytes. The fastest plain insert; here
        `executemany` of a plain INSERT in one transaction, rows as tuples built batch by
        batch (SQLite reuses the prepared statement; mysqlclient sends multi-row INSERTs)."""
        statement = f"INSERT INTO {table.name} VALUES ({self.marks(len(table.columns))})"
        rows = np.ascontiguousarray(values, dtype="<f8")
        for start in range(0, len(ts), APPEND_BATCH):
            stop = start + APPEND_BATCH
            batch = zip(
                ts[start:stop].tolist(), flags[start:stop].tolist(), rows[start:stop], strict=True
            )
            conn.exec_driver_sql(statement, [(*key, t, f, v.tobytes()) for t, f, v in batch])

    @abc.abstractmethod
    def insert_all(self, conn: Connection, plan: BulkPlan, rows: list[Row]) -> bool:
        """Insert every row when none of their keys is stored: True when done; False,
        with nothing written, when some key was stored."""

    @abc.abstractmethod
    def write(self, conn: Connection, plan: BulkPlan, rows: list[Row]) -> None:
        """Write a batch folded by key with the plan's merge rule."""

    @abc.abstractmethod
    def stage(self, conn: Connection, plan: BulkPlan, rows: list[Row]) -> None:
        """Put a batch in the connection's session-local staging table."""

    @abc.abstractmethod
    def merge_staged(self, conn: Connection, plan: BulkPlan, rows: list[Row]) -> None:
        """The merge into the table of the staged batch (`rows`)."""

    # --- backups -------------------------------------------------------------------

    backup_suffix: str
    """The file name ending of this backend's backups (`.db`, `.dump`, `.sql`)."""

    @abc.abstractmethod
    def backup(self, engine: Engine, path: Path) -> dict[str, int]:
        """Write an online, consistent backup of the whole database to `path`; returns
        the rows of each table as the backup holds them (its manifest)."""

    @abc.abstractmethod
    def restore(self, engine: Engine, path: Path) -> None:
        """Load the backup at `path` (one `backup` wrote) into the empty database."""


def dialect_for(of: Engine | Connection | SQLAlchemyDialect | URL | str) -> Dialect:
    """The implementation of the backend of an engine, a connection, SQLAlchemy's
    dialect, a URL or a name."""
    if isinstance(of, Engine | Connection):
        name = of.dialect.name
    elif isinstance(of, SQLAlchemyDialect):
        name = of.name
    elif isinstance(of, URL):
        name = of.get_backend_name()
    else:
        name = of
    return _implementation(name)


def driver_url(url: str) -> str:
    """The SQLAlchemy URL of a user's database URL: its scheme mapped to the driver the
    project installs (`postgresql://` -> psycopg 3, `mysql://` and `mariadb://` ->
    mysqlclient); a URL naming its driver stays as it is."""
    scheme, separator, rest = url.partition("://")
    return f"{_DRIVERS[scheme]}://{rest}" if separator and scheme in _DRIVERS else url


def decimal_type(dialect: SQLAlchemyDialect) -> TypeEngine[Any]:
    """The column type of an exact decimal on this backend (NUMERIC without one)."""
    if dialect.name in _MODULES:
        return _implementation(dialect.name).decimal_type
    return Numeric(asdecimal=True)


def decimal_as_text(dialect: SQLAlchemyDialect) -> bool:
    """True when the backend stores decimals as text. SQLAlchemy's generic dialect (a
    statement or type printed without a database) shows them as NUMERIC."""
    return dialect.name in _MODULES and _implementation(dialect.name).decimal_as_text


def schema_names(conn: Connection) -> Callable[[str | None, str, Any], bool]:
    """An Alembic `include_name` filter of the database of `conn`: every name but the
    partitions of partitioned tables, which are not tables of the schema. They are
    listed on the first table name asked about (a schema comparison), never by a plain
    upgrade, and once, not per name."""
    partitions = cache(lambda: dialect_for(conn).partitions(conn))

    def include(name: str | None, kind: str, _parents: Any) -> bool:
        return not (kind == "table" and name in partitions())

    return include


def count_rows(conn: Connection) -> dict[str, int]:
    """The rows of every table the connection sees, by table name (what a backup's
    manifest records and a restore is checked against)."""
    names = sorted(inspect(conn).get_table_names())
    return {
        name: int(conn.execute(select(func.count()).select_from(named_table(name))).scalar_one())
        for name in names
    }


def delete_before(
    conn: Connection,
    table: Table,
    column: ColumnElement[Any],
    cutoff: int,
    timeframe: str | None,
) -> int:
    """DELETE the rows of `table` (of one `timeframe`) whose `column` is before `cutoff`;
    returns how many."""
    where = [column < cutoff]
    if timeframe is not None:
        where.append(table.c.timeframe == timeframe)
    return int(conn.execute(delete(table).where(and_(*where))).rowcount)


def json_object_parts(
    table: Table,
    fields: Sequence[Any],
    series: Sequence[str],
    value: Callable[[Any, Column[Any]], Any],
) -> list[Any]:
    """The pieces of a row's JSON object text, in order, for a backend to concatenate
    (`'{"exchange":'`, its value, `',"open":'`, …, `'}'`): a series column as its bound
    JSON text (`json_<name>`), any other as `value(field, column)` renders it, a nullable
    one `null` when NULL."""
    parts: list[Any] = []
    for index, field in enumerate(fields):
        rendered: Any
        if field.name in series:
            rendered = bindparam(f"json_{field.name}", type_=Text)
        else:
            rendered = value(field, table.c[field.name])
            if field.nullable:
                rendered = func.coalesce(rendered, _NULL)
        opening = "{" if index == 0 else ","
        parts += [literal_column(f"'{opening}\"{field.name}\":'"), rendered]
    parts.append(literal_column("'}'"))
    return parts


def run_tool(
    args: Sequence[str], env: Mapping[str, str], what: str, stdin: Path | None = None
) -> None:
    """Run a database's own client tool (`pg_dump`, `mariadb-dump`…); its failure is one
    `StorageError` line with the tool's last words. The password travels in `env`, never
    on the command line, where every user of the machine can read it."""
    with contextlib.ExitStack() as stack:
        given = stack.enter_context(stdin.open("rb")) if stdin else subprocess.DEVNULL
        try:
            done = subprocess.run(
                list(args), env={**os.environ, **env}, stdin=given, capture_output=True, check=False
            )
        except FileNotFoundError:
            raise StorageError(f"{what} failed: {args[0]} is not installed") from None
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").split()
        words = " ".join(said[-60:]) or f"exit code {done.returncode}"
        raise StorageError(f"{what} failed: {args[0]}: {words}")


@cache
def _implementation(name: str) -> Dialect:
    module = _MODULES.get(name)
    if module is None:
        raise StorageError(f"no support for {name} databases (sqlite, postgresql, mysql)")
    implementation: Dialect = importlib.import_module(f"{__name__}.{module}").DIALECT
    return implementation
