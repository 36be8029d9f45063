"""One bulk, idempotent write path per backend.

- SQLite: `executemany` of `INSERT … ON CONFLICT` in one transaction, rows as plain
  tuples (no per-row dicts: parameter handling costs more than the write).
- PostgreSQL: binary COPY. Straight into the table when none of the batch's keys is
  stored yet (inside a savepoint); otherwise into a session-local staging table, then
  one `INSERT … SELECT … ON CONFLICT` into the real table.

Both apply the record's merge rule (`records.Merge`). A batch is first folded by
natural key with the same rule in Python, so a key appearing twice in one batch gives
the same row as the two records written one after the other.

Immutable types (`Merge.KEEP`, trades) are inserted where their key is absent and
never changed. The fast path inserts the whole batch and checks that every row went
in (the rowcount on SQLite, the direct COPY on PostgreSQL); only when some key was
already stored is the batch staged and joined with the table to read the stored
versions back, so that what is written counts only the rows actually inserted, and a
key stored with other values is reported as a `Conflict` (the caller quarantines it)
while the stored row stays as it was.
"""

from __future__ import annotations

import contextlib
import dataclasses
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Column, Connection, MetaData, Table, and_
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from ohmycoins.errors import StorageError
from ohmycoins.records import Conflict, Merge, Record, same_row
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import select_records
from ohmycoins.storage.tables import (
    RECORD_TABLES,
    ExactDecimal,
    LevelsJson,
    StringsJson,
    encode_levels,
    encode_strings,
)

