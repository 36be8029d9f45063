"""Every place the backends differ, behind one interface: `Dialect`.

The rest of the project asks `dialect_for(engine, connection, URL or name)` for the
backend's implementation and calls it; it never names a backend itself. Each method
below is one thing done differently per backend (engine set-up, locks, the bulk write
path, SQL fragments). A new backend is one more module here implementing them, and
one more line in `_MODULES`.

The implementations are imported on first use, so a backend's driver (psycopg) is
loaded only when a database of that kind is opened, and `storage/tables.py` can ask
this package about a backend without an import cycle.
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import URL, Column, ColumnElement, Connection, Engine, Select, Table
from sqlalchemy import Dialect as SQLAlchemyDialect
from sqlalchemy.sql.dml import Insert

from ohmycoins.errors import StorageError

__all__ = ["BulkPlan", "Dialect", "Row", "decimal_as_text", "dialect_for"]

Row = tuple[Any, ...]

_MODULES = {"sqlite": "sqlite", "postgresql": "postgres"}
"""SQLAlchemy's backend name -> the module of this package implementing it."""


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

    greatest: str
    """SQL function of the larger of two values."""

    least: str
    """SQL function of the smaller of two values."""

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

    @abc.abstractmethod
    def merge_source(self, columns: Sequence[str], stage: str) -> str:
        """The rows a bulk merge inserts: `VALUES` of each row, or the staged batch."""

    @abc.abstractmethod
    def staged_columns(self, columns: Sequence[str], key: Sequence[str]) -> Sequence[str]:
        """The columns the staging table holds."""

    @abc.abstractmethod
    def append_rows(self, conn: Connection, table: Table, rows: list[Row]) -> None:
        """Insert rows holding every column of `table` in its order, none of whose keys
        is stored (a derived table rebuilt range by range): the fastest plain insert."""

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


def decimal_as_text(dialect: SQLAlchemyDialect) -> bool:
    """True when the backend stores decimals as text. SQLAlchemy's generic dialect (a
    statement or type printed without a database) shows them as NUMERIC."""
    return dialect.name in _MODULES and _implementation(dialect.name).decimal_as_text


@cache
def _implementation(name: str) -> Dialect:
    module = _MODULES.get(name)
    if module is None:
        raise StorageError(f"no support for {name} databases (sqlite, postgresql)")
    implementation: Dialect = importlib.import_module(f"{__name__}.{module}").DIALECT
    return implementation
