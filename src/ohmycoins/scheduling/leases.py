"""Claiming due tasks with leases, so many workers share one schedule safely.

A task is free when nobody holds its lease or the lease has expired (its worker
died). Claiming is one statement on SQLite and PostgreSQL:

    WITH picked AS (SELECT task_id … WHERE due AND free
                    ORDER BY priority DESC, next_run_ts LIMIT n
                    FOR UPDATE SKIP LOCKED)
    UPDATE collection_tasks SET lease_owner = me, lease_expires_ts = now + lease
     WHERE task_id IN (SELECT task_id FROM picked) AND free RETURNING …

On PostgreSQL the CTE locks the rows it picks and skips rows other workers are
claiming at that moment, so any number of workers claim disjoint tasks without
waiting on each other. SQLite has no row locks (it ignores FOR UPDATE): there the
statement runs under the database's single write lock, taken at its start, and the
`free` condition of the UPDATE makes a second claimant's claim a no-op. MySQL takes
neither a LIMIT inside IN nor RETURNING on UPDATE: there the picking SELECT runs first
(locking and skipping as on PostgreSQL), then the UPDATE of the picked keys, then a
read of them (the backend's `picked` and `update_returning`). The same
transaction reads the circuits that are not closed (a few rows of
`source_circuits`), so each claimed task carries its source's breaker state.

Which collectors a claim may take is given either as the names it may take or as
the names it must not (`collectors=None, excluding=...`): a worker claims with the
short list of stored tasks its registry does not run (usually none), so a claim does
not carry thousands of names. A list of names goes to the database as one parameter
(the backend's `among`: a text array on PostgreSQL, a JSON array on SQLite and MySQL), never
as one bind parameter per name: rendering and binding a long IN list costs the worker
far more than the claim itself.

Lock order (PostgreSQL, MySQL): a source's `source_circuits` row before any task row; a
transaction that changes several task rows locks them in `task_id` order before
changing any (`lock_task_rows`, lease renewal and release; sync and
pause/resume/trigger change rows one by one in that order); claims never wait; a
run's record changes its own row last. So no two scheduler transactions can
deadlock. On SQLite every write transaction begins IMMEDIATE, so it never fails
upgrading a read to a write.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    and_,
    case,
    false,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from ohmycoins.errors import StorageError
from ohmycoins.scheduling.policy import CLOSED
from ohmycoins.storage.database import Database, autocommitting
from ohmycoins.storage.dialects import dialect_for
from ohmycoins.storage.tables import collection_tasks as tasks
from ohmycoins.storage.tables import source_circuits as circuits

__all__ = [
    "ClaimedTask",
    "Finish",
    "claim_due",
    "defer_task",
    "finish_task",
    "lock_task_rows",
    "next_claimable_ts",
    "one_statement",
    "read_connection",
    "release_leases",
    "renew_leases",
    "stored_collectors",
    "write_transaction",
]

CLAIM_COLUMNS = (
    tasks.c.task_id,
    tasks.c.collector,
    tasks.c.next_run_ts,
    tasks.c.cursor,
    tasks.c.interval_seconds,
    tasks.c.priority,
)


@dataclass(frozen=True, slots=True)
class ClaimedTask:
    """A task this worker now holds: the slot it runs (`due_ts`) and the state the run
    needs (cursor, interval in force, the source's circuit as of the claim)."""

    task_id: str
    collector: str
    due_ts: int
    cursor: str | None
    interval_seconds: float | None
    priority: int
    circuit_state: str = CLOSED
    circuit_opened_ts: int | None = None


@dataclass(frozen=True, slots=True)
class Finish:
    """How a run leaves its task: status for health, the next slot, the new cursor
    (None keeps the stored one) and the interval now in force."""

    now_ms: int
    status: str
    error: str | None
    next_run_ts: int
    cursor: str | None
    interval_seconds: float | None


@contextmanager
def write_transaction(db: Database) -> Iterator[Connection]:
    """A transaction that will write: IMMEDIATE on SQLite; database errors become
    StorageError."""
    try:
        with db.engine.begin() as conn:
            db.backend.begin_write(conn)
            yield conn
    except SQLAlchemyError as exc:
        raise StorageError(f"scheduler write to {db!r} failed: {exc}") from exc


@contextmanager
def one_statement(db: Database) -> Iterator[Connection]:
    """A connection for one atomic write statement: in autocommit on PostgreSQL, which
    spares the BEGIN and COMMIT round trips and holds the row locks only while the
    statement runs and commits; an IMMEDIATE transaction on SQLite."""
    if not db.backend.autocommit_statements:
        with write_transaction(db) as conn:
            yield conn
        return
    try:
        with autocommitting(db) as conn:
            yield conn
    except SQLAlchemyError as exc:
        raise StorageError(f"scheduler write to {db!r} failed: {exc}") from exc


@contextmanager
def read_connection(db: Database) -> Iterator[Connection]:
    """A connection for reads; database errors become StorageError."""
    try:
        with db.engine.connect() as conn:
            yield conn
    except SQLAlchemyError as exc:
        raise StorageError(f"scheduler read from {db!r} failed: {exc}") from exc


def lock_task_rows(conn: Connection, condition: ColumnElement[bool]) -> None:
    """Lock the task rows matching `condition` in task_id order before changing several
    of them (PostgreSQL; SQLite's IMMEDIATE transaction already holds the whole
    database)."""
    query = select(tasks.c.task_id).where(condition).order_by(tasks.c.task_id)
    dialect_for(conn).lock_rows(conn, query)


def _free(now_ms: int) -> ColumnElement[bool]:
    return or_(tasks.c.lease_owner.is_(None), tasks.c.lease_expires_ts <= now_ms)


def _in_scope(
    db: Database, collectors: Sequence[str] | None, excluding: Sequence[str]
) -> list[ColumnElement[bool]]:
    """The conditions restricting tasks to `collectors` (None: any), minus `excluding`."""
    conditions = [tasks.c.paused == false()]
    if collectors is not None:
        conditions.append(db.backend.among(tasks.c.collector, collectors))
    if excluding:
        conditions.append(~db.backend.among(tasks.c.collector, excluding))
    return conditions


def claim_due(
    db: Database,
    owner: str,
    collectors: Sequence[str] | None,
    now_ms: int,
    limit: int,
    lease_ms: int,
    *,
    due_by_ms: int | None = None,
    excluding: Sequence[str] = (),
    sources: Mapping[str, str] | None = None,
) -> list[ClaimedTask]:
    """Lease up to `limit` unpaused, free tasks of these collectors (None: of any but
    `excluding`) due by `due_by_ms` (default now) to `owner`, highest priority first,
    then the longest overdue. With `sources` (collector -> source) each task carries
    its source's circuit state."""
    if limit <= 0 or collectors == []:
        return []
    free = _free(now_ms)
    picked = (
        select(tasks.c.task_id)
        .where(
            *_in_scope(db, collectors, excluding),
            tasks.c.next_run_ts <= (now_ms if due_by_ms is None else due_by_ms),
            free,
        )
        .order_by(tasks.c.priority.desc(), tasks.c.next_run_ts, tasks.c.task_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    with write_transaction(db) as conn:
        claim = (
            update(tasks)
            .where(db.backend.picked(conn, tasks.c.task_id, picked), free)
            .values(lease_owner=owner, lease_expires_ts=now_ms + lease_ms, updated_ts=now_ms)
        )
        rows = db.backend.update_returning(conn, claim, CLAIM_COLUMNS)
        not_closed = _circuits_not_closed(conn) if rows and sources is not None else {}
    source_of = sources or {}
    claimed = [_claimed(row, not_closed.get(source_of.get(row.collector, ""))) for row in rows]
    return sorted(claimed, key=lambda t: (-t.priority, t.due_ts, t.task_id))


def _circuits_not_closed(conn: Connection) -> dict[str, tuple[str, int | None]]:
    """(state, opened_ts) of the sources whose circuit is open or half-open."""
    rows = conn.execute(
        select(circuits.c.source, circuits.c.state, circuits.c.opened_ts).where(
            circuits.c.state != CLOSED
        )
    ).all()
    return {row.source: (row.state, row.opened_ts) for row in rows}


def _claimed(row: Row[Any], circuit: tuple[str, int | None] | None) -> ClaimedTask:
    interval = row.interval_seconds
    state, opened = circuit if circuit is not None else (CLOSED, None)
    return ClaimedTask(
        task_id=row.task_id,
        collector=row.collector,
        due_ts=int(row.next_run_ts),
        cursor=row.cursor,
        interval_seconds=float(interval) if interval is not None else None,
        priority=int(row.priority),
        circuit_state=state,
        circuit_opened_ts=opened,
    )


def renew_leases(
    db: Database, owner: str, task_ids: Sequence[str], now_ms: int, lease_ms: int
) -> set[str]:
    """Extend `owner`'s leases on these tasks; returns the ids it still holds (a lease
    that expired and was taken by another worker is lost)."""
    if not task_ids:
        return set()
    mine = and_(tasks.c.task_id.in_(task_ids), tasks.c.lease_owner == owner)
    renew = update(tasks).where(mine).values(lease_expires_ts=now_ms + lease_ms)
    with write_transaction(db) as conn:
        lock_task_rows(conn, mine)
        return {row.task_id for row in db.backend.update_returning(conn, renew, [tasks.c.task_id])}


def release_leases(db: Database, owner: str, now_ms: int) -> int:
    """Give up every lease `owner` holds, leaving the tasks due as they were."""
    mine = tasks.c.lease_owner == owner
    release = (
        update(tasks).where(mine).values(lease_owner=None, lease_expires_ts=None, updated_ts=now_ms)
    )
    with write_transaction(db) as conn:
        lock_task_rows(conn, mine)
        return conn.execute(release).rowcount


def defer_task(db: Database, task_id: str, owner: str, until_ms: int, now_ms: int) -> None:
    """Release a claimed task without running it; it is due again at `until_ms`."""
    defer = (
        update(tasks)
        .where(tasks.c.task_id == task_id, tasks.c.lease_owner == owner)
        .values(next_run_ts=until_ms, lease_owner=None, lease_expires_ts=None, updated_ts=now_ms)
    )
    with write_transaction(db) as conn:
        conn.execute(defer)


def finish_task(conn: Connection, task_id: str, owner: str, finish: Finish) -> bool:
    """Record a run on its task and release the lease, on the caller's transaction.
    Returns False (and changes nothing) when `owner` no longer holds the lease."""
    values: dict[str, object] = {
        "last_run_ts": finish.now_ms,
        "last_status": finish.status,
        "last_error": finish.error,
        "next_run_ts": finish.next_run_ts,
        "interval_seconds": finish.interval_seconds,
        "lease_owner": None,
        "lease_expires_ts": None,
        "updated_ts": finish.now_ms,
    }
    if finish.cursor is not None:
        values["cursor"] = finish.cursor
    done = (
        update(tasks)
        .where(tasks.c.task_id == task_id, tasks.c.lease_owner == owner)
        .values(**values)
    )
    return conn.execute(done).rowcount == 1


def next_claimable_ts(
    db: Database, collectors: Sequence[str] | None, *, excluding: Sequence[str] = ()
) -> int | None:
    """The earliest time one of these collectors' (None: any but `excluding`) unpaused
    tasks can be claimed: its due time, or its lease's expiry when that is later. None
    when there is no such task."""
    if collectors == []:
        return None
    leased_until = func.coalesce(tasks.c.lease_expires_ts, 0)
    claimable = case((leased_until > tasks.c.next_run_ts, leased_until), else_=tasks.c.next_run_ts)
    query = select(func.min(claimable)).where(*_in_scope(db, collectors, excluding))
    with read_connection(db) as conn:
        value = conn.execute(query).scalar()
    return int(value) if value is not None else None


def stored_collectors(db: Database) -> set[str]:
    """The collectors that have a stored task."""
    with read_connection(db) as conn:
        return set(conn.execute(select(tasks.c.collector)).scalars())