Row = tuple[Any, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Written:
    """What a write did: the rows it wrote (for immutable types, only those inserted),
    the immutable records already stored as they are (`unchanged`) and those stored
    with other values (`conflicts`: not written)."""

    rows: int = 0
    unchanged: list[Record] = dataclasses.field(default_factory=list)
    conflicts: list[Conflict] = dataclasses.field(default_factory=list)

    def __add__(self, other: Written) -> Written:
        return Written(
            self.rows + other.rows,
            [*self.unchanged, *other.unchanged],
            [*self.conflicts, *other.conflicts],
        )


def upsert(db: Database, records: Iterable[Record]) -> int:
    """Store records of any types in one transaction; returns how many rows were written."""
    try:
        with db.engine.begin() as conn:
            return upsert_records(conn, records).rows
    except SQLAlchemyError as exc:
        raise StorageError(f"upsert into {db!r} failed: {exc}") from exc


def upsert_records(conn: Connection, records: Iterable[Record]) -> Written:
    """Write records of any types on an open transaction, one batch per type."""
    by_type: dict[type[Record], list[Record]] = {}
    for record in records:
        by_type.setdefault(type(record), []).append(record)
    written = Written()
    for record_type, batch in by_type.items():
        written += upsert_batch(conn, record_type, batch)
    return written


def upsert_batch(conn: Connection, record_type: type[Record], batch: Sequence[Record]) -> Written:
    """Write records of one type on an open transaction (see the module docstring)."""
    plan = _plan(record_type, conn.dialect.name)
    if record_type.MERGE is Merge.KEEP:
        return _insert_absent(conn, record_type, plan, batch)
    rows = plan.to_rows(fold_by_key(record_type, batch))
    if conn.dialect.name != "postgresql":
        conn.exec_driver_sql(plan.sql, rows)
    elif rows and not _insert_all(conn, plan, rows):
        _merge(conn, plan, rows)
    return Written(len(rows))


def fold_by_key(record_type: type[Record], batch: Sequence[Record]) -> Sequence[Record]:
    """One record per natural key, folded with the type's merge rule (for immutable
    types, the first; `fold_immutable` also says which later ones differ from it)."""
    key_of = operator.attrgetter(*record_type.KEY)
    folded: dict[Any, Record] = {}
    if record_type.MERGE is Merge.REPLACE:
        for record in batch:
            folded[key_of(record)] = record
    elif record_type.MERGE is Merge.KEEP:
        return fold_immutable(record_type, batch)[0]
    else:
        for record in batch:
            key = key_of(record)
            stored = folded.get(key)
            folded[key] = merge_partial(stored, record) if stored else _sorted_unions(record)
    return list(folded.values())


def fold_immutable(
    record_type: type[Record], batch: Sequence[Record]
) -> tuple[list[Record], list[Record], list[Conflict]]:
    """(first record of each key, later identical ones, later ones that differ)."""
    key_of = operator.attrgetter(*record_type.KEY)
    first: dict[Any, Record] = {}
    repeated: list[Record] = []
    conflicts: list[Conflict] = []
    for record in batch:
        key = key_of(record)
        kept = first.get(key)
        if kept is None:
            first[key] = record
        elif same_row(kept, record):
            repeated.append(record)
        else:
            conflicts.append(Conflict(kept, record))
    return list(first.values()), repeated, conflicts


def _insert_absent(
    conn: Connection, record_type: type[Record], plan: _Plan, batch: Sequence[Record]
) -> Written:
    """Insert the immutable records whose key is not stored; report the others."""
    records, unchanged, conflicts = fold_immutable(record_type, batch)
    rows = plan.to_rows(records)
    if not rows or _insert_all(conn, plan, rows):
        return Written(len(rows), unchanged, conflicts)
    _stage(conn, plan, rows)
    stored = _stored_of_staged(conn, record_type, plan)
    key_of = operator.attrgetter(*record_type.KEY)
    absent = []
    for record in records:
        kept = stored.get(key_of(record))
        if kept is None:
            absent.append(record)
        elif same_row(kept, record):
            unchanged.append(record)
        else:
            conflicts.append(Conflict(kept, record))
    if absent:  # the staged batch, less the keys stored: ON CONFLICT DO NOTHING skips them
        _merge_staged(conn, plan, plan.to_rows(absent))
    return Written(len(absent), unchanged, conflicts)


def _stored_of_staged(
    conn: Connection, record_type: type[Record], plan: _Plan
) -> dict[Any, Record]:
    """The stored records whose keys are staged (one join), by key."""
    on = [plan.table.c[name] == plan.staged.c[name] for name in record_type.KEY]
    query = select_records(record_type).select_from(plan.table.join(plan.staged, and_(*on)))
    key_of = operator.attrgetter(*record_type.KEY)
    stored = (record_type(*row) for row in conn.execute(query))
    return {key_of(record): record for record in stored}


def merge_partial(stored: Record, new: Record) -> Record:
    """The COALESCE rule in Python, the same as the SQL one (see `Merge.COALESCE`)."""
    monotonic = getattr(new, "MONOTONIC", ())
    earliest = getattr(new, "EARLIEST", ())
    union = getattr(new, "UNION", ())
    changes: dict[str, Any] = {}
    for field in dataclasses.fields(new):
        old_value, new_value = getattr(stored, field.name), getattr(new, field.name)
        if field.name in union:
            changes[field.name] = tuple(sorted(set(old_value) | set(new_value)))
        elif field.name in monotonic and old_value is not None and new_value is not None:
            changes[field.name] = max(old_value, new_value)
        elif field.name in earliest and old_value is not None and new_value is not None:
            changes[field.name] = min(old_value, new_value)
        elif new_value is None or new_value == ():
            changes[field.name] = old_value
    return dataclasses.replace(new, **changes)


def _sorted_unions(record: Record) -> Record:
    union = getattr(record, "UNION", ())
    if not union:
        return record
    changes = {name: tuple(sorted(set(getattr(record, name)))) for name in union}
    return dataclasses.replace(record, **changes)  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True)
class _Plan:
    """How one record type is written on one backend (built once, cached)."""

    table: Table
    columns: tuple[str, ...]
    to_rows: Callable[[Sequence[Record]], list[Row]]
    sql: str
    stage: str
    staged: Table
    """The staging table as SQLAlchemy sees it (its key columns on SQLite), to join."""


_PLANS: dict[tuple[type[Any], str], _Plan] = {}


def _plan(record_type: type[Record], dialect: str) -> _Plan:
    """The cached write plan of a record type on a backend."""
    if (record_type, dialect) not in _PLANS:
        _PLANS[record_type, dialect] = _build_plan(record_type, dialect)
    return _PLANS[record_type, dialect]


