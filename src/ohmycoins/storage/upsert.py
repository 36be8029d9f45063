"""One bulk, idempotent write path per backend.

- SQLite: `executemany` of `INSERT … ON CONFLICT` in one transaction, rows as plain
  tuples (no per-row dicts: parameter handling costs more than the write).
- PostgreSQL: binary COPY. Straight into the table when none of the batch's keys is
  stored yet (inside a savepoint); otherwise into a session-local staging table, then
  one `INSERT … SELECT … ON CONFLICT` into the real table.

Both apply the record's merge rule (`records.Merge`). A batch is first folded by
natural key with the same rule in Python, so a key appearing twice in one batch gives
the same row as the two records written one after the other.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from ohmycoins.errors import StorageError
from ohmycoins.records import Merge, Record
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import (
    RECORD_TABLES,
    ExactDecimal,
    LevelsJson,
    StringsJson,
    encode_levels,
    encode_strings,
)

Row = tuple[Any, ...]


def upsert(db: Database, records: Iterable[Record]) -> int:
    """Store records of any types in one transaction; returns how many rows were written."""
    try:
        with db.engine.begin() as conn:
            return upsert_records(conn, records)
    except SQLAlchemyError as exc:
        raise StorageError(f"upsert into {db!r} failed: {exc}") from exc


def upsert_records(conn: Connection, records: Iterable[Record]) -> int:
    """Write records of any types on an open transaction, one batch per type."""
    by_type: dict[type[Record], list[Record]] = {}
    for record in records:
        by_type.setdefault(type(record), []).append(record)
    return sum(upsert_batch(conn, record_type, batch) for record_type, batch in by_type.items())


def upsert_batch(conn: Connection, record_type: type[Record], batch: Sequence[Record]) -> int:
    """Write records of one type on an open transaction; returns the rows written."""
    plan = _plan(record_type, conn.dialect.name)
    rows = plan.to_rows(fold_by_key(record_type, batch))
    if not rows:
        return 0
    if conn.dialect.name == "postgresql":
        _copy_then_merge(conn, plan, rows)
    else:
        conn.exec_driver_sql(plan.sql, rows)
    return len(rows)


def fold_by_key(record_type: type[Record], batch: Sequence[Record]) -> Sequence[Record]:
    """One record per natural key, folded with the type's merge rule."""
    key_of = operator.attrgetter(*record_type.KEY)
    folded: dict[Any, Record] = {}
    if record_type.MERGE is Merge.REPLACE:
        for record in batch:
            folded[key_of(record)] = record
    elif record_type.MERGE is Merge.KEEP:
        for record in batch:
            folded.setdefault(key_of(record), record)
    else:
        for record in batch:
            key = key_of(record)
            stored = folded.get(key)
            folded[key] = merge_partial(stored, record) if stored else _sorted_unions(record)
    return list(folded.values())


def merge_partial(stored: Record, new: Record) -> Record:
    """The COALESCE rule in Python, the same as the SQL one (see `Merge.COALESCE`)."""
    monotonic = getattr(new, "MONOTONIC", ())
    union = getattr(new, "UNION", ())
    changes: dict[str, Any] = {}
    for field in dataclasses.fields(new):
        old_value, new_value = getattr(stored, field.name), getattr(new, field.name)
        if field.name in union:
            changes[field.name] = tuple(sorted(set(old_value) | set(new_value)))
        elif field.name in monotonic and old_value is not None and new_value is not None:
            changes[field.name] = max(old_value, new_value)
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
    return _Plan(table, columns, _row_builder(table, columns), sql, stage)


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
    union = getattr(record_type, "UNION", ())
    sets = []
    for name in others:
        stored, new = f"{table.name}.{name}", f"excluded.{name}"
        if name in union:
            sets.append(f"{name} = {_json_union(stored, new, dialect)}")
        elif name in monotonic:
            greatest = "GREATEST" if dialect == "postgresql" else "MAX"
            sets.append(
                f"{name} = {greatest}(COALESCE({new}, {stored}), COALESCE({stored}, {new}))"
            )
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


def _copy_then_merge(conn: Connection, plan: _Plan, rows: list[Row]) -> None:
    """COPY straight into the table when no key exists yet (a backfill's new rows, the
    common bulk case); when one does, undo that and merge through the staging table.
    The driver's errors (a statement timeout, a lost connection) leave as SQLAlchemy's,
    as from every other write."""
    import psycopg

    raw = conn.connection.driver_connection
    if raw is None:
        raise StorageError("PostgreSQL connection has no driver connection")
    try:
        _copy_rows(raw, plan, rows)
    except psycopg.Error as exc:
        raise DBAPIError.instance(f"COPY {plan.table.name}", None, exc, psycopg.Error) from exc


def _copy_rows(raw: Any, plan: _Plan, rows: list[Row]) -> None:
    import psycopg

    types = [_pg_copy_type(column.type) for column in plan.table.columns]
    columns = ", ".join(plan.columns)
    with raw.cursor() as cursor:
        cursor.execute("SAVEPOINT omc_direct_copy")
        try:
            _copy(
                cursor,
                f"COPY {plan.table.name} ({columns}) FROM STDIN (FORMAT BINARY)",
                types,
                rows,
            )
            cursor.execute("RELEASE SAVEPOINT omc_direct_copy")
            return
        except psycopg.errors.UniqueViolation:
            cursor.execute("ROLLBACK TO SAVEPOINT omc_direct_copy")
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {plan.stage} "
            f"(LIKE {plan.table.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        cursor.execute(f"TRUNCATE {plan.stage}")
        _copy(cursor, f"COPY {plan.stage} ({columns}) FROM STDIN (FORMAT BINARY)", types, rows)
        cursor.execute(plan.sql)


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
