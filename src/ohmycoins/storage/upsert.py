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
in (the rowcount on SQLite, the direct COPY on PostgreSQL, whose partitioned trades
first look for the batch's ids in their range, since their unique index holds `ts`);
only when some key was already stored is the batch staged and joined with the table
to read the stored versions back, so that what is written counts only the rows
actually inserted, and a key stored with other values (another `ts` too) is reported
as a `Conflict` (the caller quarantines it) while the stored row stays as it was.

Each backend's part of the path is its `Dialect` (`storage/dialects/`), resolved once
per batch and kept in the type's cached plan.

Candles landing at or before their series' newest, new or changed, mark the series'
features stale from them on, in the same transaction (`feature_stale.mark_late_candles`).
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Column, Connection, MetaData, Table, and_

from ohmycoins.records import Candle, Conflict, Merge, Record, same_row
from ohmycoins.storage.database import Database, write_transaction
from ohmycoins.storage.dialects import BulkPlan, Dialect, Row, dialect_for
from ohmycoins.storage.feature_stale import mark_late_candles
from ohmycoins.storage.queries import select_records
from ohmycoins.storage.tables import (
    RECORD_TABLES,
    LevelsJson,
    StringsJson,
    encode_levels,
    encode_strings,
)


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
    with write_transaction(db, "upsert") as conn:
        return upsert_records(conn, records).rows


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
    plan = _plan(record_type, dialect_for(conn))
    if record_type.MERGE is Merge.KEEP:
        return _insert_absent(conn, record_type, plan, batch)
    folded = fold_by_key(record_type, batch)
    if record_type is Candle:  # before the write: a late candle is told by what is stored
        mark_late_candles(conn, folded)  # type: ignore[arg-type]
    rows = plan.to_rows(folded)
    plan.dialect.write(conn, plan, rows)
    return Written(len(rows))


def fold_by_key(record_type: type[Record], batch: Sequence[Record]) -> Sequence[Record]:
    """One record per natural key, folded with the type's merge rule (`Merge.REPLACE`
    or `Merge.COALESCE`; immutable types are folded by `fold_immutable`)."""
    key_of = operator.attrgetter(*record_type.KEY)
    folded: dict[Any, Record] = {}
    if record_type.MERGE is Merge.REPLACE:
        for record in batch:
            key = key_of(record)
            kept = folded.get(key)
            if kept is None or replaces(kept, record):
                folded[key] = record
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
    conn: Connection, record_type: type[Record], plan: BulkPlan, batch: Sequence[Record]
) -> Written:
    """Insert the immutable records whose key is not stored; report the others."""
    records, unchanged, conflicts = fold_immutable(record_type, batch)
    rows = plan.to_rows(records)
    if not rows or plan.dialect.insert_all(conn, plan, rows):
        return Written(len(rows), unchanged, conflicts)
    plan.dialect.stage(conn, plan, rows)
    stored = _stored_of_staged(conn, record_type, plan)
    key_of = operator.attrgetter(*record_type.KEY)
    absent = []
    for record, row in zip(records, rows, strict=True):
        kept = stored.get(key_of(record))
        if kept is None:
            absent.append(row)
        elif same_row(kept, record):
            unchanged.append(record)
        else:
            conflicts.append(Conflict(kept, record))
    if absent:
        if len(absent) < len(rows):  # only the absent go in: ON CONFLICT skips a stored
            plan.dialect.stage(conn, plan, absent)  # key only at the same `ts` (partitions)
        plan.dialect.merge_staged(conn, plan, absent)
    return Written(len(absent), unchanged, conflicts)


def _stored_of_staged(
    conn: Connection, record_type: type[Record], plan: BulkPlan
) -> dict[Any, Record]:
    """The stored records whose keys are staged (one join), by key."""
    on = [plan.table.c[name] == plan.staged.c[name] for name in record_type.KEY]
    query = select_records(record_type).select_from(plan.table.join(plan.staged, and_(*on)))
    key_of = operator.attrgetter(*record_type.KEY)
    stored = (record_type(*row) for row in conn.execute(query))
    return {key_of(record): record for record in stored}