def _build_plan(record_type: type[Record], dialect: str) -> _Plan:
    table = RECORD_TABLES[record_type]
    columns = tuple(column.name for column in table.columns)
    stage = f"_stage_{table.name}"
    source = f"SELECT {', '.join(columns)} FROM {stage}" if dialect == "postgresql" else None
    values = source or f"VALUES ({', '.join('?' for _ in columns)})"
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) {values} "
        f"ON CONFLICT ({', '.join(record_type.KEY)}) {_on_conflict(record_type, table, dialect)}"
    )
    names = columns if dialect == "postgresql" else record_type.KEY
    staged = Table(stage, MetaData(), *(Column(name, table.c[name].type) for name in names))
    return _Plan(table, columns, _row_builder(table, columns), sql, stage, staged)


def _row_builder(table: Table, columns: tuple[str, ...]) -> Callable[[Sequence[Record]], list[Row]]:
    """Records to tuples in column order; JSON-encodes the tuple-valued columns."""
    getter = operator.attrgetter(*columns)
    encoders: list[tuple[int, Callable[[Any], str | None]]] = []
    for index, column in enumerate(table.columns):
        if isinstance(column.type, LevelsJson):
            encoders.append((index, encode_levels))
        elif isinstance(column.type, StringsJson):
            encoders.append((index, encode_strings))
    if not encoders:
        return lambda batch: list(map(getter, batch))

    def rows(batch: Sequence[Record]) -> list[Row]:
        out = []
        for record in batch:
            row = list(getter(record))
            for index, encode in encoders:
                row[index] = encode(row[index])
            out.append(tuple(row))
        return out

    return rows


def _on_conflict(record_type: type[Record], table: Table, dialect: str) -> str:
    others = [c.name for c in table.columns if c.name not in record_type.KEY]
    if record_type.MERGE is Merge.KEEP or not others:
        return "DO NOTHING"
    if record_type.MERGE is Merge.REPLACE:
        return "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in others)
    monotonic = getattr(record_type, "MONOTONIC", ())
    earliest = getattr(record_type, "EARLIEST", ())
    union = getattr(record_type, "UNION", ())
    sets = []
    for name in others:
        stored, new = f"{table.name}.{name}", f"excluded.{name}"
        if name in union:
            sets.append(f"{name} = {_json_union(stored, new, dialect)}")
        elif name in monotonic or name in earliest:
            postgres = dialect == "postgresql"
            pick = ("GREATEST" if postgres else "MAX") if name in monotonic else "LEAST"
            pick = pick if postgres or name in monotonic else "MIN"
            sets.append(f"{name} = {pick}(COALESCE({new}, {stored}), COALESCE({stored}, {new}))")
        else:
            sets.append(f"{name} = COALESCE({new}, {stored})")
    return "DO UPDATE SET " + ", ".join(sets)


def _json_union(stored: str, new: str, dialect: str) -> str:
    """SQL for the sorted union of two JSON string arrays, NULL when empty."""
    if dialect == "postgresql":
        return (
            "(SELECT json_agg(v ORDER BY v)::text FROM ("
            f"SELECT json_array_elements_text(COALESCE({stored}, '[]')::json) AS v UNION "
            f"SELECT json_array_elements_text(COALESCE({new}, '[]')::json)) AS u)"
        )
    return (
        "(SELECT NULLIF(json_group_array(value), '[]') FROM ("
        f"SELECT value FROM json_each(COALESCE({stored}, '[]')) UNION "
        f"SELECT value FROM json_each(COALESCE({new}, '[]')) ORDER BY value))"
    )


_PG_COPY_TYPES = {"BIGINT": "int8", "TEXT": "text", "BOOLEAN": "bool", "INTEGER": "int4"}


def _insert_all(conn: Connection, plan: _Plan, rows: list[Row]) -> bool:
    """Insert every row when none of their keys is stored yet (a backfill's new rows, the
    common bulk case): True when done; False, with nothing written, when some key was
    stored. PostgreSQL: COPY straight into the table; SQLite: the plan's insert (its
    conflict clause unused when every key is new), undone when it left a row out."""
    raw = conn.connection.driver_connection
    if raw is None:
        raise StorageError(f"{conn.dialect.name} connection has no driver connection")
    if conn.dialect.name == "postgresql":
        return _copy_direct(raw, plan, rows)
    if not raw.in_transaction:  # a savepoint must not be the transaction's outermost level
        conn.exec_driver_sql("BEGIN")
    conn.exec_driver_sql("SAVEPOINT omc_insert_all")
    inserted = conn.exec_driver_sql(plan.sql, rows).rowcount
    if inserted != len(rows):
        conn.exec_driver_sql("ROLLBACK TO SAVEPOINT omc_insert_all")
    conn.exec_driver_sql("RELEASE SAVEPOINT omc_insert_all")
    return bool(inserted == len(rows))


