"""PostgreSQL through psycopg 3: row locks, advisory locks, binary COPY.

A database that does not answer never hangs us: connections give up after the
connect timeout and the server cancels a statement at the statement timeout; either
raises `DatabaseUnavailableError`, one line naming the URL (never its password) and
the setting to change.

The bulk path COPYs a batch straight into the table when none of its keys is stored
yet (inside a savepoint); otherwise into a session-local staging table, then one
`INSERT … SELECT … ON CONFLICT` into the real table.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
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
    bindparam,
    cast,
    create_engine,
    event,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy import Dialect as SQLAlchemyDialect
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Compiled, ExceptionContext
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeDecorator

from ohmycoins.errors import DatabaseUnavailableError
from ohmycoins.storage.dialects import (
    BulkPlan,
    Dialect,
    Expired,
    Row,
    count_rows,
    json_object_parts,
    pg_partitions,
    run_tool,
)
from ohmycoins.storage.tables import ExactDecimal, LevelsJson, StringsJson

_MIGRATION_LOCK_ID = 0x6F6D63  # advisory lock taken while migrating
_QUERY_CANCELED = "57014"  # SQLSTATE of a cancelled statement
_COPY_TYPES = {
    "BIGINT": "int8", "TEXT": "text", "BOOLEAN": "bool", "INTEGER": "int4", "BLOB": "bytea",
}  # fmt: skip
_QUOTE: ColumnElement[Any] = literal_column("'\"'")
_RECOMPUTABLE = "SET LOCAL synchronous_commit = off"
PARTITION_LOCK_TIMEOUT = "5s"
"""How long partition maintenance (a month created, moved or dropped) waits for the
table lock it needs. A DDL statement waiting for its lock makes every later reader and
writer of the table wait behind it, and a reader that waits on us in turn (a backup's
`pg_dump`, whose snapshot transaction holds its locks) would never let it through; past
this the step fails, is recorded, and the next run does it."""
PG_DUMP_LOCK_WAIT = "60s"
"""How long `pg_dump` waits for its table locks before the backup fails (and is
reported) rather than waiting behind a stuck schema change for ever."""


class PostgreSQL(Dialect):
    name = "postgresql"
    decimal_as_text = False
    decimal_type = Numeric(asdecimal=True)
    autocommit_statements = True
    joins_json_rows = False
    greatest = "GREATEST"
    least = "LEAST"
    mark = "%s"

    def create_engine(
        self, url: URL, shown: str, connect_timeout: float, statement_timeout: float
    ) -> Engine:
        """The pool hands out the connection used last (LIFO): its caches are the warmest,
        and after a burst the surplus ones stay idle instead of taking turns."""
        engine = create_engine(
            url,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=20,
            pool_use_lifo=True,
            connect_args=_timeouts(url, connect_timeout, statement_timeout),
        )
        translate = _unavailable(shown, connect_timeout, statement_timeout)
        event.listen(engine, "handle_error", translate)
        return engine

    def same_database(self, a: URL, b: URL) -> bool:
        return (a.host, a.port or 5432, a.database) == (b.host, b.port or 5432, b.database)

    def begin_migration(self, conn: Connection) -> None:
        """No statement timeout (a big table's rewrite); one migrator at a time."""
        conn.execute(text("SET LOCAL statement_timeout = 0"))
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})

    def begin_write(self, conn: Connection) -> None:
        """Nothing: row locks are taken by the statements that need them."""

    def serialize_writers(self, conn: Connection, name: str) -> None:
        """An advisory lock on a key hashed from `name`, until the transaction ends."""
        key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), signed=True)
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})

    def begin_recomputable_write(self, conn: Connection) -> None:
        """The commit does not wait for the WAL to reach the disk (`synchronous_commit`
        off, this transaction only): a crash can lose the last such transactions whole,
        never part of one nor a transaction committed after them, and what is lost is
        recomputed by the next run. Sent with the transaction's BEGIN (one round trip)."""
        driver = self.driver(conn)
        with _as_sqlalchemy_errors(_RECOMPUTABLE), driver.pipeline():
            driver.execute(_RECOMPUTABLE)

    def read_all(
        self, conn: Connection, queries: Sequence[tuple[Select[Any], Mapping[str, Any]]]
    ) -> list[Sequence[Sequence[Any]]]:
        """Every statement is sent before the first answer is awaited (psycopg's pipeline
        mode): one round trip for all, where one each would wait on the server in turn.
        Each statement is compiled once (`_compiled`); values travel in binary (a float
        is read without parsing its text) and come back as SQLAlchemy gives them (the
        column types' own conversions, JSON text to tuples)."""
        driver = self.driver(conn)
        plans = [(_compiled(query, conn.dialect), params) for query, params in queries]
        with _as_sqlalchemy_errors("; ".join(plan.sql for plan, _ in plans)):
            with driver.pipeline():
                cursors = [driver.cursor(binary=True) for _ in plans]
                for cursor, (plan, params) in zip(cursors, plans, strict=True):
                    cursor.execute(plan.sql, plan.compiled.construct_params(params))
            answers = [cursor.fetchall() for cursor in cursors]
        return [plan.rows(rows) for (plan, _), rows in zip(plans, answers, strict=True)]

    def read_numbers(
        self, conn: Connection, query: Select[Any], params: Mapping[str, Any]
    ) -> list[Row]:
        """In binary: a float is read without parsing its text."""
        plan = _compiled(query, conn.dialect)
        with _as_sqlalchemy_errors(plan.sql), self.driver(conn).cursor(binary=True) as cursor:
            cursor.execute(plan.sql, plan.compiled.construct_params(params))
            rows: list[Row] = cursor.fetchall()
        return rows

    def lock_rows(self, conn: Connection, query: Select[Any]) -> None:
        conn.execute(query.with_for_update()).all()

    def among(self, column: Column[str], names: Sequence[str]) -> ColumnElement[bool]:
        """A subquery, not `= ANY(array)`: PostgreSQL hashes it once (a semi-join), where
        a prepared statement's `= ANY($1)` compares every row with every name."""
        array = bindparam(None, list(names), type_=postgresql.ARRAY(Text))
        return column.in_(select(func.unnest(array)))

    def conflict_insert(self, table: Table) -> postgresql.Insert:
        return postgresql.insert(table)

    def json_contains(self, column: str, param: str) -> str:
        return (
            f"EXISTS (SELECT 1 FROM json_array_elements_text({column}::json) AS e(value) "
            f"WHERE e.value = :{param})"
        )

    def decimal_text(self, column: Any) -> Any:
        return cast(column, Text)

    def number(self, column: Any) -> Any:
        return column

    def maybe_greater(self, a: Any, b: Any) -> ColumnElement[bool]:
        comparison: ColumnElement[bool] = a > b
        return comparison

    def maybe_negative(self, column: Any) -> ColumnElement[bool]:
        negative: ColumnElement[bool] = column < 0
        return negative

    def widened(self, factor: Decimal) -> Decimal:
        return factor

    def json_row(
        self, table: Table, fields: Sequence[Any], key: Sequence[str], series: Sequence[str]
    ) -> list[Any]:
        """The row's object built by concatenation (`'{"exchange":' || :json_exchange ||
        … || ',"open":"' || open::text || '"' || … || '}'`), and its key."""
        parts = json_object_parts(table, fields, series, self._json_value)
        joined = functools.reduce(lambda so_far, part: so_far.op("||")(part), parts)
        return [joined, *(table.c[name] for name in key)]

    def _json_value(self, field: Any, column: Column[Any]) -> Any:
        """A column's value as JSON text: a decimal quoted, a string escaped."""
        if field.kind is Decimal:
            return _QUOTE.op("||")(self.decimal_text(column)).op("||")(_QUOTE)
        if field.kind is str:
            return cast(func.to_json(column), Text)
        return cast(column, Text)

    def json_union(self, stored: str, new: str) -> str:
        return (
            "(SELECT json_agg(v ORDER BY v)::text FROM ("
            f"SELECT json_array_elements_text(COALESCE({stored}, '[]')::json) AS v UNION "
            f"SELECT json_array_elements_text(COALESCE({new}, '[]')::json)) AS u)"
        )

    def merge_source(self, columns: Sequence[str], stage: str) -> str:
        return f"SELECT {', '.join(columns)} FROM {stage}"

    def staged_columns(self, columns: Sequence[str], key: Sequence[str]) -> Sequence[str]:
        return columns

    def conflict_columns(self, table: Table, key: Sequence[str]) -> Sequence[str]:
        """A partitioned table's primary key holds `ts` (see `pg_partitions`)."""
        if table.name in pg_partitions.PARTITIONED:
            return pg_partitions.partition_key(key)
        return key

    def partitions(self, conn: Connection) -> set[str]:
        return pg_partitions.all_partitions(conn)

    def ensure_partitions(self, conn: Connection, now: int) -> list[str]:
        _limit_lock_wait(conn)
        return [
            name
            for table in pg_partitions.PARTITIONED
            for name in pg_partitions.ensure_months(conn, table, now)
        ]

    def expiry_cutoff(self, conn: Connection, table: str, cutoff: int) -> int:
        if (
            table in pg_partitions.PARTITIONED
            and pg_partitions.layout(conn, table) == "partitioned"
        ):
            return pg_partitions.month_start(cutoff)
        return cutoff

    def expiring_partitions(
        self, conn: Connection, table: str, cutoff: int, timeframe: str | None
    ) -> list[str]:
        if table not in pg_partitions.PARTITIONED:
            return []
        return pg_partitions.droppable(conn, table, cutoff, timeframe)

    def expire(
        self,
        conn: Connection,
        table: Table,
        column: ColumnElement[Any],
        cutoff: int,
        timeframe: str | None,
    ) -> Expired:
        """Whole partitions dropped where the table is partitioned; else a DELETE."""
        if table.name in pg_partitions.PARTITIONED:
            _limit_lock_wait(conn)
            return pg_partitions.expire(conn, table, column, cutoff, timeframe)
        return super().expire(conn, table, column, cutoff, timeframe)

    def append_vectors(
        self,
        conn: Connection,
        table: Table,
        key: Sequence[str],
        ts: np.ndarray[Any, np.dtype[np.int64]],
        flags: np.ndarray[Any, np.dtype[np.bool_]],
        values: np.ndarray[Any, np.dtype[np.float64]],
    ) -> None:
        """One binary COPY whose rows are laid out by numpy, not Python: every row has
        the same shape (the same key texts, a bigint, a bool, a bytea of the same
        length), so the whole stream is one structured array (`_vector_rows`). A few
        rows (an update) go as a plain INSERT: one round trip, where a COPY takes two."""
        if len(ts) <= FEW_ROWS:
            super().append_vectors(conn, table, key, ts, flags, values)
            return
        columns = ", ".join(column.name for column in table.columns)
        statement = f"COPY {table.name} ({columns}) FROM STDIN (FORMAT BINARY)"
        with (
            self.driver(conn).cursor() as cursor,
            _as_sqlalchemy_errors(statement),
            cursor.copy(statement) as copy,
        ):
            copy.write(_COPY_HEADER)
            for start in range(0, len(ts), COPY_ROWS):
                part = slice(start, start + COPY_ROWS)
                copy.write(_vector_rows(key, ts[part], flags[part], values[part]))
            copy.write(_COPY_TRAILER)

    def insert_all(self, conn: Connection, plan: BulkPlan, rows: list[Row]) -> bool:
        """COPY straight into the table inside a savepoint; False (undone) on a stored key.
        Where the table's unique index is wider than the natural key (a partitioned
        trades table: a trade id stored at another time would not stop the COPY), the
        natural keys are looked for first (`_none_stored`); False when one may be stored:
        the caller then stages the batch and checks each key."""
        key = [column.name for column in plan.table.primary_key.columns]
        if list(self.conflict_columns(plan.table, key)) != key and not _none_stored(
            self, conn, plan, key, rows
        ):
            return False
        types = _copy_types(plan.table)
        statement = f"COPY {plan.table.name} ({', '.join(plan.columns)}) FROM STDIN (FORMAT BINARY)"
        with self.driver(conn).cursor() as cursor, _as_sqlalchemy_errors(statement):
            cursor.execute("SAVEPOINT omc_direct_copy")
            try:
                _copy(cursor, statement, types, rows)
            except psycopg.errors.UniqueViolation:
                cursor.execute("ROLLBACK TO SAVEPOINT omc_direct_copy")
                return False
            cursor.execute("RELEASE SAVEPOINT omc_direct_copy")
            return True

    def write(self, conn: Connection, plan: BulkPlan, rows: list[Row]) -> None:
        """COPY straight into the table when every key is new; otherwise the batch
        staged, then one `INSERT … SELECT … ON CONFLICT`."""
        if not rows or self.insert_all(conn, plan, rows):
            return
        self.stage(conn, plan, rows)
        self.merge_staged(conn, plan, rows)

    def stage(self, conn: Connection, plan: BulkPlan, rows: list[Row]) -> None:
        """Every column, by binary COPY."""
        types = _copy_types(plan.table)
        columns = ", ".join(plan.columns)
        with self.driver(conn).cursor() as cursor, _as_sqlalchemy_errors(f"COPY {plan.stage}"):
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {plan.stage} "
                f"(LIKE {plan.table.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
            cursor.execute(f"TRUNCATE {plan.stage}")
            _copy(cursor, f"COPY {plan.stage} ({columns}) FROM STDIN (FORMAT BINARY)", types, rows)

    def merge_staged(self, conn: Connection, plan: BulkPlan, rows: list[Row]) -> None:
        """From the staged batch: `rows` are already there."""
        conn.exec_driver_sql(plan.sql)

    backup_suffix = ".dump"

    def backup(self, engine: Engine, path: Path) -> dict[str, int]:
        """`pg_dump --format=custom` of the snapshot of a REPEATABLE READ transaction
        that counts the rows too (`pg_export_snapshot`): the dump and its counts are one
        moment, however many writers go on meanwhile. The whole database is dumped (a
        URL's `search_path` option does not narrow it)."""
        with engine.connect() as conn:
            snapshot_conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with snapshot_conn.begin():
                snapshot = snapshot_conn.execute(text("SELECT pg_export_snapshot()")).scalar()
                counts = count_rows(snapshot_conn)
                args = ["pg_dump", "--format=custom", "--no-owner", "--no-privileges"]
                args += [f"--lock-wait-timeout={PG_DUMP_LOCK_WAIT}"]
                args += [f"--snapshot={snapshot}", f"--file={path}"]
                run_tool(args, _libpq_env(engine.url), "backup")
        return counts

    def restore(self, engine: Engine, path: Path) -> None:
        """`pg_restore` in one transaction that stops at the first error: a failed
        restore leaves the database empty, as it was."""
        args = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error"]
        args += ["--single-transaction", f"--dbname={engine.url.database}", str(path)]
        run_tool(args, _libpq_env(engine.url), "restore")


