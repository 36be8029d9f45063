"""SQLite: one file (or memory), WAL, a busy timeout, one writer at a time.

There are no row locks: a writing transaction begins IMMEDIATE and so holds the
database's write lock from its first statement. Decimals are stored as their plain
text (SQLite has no exact numeric type); SQL comparing them goes through floats and
the callers decide exactly on the rows it keeps.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import (
    URL,
    Column,
    ColumnElement,
    Connection,
    Engine,
    Float,
    Select,
    String,
    Table,
    Text,
    and_,
    cast,
    create_engine,
    event,
    func,
    literal_column,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.dialects import sqlite

from ohmycoins.errors import StorageError, os_reason
from ohmycoins.storage.dialects import BulkPlan, Dialect, Row, count_rows
from ohmycoins.storage.tables import ExactDecimal, decimal_text

sqlite3.register_adapter(Decimal, decimal_text)  # the bulk path's decimals, as ExactDecimal


class SQLite(Dialect):
    name = "sqlite"
    decimal_as_text = True
    decimal_type = String()
    autocommit_statements = False
    joins_json_rows = True
    greatest = "MAX"
    least = "MIN"
    mark = "?"

    def create_engine(
        self, url: URL, shown: str, connect_timeout: float, statement_timeout: float
    ) -> Engine:
        """WAL and a busy timeout on every connection; the file's folder made on demand."""
        options: dict[str, Any] = {"connect_args": {"timeout": 30}}
        if url.database and url.database != ":memory:":
            _folder(shown, Path(url.database).expanduser())
            options["pool_use_lifo"] = True  # a file has a queue pool; memory, one per thread
        engine = create_engine(url, **options)
        event.listen(engine, "connect", _pragmas)
        return engine

    def same_database(self, a: URL, b: URL) -> bool:
        return _file(a) == _file(b)

    def begin_migration(self, conn: Connection) -> None:
        """Nothing: the migration's first write takes the database's write lock."""

    def begin_write(self, conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    def begin_recomputable_write(self, conn: Connection) -> None:
        """Nothing: in WAL at `synchronous=NORMAL` no commit waits for the disk."""

    def serialize_writers(self, conn: Connection, name: str) -> None:
        """The database's write lock serializes every writer, whatever its name."""
        self.begin_write(conn)

    def lock_rows(self, conn: Connection, query: Select[Any]) -> None:
        """Nothing: the IMMEDIATE transaction already holds the whole database."""

    def among(self, column: Column[str], names: Sequence[str]) -> ColumnElement[bool]:
        values = func.json_each(json.dumps(list(names))).table_valued("value")
        return column.in_(select(values.c.value))

    def conflict_insert(self, table: Table) -> sqlite.Insert:
        return sqlite.insert(table)

    def json_contains(self, column: str, param: str) -> str:
        return f"EXISTS (SELECT 1 FROM json_each({column}) AS e WHERE e.value = :{param})"

    def decimal_text(self, column: Any) -> Any:
        return type_coerce(column, Text)

    def number(self, column: Any) -> Any:
        return cast(column, Float) if isinstance(column.type, ExactDecimal) else column

    def maybe_greater(self, a: Any, b: Any) -> ColumnElement[bool]:
        """Also true where the two are equal as floats but differ as text."""
        if not isinstance(a.type, ExactDecimal):
            comparison: ColumnElement[bool] = a > b
            return comparison
        fa, fb = cast(a, Float), cast(b, Float)
        return or_(fa > fb, and_(fa == fb, a != b))

    def maybe_negative(self, column: Any) -> ColumnElement[bool]:
        """A decimal's text has a sign."""
        negative: ColumnElement[bool]
        if isinstance(column.type, ExactDecimal):
            negative = type_coerce(column, String).like("-%")
        else:
            negative = column < 0
        return negative

    def widened(self, factor: Decimal) -> float:
        return float(factor) * 0.999999

    def json_row(
        self, table: Table, fields: Sequence[Any], key: Sequence[str], series: Sequence[str]
    ) -> list[Any]:
        """`json_object(…)` of each row; the page's last key is read from its last object."""
        pairs: list[Any] = []
        for field in fields:
            column = table.c[field.name]
            value = self.decimal_text(column) if field.kind is Decimal else column
            pairs += [literal_column(f"'{field.name}'"), value]
        return [func.json_object(*pairs)]

    def join_json_rows(self, query: Select[Any], column: str, page: str, count: str) -> Select[Any]:
        """SQLite feeds the aggregate the rows of the subquery in its order: the LIMIT
        keeps the subquery from being flattened into the aggregate, so it runs as a
        co-routine that yields rows as its ORDER BY sorts them (the tests hold every page
        to the row form, in both orders)."""
        rows = query.subquery("page")
        joined = func.group_concat(rows.c[column], literal_column("','"))
        return select(joined.label(page), func.count().label(count))

    def json_union(self, stored: str, new: str) -> str:
        return (
            "(SELECT NULLIF(json_group_array(value), '[]') FROM ("
            f"SELECT value FROM json_each(COALESCE({stored}, '[]')) UNION "
            f"SELECT value FROM json_each(COALESCE({new}, '[]')) ORDER BY value))"
        )

    def staged_columns(self, columns: Sequence[str], key: Sequence[str]) -> Sequence[str]:
        return key

    def insert_all(self, conn: Connection, plan: BulkPlan, rows: list[Row]) -> bool:
        """The plan's insert (its conflict clause unused when every key is new), undone
        when it left a row out."""
        # a savepoint must not be the transaction's outermost level
        if not self.driver(conn).in_transaction:
            conn.exec_driver_sql("BEGIN")
        conn.exec_driver_sql("SAVEPOINT omc_insert_all")
        inserted = conn.exec_driver_sql(plan.sql, rows).rowcount
        if inserted != len(rows):
            conn.exec_driver_sql("ROLLBACK TO SAVEPOINT omc_insert_all")
        conn.exec_driver_sql("RELEASE SAVEPOINT omc_insert_all")
        return bool(inserted == len(rows))

    def write(self, conn: Connection, plan: BulkPlan, rows: list[Row]) -> None:
        """`executemany` of the plan's `INSERT … ON CONFLICT`, rows as plain tuples."""
        conn.exec_driver_sql(plan.sql, rows)

    def stage(self, conn: Connection, plan: BulkPlan, rows: list[Row]) -> None:
        """The batch's keys, by `executemany`."""
        keys = [column.name for column in plan.staged.columns]
        conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS {plan.stage} ({', '.join(keys)})")
        conn.exec_driver_sql(f"DELETE FROM {plan.stage}")
        at = [plan.columns.index(name) for name in keys]
        staged = [tuple(row[i] for i in at) for row in rows]
        conn.exec_driver_sql(f"INSERT INTO {plan.stage} VALUES ({self.marks(len(at))})", staged)

    def merge_staged(self, conn: Connection, plan: BulkPlan, rows: list[Row]) -> None:
        conn.exec_driver_sql(plan.sql, rows)

    backup_suffix = ".db"

    def backup(self, engine: Engine, path: Path) -> dict[str, int]:
        """SQLite's online backup API, all pages in one step: a read transaction on the
        source, so the copy is one consistent moment while writers go on (WAL). The
        counts are read from the copy itself."""
        source = engine.raw_connection()
        try:
            with contextlib.closing(sqlite3.connect(path)) as copy:
                _driver(source).backup(copy)
        finally:
            source.close()
        written = create_engine(URL.create("sqlite", database=str(path)))
        try:
            with written.connect() as conn:
                return count_rows(conn)
        finally:
            written.dispose()

    def restore(self, engine: Engine, path: Path) -> None:
        """The backup API the other way: the backup file's pages into the database."""
        target = engine.raw_connection()
        try:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as copy:
                copy.backup(_driver(target))
        finally:
            target.close()


def _driver(connection: Any) -> sqlite3.Connection:
    """The sqlite3 connection under a pooled one."""
    driver: sqlite3.Connection = connection.driver_connection
    return driver


def _file(url: URL) -> str:
    name = url.database or ":memory:"
    return name if name == ":memory:" else str(Path(name).expanduser().resolve())


def _folder(url: str, path: Path) -> None:
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


def _pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


DIALECT = SQLite()