def replaces(stored: Record, new: Record) -> bool:
    """The REPLACE rule with its guards, the same as the SQL one (`_replace_guard`): a
    derived row (its `YIELDS_TO` field set) never replaces a row without it (a candle
    the exchange served), and a row never replaces one with more of its `GROWS` field
    (a rollup over fewer minutes or items than the one stored)."""
    mark = getattr(new, "YIELDS_TO", None)
    if mark is not None:
        if getattr(new, mark) is None:
            return True
        if getattr(stored, mark) is None:
            return False
    grows = getattr(new, "GROWS", None)
    return grows is None or (getattr(new, grows) or 0) >= (getattr(stored, grows) or 0)


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


_PLANS: dict[tuple[type[Any], Dialect], BulkPlan] = {}


def _plan(record_type: type[Record], dialect: Dialect) -> BulkPlan:
    """The cached write plan of a record type on a backend."""
    if (record_type, dialect) not in _PLANS:
        _PLANS[record_type, dialect] = _build_plan(record_type, dialect)
    return _PLANS[record_type, dialect]


def _build_plan(record_type: type[Record], dialect: Dialect) -> BulkPlan:
    table = RECORD_TABLES[record_type]
    columns = tuple(column.name for column in table.columns)
    stage = f"_stage_{table.name}"
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) {dialect.merge_source(columns, stage)} "
        + dialect.on_conflict(
            dialect.conflict_columns(table, record_type.KEY),
            _merge_sets(record_type, table, dialect),
            _replace_guard(record_type, table, dialect),
        )
    )
    names = dialect.staged_columns(columns, record_type.KEY)
    staged = Table(stage, MetaData(), *(Column(name, table.c[name].type) for name in names))
    return BulkPlan(dialect, table, columns, _row_builder(table, columns), sql, stage, staged)


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


def _merge_sets(record_type: type[Record], table: Table, dialect: Dialect) -> dict[str, str]:
    """The SQL of each column a stored key's row takes (none: the stored row is kept)."""
    others = [c.name for c in table.columns if c.name not in record_type.KEY]
    if record_type.MERGE is Merge.KEEP:
        return {}
    if record_type.MERGE is Merge.REPLACE:
        return {c: dialect.new_value(c) for c in _guarded_last(record_type, others)}
    monotonic = getattr(record_type, "MONOTONIC", ())
    earliest = getattr(record_type, "EARLIEST", ())
    union = getattr(record_type, "UNION", ())
    sets = {}
    for name in others:
        stored, new = dialect.stored_value(table.name, name), dialect.new_value(name)
        if name in union:
            sets[name] = dialect.json_union(stored, new)
        elif name in monotonic or name in earliest:
            pick = dialect.greatest if name in monotonic else dialect.least
            sets[name] = f"{pick}(COALESCE({new}, {stored}), COALESCE({stored}, {new}))"
        else:
            sets[name] = f"COALESCE({new}, {stored})"
    return sets


def _replace_guard(record_type: type[Record], table: Table, dialect: Dialect) -> str | None:
    """The SQL of when a new row replaces the stored one (None: always). A rollup
    (`YIELDS_TO` set) never replaces a served row, and a row never replaces one that
    holds more of its detail (`GROWS`)."""
    if record_type.MERGE is not Merge.REPLACE:
        return None
    mark = getattr(record_type, "YIELDS_TO", None)
    grows = getattr(record_type, "GROWS", None)
    more = None
    if grows:
        new, stored = dialect.new_value(grows), dialect.stored_value(table.name, grows)
        more = f"COALESCE({new}, 0) >= COALESCE({stored}, 0)"
    if mark is None:
        return more
    derived = f"{dialect.stored_value(table.name, mark)} IS NOT NULL"
    derived += f" AND {more}" if more else ""
    return f"{dialect.new_value(mark)} IS NULL OR ({derived})"


def _guarded_last(record_type: type[Record], columns: Sequence[str]) -> list[str]:
    """`columns` with those the replace guard reads last (`GROWS`, then `YIELDS_TO`):
    where assignments apply one after another (MySQL), the guard of each column then
    still sees the stored row as it was (see `Dialect.on_conflict`)."""
    guarded: list[str | None] = [getattr(record_type, n, None) for n in ("GROWS", "YIELDS_TO")]
    last = [name for name in guarded if name is not None and name in columns]
    return [c for c in columns if c not in last] + last