CANDIDATES = 10_000
"""Stored ids read back at most per series in the batch's id range before the check
gives up and the batch takes the staged path (ids whose text order straddles many
stored ones, e.g. "999" and "1000")."""

_BYTE_ORDER = frozenset({"C", "POSIX", "C.UTF-8", "C.utf8", "ucs_basic"})
"""Collations that order text by its bytes (UTF-8: by code point, as Python does)."""


def _none_stored(
    dialect: PostgreSQL, conn: Connection, plan: BulkPlan, key: list[str], rows: list[Row]
) -> bool:
    """True when no stored row holds a natural key of `rows`, whatever its `ts`.

    The key's last column (the trade id) is looked for per series (its other columns)
    in the range between the batch's smallest and largest id: one index range scan per
    partition, which finds nothing for a batch of new ids, where looking up each id
    (or joining a staged batch) on every partition costs more than the write. A stored
    id inside the range that is not one of the batch's does not matter. The bounds are
    taken in Python where the column orders text by its bytes, by the server otherwise.
    Each series' writers are serialized until commit, so no other write of the same
    ids comes between this look and the COPY."""
    *series_columns, id_column = key
    at = [plan.columns.index(name) for name in key]
    ids_of: dict[tuple[Any, ...], list[str]] = {}
    for row in rows:
        ids_of.setdefault(tuple(row[i] for i in at[:-1]), []).append(row[at[-1]])
    for series in sorted(ids_of):
        dialect.serialize_writers(conn, f"{plan.table.name}:{':'.join(map(str, series))}")
    table = plan.table.name
    same = " AND ".join(f"{name} = %s" for name in series_columns)
    look = (
        f"SELECT {id_column} FROM {table} WHERE {same} AND {id_column} BETWEEN %s AND %s LIMIT %s"
    )
    with dialect.driver(conn).cursor() as cursor, _as_sqlalchemy_errors(look):
        order = _column_order(cursor, table, id_column)
        for series, ids in ids_of.items():
            low, high = _bounds(cursor, ids, order)
            stored = {
                found for (found,) in cursor.execute(look, (*series, low, high, CANDIDATES + 1))
            }
            if len(stored) > CANDIDATES or not stored.isdisjoint(ids):
                return False
    return True