def _merge(conn: Connection, plan: _Plan, rows: list[Row]) -> None:
    """Write rows with the type's merge rule: `executemany` on SQLite, the staging table
    on PostgreSQL."""
    if conn.dialect.name == "postgresql":
        _stage(conn, plan, rows)
    _merge_staged(conn, plan, rows)


def _stage(conn: Connection, plan: _Plan, rows: list[Row]) -> None:
    """Put a batch in the connection's session-local staging table: every column by
    binary COPY on PostgreSQL, the keys by `executemany` on SQLite."""
    raw = conn.connection.driver_connection
    if raw is None:
        raise StorageError(f"{conn.dialect.name} connection has no driver connection")
    if conn.dialect.name != "postgresql":
        keys = [column.name for column in plan.staged.columns]
        conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS {plan.stage} ({', '.join(keys)})")
        conn.exec_driver_sql(f"DELETE FROM {plan.stage}")
        at = [plan.columns.index(name) for name in keys]
        marks = ", ".join("?" for _ in at)
        staged = [tuple(row[i] for i in at) for row in rows]
        conn.exec_driver_sql(f"INSERT INTO {plan.stage} VALUES ({marks})", staged)
        return
    types = [_pg_copy_type(column.type) for column in plan.table.columns]
    columns = ", ".join(plan.columns)
    with raw.cursor() as cursor, _as_sqlalchemy_errors(f"COPY {plan.stage}"):
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {plan.stage} "
            f"(LIKE {plan.table.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        cursor.execute(f"TRUNCATE {plan.stage}")
        _copy(cursor, f"COPY {plan.stage} ({columns}) FROM STDIN (FORMAT BINARY)", types, rows)


def _merge_staged(conn: Connection, plan: _Plan, rows: list[Row]) -> None:
    """The merge into the table: on PostgreSQL from the staged batch (`rows` are
    already there), on SQLite `executemany` of `rows`."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(plan.sql)
    else:
        conn.exec_driver_sql(plan.sql, rows)


def _copy_direct(raw: Any, plan: _Plan, rows: list[Row]) -> bool:
    """COPY straight into the table inside a savepoint; False (undone) on a stored key."""
    import psycopg

    types = [_pg_copy_type(column.type) for column in plan.table.columns]
    statement = f"COPY {plan.table.name} ({', '.join(plan.columns)}) FROM STDIN (FORMAT BINARY)"
    with raw.cursor() as cursor, _as_sqlalchemy_errors(statement):
        cursor.execute("SAVEPOINT omc_direct_copy")
        try:
            _copy(cursor, statement, types, rows)
        except psycopg.errors.UniqueViolation:
            cursor.execute("ROLLBACK TO SAVEPOINT omc_direct_copy")
            return False
        cursor.execute("RELEASE SAVEPOINT omc_direct_copy")
        return True


@contextlib.contextmanager
def _as_sqlalchemy_errors(statement: str) -> Iterator[None]:
    """The driver's errors from a COPY (a statement timeout, a lost connection) leave as
    SQLAlchemy's, as from every other write, so they become a StorageError the same way."""
    import psycopg

    try:
        yield
    except psycopg.Error as exc:
        raise DBAPIError.instance(statement, None, exc, psycopg.Error) from exc


def _copy(cursor: Any, statement: str, types: list[str], rows: list[Row]) -> None:
    with cursor.copy(statement) as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def _pg_copy_type(sql_type: Any) -> str:
    if isinstance(sql_type, ExactDecimal):
        return "numeric"
    if isinstance(sql_type, LevelsJson | StringsJson):
        return "text"
    return _PG_COPY_TYPES[str(sql_type.compile())]