def _column_order(cursor: psycopg.Cursor[Any], table: str, column: str) -> str | None:
    """How `column` of `table` orders text: None by its bytes (as Python does); else
    the `COLLATE` clause that compares the batch's ids in its order ("": the
    database's)."""
    row = cursor.execute(
        "SELECT c.collname, d.datcollate "
        "FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation, pg_database d "
        "WHERE a.attrelid = to_regclass(%s) AND a.attname = %s "
        "AND d.datname = current_database()",
        (table, column),
    ).fetchone()
    if row is None:
        return ""
    name, database = str(row[0]), str(row[1])
    if (database if name == "default" else name) in _BYTE_ORDER:
        return None
    return "" if name == "default" else ' COLLATE "{}"'.format(name.replace('"', '""'))


def _bounds(cursor: psycopg.Cursor[Any], ids: list[str], order: str | None) -> tuple[str, str]:
    """The smallest and largest of `ids` in the column's order (see `_column_order`)."""
    if order is None:
        return min(ids), max(ids)
    query = f"SELECT min(i{order}), max(i{order}) FROM unnest(%s::text[]) AS i"
    row = cursor.execute(query, (ids,)).fetchone()
    assert row is not None
    return str(row[0]), str(row[1])


def _timeouts(url: URL, connect_timeout: float, statement_timeout: float) -> dict[str, Any]:
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


def _libpq_env(url: URL) -> dict[str, str]:
    """libpq's environment naming the database of `url`, for its client tools: the
    password there, not on a command line anyone can read."""
    env = {
        "PGHOST": url.host or "",
        "PGPORT": str(url.port or 5432),
        "PGUSER": url.username or "",
        "PGDATABASE": url.database or "",
    }
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    if "sslmode" in url.query:
        env["PGSSLMODE"] = str(url.query["sslmode"])
    return {name: value for name, value in env.items() if value}


def _libpq_seconds(timeout: float) -> int:
    return max(2, math.ceil(timeout))


def _unavailable(
    shown: str, connect_timeout: float, statement_timeout: float
) -> Callable[[ExceptionContext], None]:
    """A `handle_error` hook that turns a failed connect (refused, timed out) or a
    statement cancelled at the statement timeout into DatabaseUnavailableError; every
    other error goes on as SQLAlchemy raised it."""

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


@contextlib.contextmanager
def _as_sqlalchemy_errors(statement: str) -> Iterator[None]:
    """The driver's errors from a COPY (a statement timeout, a lost connection) leave as
    SQLAlchemy's, as from every other write, so they become a StorageError the same way."""
    try:
        yield
    except psycopg.Error as exc:
        raise DBAPIError.instance(statement, None, exc, psycopg.Error) from exc


def _limit_lock_wait(conn: Connection) -> None:
    """Partition maintenance in this transaction waits `PARTITION_LOCK_TIMEOUT` at most
    for a lock."""
    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{PARTITION_LOCK_TIMEOUT}'")


@dataclass(frozen=True)
class _Compiled:
    """A SELECT compiled for the driver, and the conversion of its values that
    SQLAlchemy would make (each column type's `process_result_value`)."""

    sql: str
    compiled: Compiled
    converts: tuple[tuple[int, Callable[[Any], Any]], ...]
    """(column index, conversion) of each column whose type converts its values."""

    def rows(self, fetched: list[Any]) -> Sequence[Sequence[Any]]:
        """The fetched rows with their values converted (as they are when none is)."""
        if not self.converts:
            return fetched
        out = []
        for row in fetched:
            values = list(row)
            for index, convert in self.converts:
                values[index] = convert(values[index])
            out.append(values)
        return out


@functools.lru_cache(maxsize=64)
def _compiled(query: Select[Any], dialect: SQLAlchemyDialect) -> _Compiled:
    """A statement built once (`functools.cache`) compiled once per dialect."""
    compiled = query.compile(dialect=dialect)
    converts = tuple(
        (index, functools.partial(column.type.process_result_value, dialect=dialect))
        for index, column in enumerate(query.selected_columns)
        if isinstance(column.type, TypeDecorator)
    )
    return _Compiled(compiled.string, compiled, converts)


def _copy(cursor: Any, statement: str, types: Sequence[str], rows: list[Row]) -> None:
    with cursor.copy(statement) as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
"""Binary COPY: the signature, no flags, no header extension."""
_COPY_TRAILER = b"\xff\xff"
COPY_ROWS = 20_000
"""Rows laid out at once by `append_vectors` (bounds the extra buffer)."""
FEW_ROWS = 16
"""At most this many rows, `append_vectors` INSERTs rather than COPYs."""


def _vector_rows(
    key: Sequence[str],
    ts: np.ndarray[Any, np.dtype[np.int64]],
    flags: np.ndarray[Any, np.dtype[np.bool_]],
    values: np.ndarray[Any, np.dtype[np.float64]],
) -> bytes:
    """Binary COPY tuples: a field count, then each field as a big-endian length and
    its bytes (text as UTF-8, int8 and bool in network order, bytea as it is)."""
    encoded = [name.encode() for name in key]
    width = values.shape[1]
    fields: list[tuple[Any, ...]] = [("count", ">i2")]
    for index, word in enumerate(encoded):
        fields += [(f"n{index}", ">i4"), (f"t{index}", f"S{len(word)}")]
    fields += [("nts", ">i4"), ("ts", ">i8"), ("nflag", ">i4"), ("flag", "u1")]
    fields += [("nvals", ">i4"), ("vals", "<f8", (width,))]
    rows = np.empty(len(ts), dtype=np.dtype(fields))  # packed: no padding between fields
    rows["count"] = len(encoded) + 3
    for index, word in enumerate(encoded):
        rows[f"n{index}"], rows[f"t{index}"] = len(word), word
    rows["nts"], rows["ts"] = 8, ts
    rows["nflag"], rows["flag"] = 1, flags
    rows["nvals"], rows["vals"] = 8 * width, values
    return rows.tobytes()


@functools.cache
def _copy_types(table: Table) -> tuple[str, ...]:
    """The binary COPY type of each of the table's columns (worked out once per table)."""
    return tuple(_copy_type(column.type) for column in table.columns)


def _copy_type(sql_type: Any) -> str:
    if isinstance(sql_type, ExactDecimal):
        return "numeric"
    if isinstance(sql_type, LevelsJson | StringsJson):
        return "text"
    return _COPY_TYPES[str(sql_type.compile())]


DIALECT = PostgreSQL()
