"""The persistent schedule in `collection_tasks`, and the operations on it the CLI and
the API offer: sync with the registry, list, trigger, pause, resume.

One task per collector; its `task_id` is the collector's name. The row keeps what
must survive a restart: next due time, cursor, pause flag, lease and the last run's
status. The circuit breaker belongs to the task's source and is stored once per
source in `source_circuits` (see `breaker.py`); a `TaskState` read with the registry
shows its source's circuit.

Column meanings the scheduler gives them:

- `interval_seconds`: the interval in force — the collector's base interval times
  its adaptive slow-down (1, 2, 4, …); NULL for a cron task (`cron` is set).
- `priority`: higher runs first among due tasks, and is slowed last for a quota.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, select, update

from ohmycoins.errors import UnknownTaskError
from ohmycoins.scheduling.breaker import Circuit, read_circuits
from ohmycoins.scheduling.leases import read_connection, write_transaction
from ohmycoins.scheduling.registry import Collector, Registry
from ohmycoins.scheduling.schedule import cron_after, first_due, slowdown_of
from ohmycoins.storage.database import Database
from ohmycoins.storage.dialects import dialect_for
from ohmycoins.storage.tables import collection_tasks as tasks

__all__ = [
    "TaskChanges",
    "TaskState",
    "UnknownTaskError",
    "get_task",
    "list_tasks",
    "pause",
    "resume",
    "sync_tasks",
    "trigger",
]


@dataclass(frozen=True, slots=True)
class TaskState:
    """One task as stored, with what the registry of this process says about it
    (`source` and `enabled` are None for a task no registered collector runs) and its
    source's circuit (closed when the source is unknown)."""

    task_id: str
    collector: str
    interval_seconds: float | None
    cron: str | None
    priority: int
    next_run_ts: int
    cursor: str | None
    lease_owner: str | None
    lease_expires_ts: int | None
    consecutive_failures: int
    circuit_state: str
    circuit_opened_ts: int | None
    paused: bool
    last_run_ts: int | None
    last_status: str | None
    last_error: str | None
    updated_ts: int
    source: str | None = None
    enabled: bool | None = None

    def running(self, now_ms: int) -> bool:
        """True while a live lease is held on the task."""
        return self.lease_owner is not None and (self.lease_expires_ts or 0) > now_ms


@dataclass(frozen=True, slots=True)
class TaskChanges:
    """What `sync_tasks` did."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)


def sync_tasks(
    db: Database, registry: Registry, now_ms: int, *, max_slowdown: int = 8
) -> TaskChanges:
    """Make the schedule match the registry's enabled collectors.

    A missing task is inserted (an interval task is due at once, a cron task at its
    next time). A stored task whose schedule or priority changed is updated; when
    the schedule changed it is due at the latest one new period from now. Cursor,
    failures, circuit, pause, lease and history are never touched. Tasks of
    collectors that are disabled or unknown stay stored, and are simply not run.
    `max_slowdown` must be the policy's, to tell an adaptive slow-down from a new base.
    """
    changes = TaskChanges()
    collectors = sorted(registry.enabled(), key=lambda c: c.name)
    with write_transaction(db) as conn:
        stored = {row.task_id: row for row in conn.execute(select(tasks)).all()}
        for collector in collectors:
            row = stored.get(collector.name)
            if row is None:
                _insert(conn, collector, now_ms)
                changes.added.append(collector.name)
            elif values := _updates(collector, row, now_ms, max_slowdown):
                conn.execute(
                    update(tasks)
                    .where(tasks.c.task_id == collector.name)
                    .values(**values, updated_ts=now_ms)
                )
                changes.changed.append(collector.name)
    return changes


def _insert(conn: Connection, collector: Collector, now_ms: int) -> None:
    values = {
        "task_id": collector.name,
        "collector": collector.name,
        "interval_seconds": collector.schedule.interval_seconds,
        "cron": collector.schedule.cron,
        "priority": collector.priority,
        "next_run_ts": first_due(collector.schedule, now_ms),
        "paused": False,
        "updated_ts": now_ms,
    }
    conn.execute(dialect_for(conn).insert_missing(tasks, values))


def _updates(collector: Collector, row: Row[Any], now_ms: int, max_slowdown: int) -> dict[str, Any]:
    """The column changes that bring a stored task in line with its collector."""
    values: dict[str, Any] = {}
    if row.priority != collector.priority:
        values["priority"] = collector.priority
    schedule = collector.schedule
    if schedule.cron is not None:
        if row.cron != schedule.cron or row.interval_seconds is not None:
            values.update(interval_seconds=None, cron=schedule.cron)
            values["next_run_ts"] = min(row.next_run_ts, cron_after(schedule.cron, now_ms))
        return values
    base = schedule.interval_seconds
    assert base is not None
    stored = float(row.interval_seconds) if row.interval_seconds is not None else None
    if row.cron is not None or stored is None or slowdown_of(stored, base, max_slowdown) is None:
        values.update(interval_seconds=base, cron=None)
        values["next_run_ts"] = min(row.next_run_ts, now_ms + round(base * 1000))
    return values


def list_tasks(db: Database, registry: Registry | None = None) -> list[TaskState]:
    """Every stored task with its state, by task id."""
    with read_connection(db) as conn:
        rows = conn.execute(select(tasks).order_by(tasks.c.task_id)).all()
        circuits = read_circuits(conn) if registry is not None else {}
    return [_state(row, registry, circuits) for row in rows]


def get_task(db: Database, task_id: str, registry: Registry | None = None) -> TaskState:
    """One task's state; UnknownTaskError when there is none."""
    with read_connection(db) as conn:
        row = conn.execute(select(tasks).where(tasks.c.task_id == task_id)).first()
        circuits = read_circuits(conn) if registry is not None and row is not None else {}
    if row is None:
        raise UnknownTaskError(task_id)
    return _state(row, registry, circuits)


def _state(row: Row[Any], registry: Registry | None, circuits: dict[str, Circuit]) -> TaskState:
    collector = registry.get(row.collector) if registry is not None else None
    circuit = circuits.get(collector.source, Circuit()) if collector else Circuit()
    return TaskState(
        task_id=row.task_id,
        collector=row.collector,
        interval_seconds=float(row.interval_seconds) if row.interval_seconds is not None else None,
        cron=row.cron,
        priority=row.priority,
        next_run_ts=row.next_run_ts,
        cursor=row.cursor,
        lease_owner=row.lease_owner,
        lease_expires_ts=row.lease_expires_ts,
        consecutive_failures=circuit.failures,
        circuit_state=circuit.state,
        circuit_opened_ts=circuit.opened_ts,
        paused=bool(row.paused),
        last_run_ts=row.last_run_ts,
        last_status=row.last_status,
        last_error=row.last_error,
        updated_ts=row.updated_ts,
        source=collector.source if collector else None,
        enabled=collector.enabled if collector else None,
    )


def trigger(db: Database, task_ids: Sequence[str], now_ms: int) -> None:
    """Make tasks due now (a paused task stays paused). Workers in this process see
    it at once when woken (`Worker.wake()`), others within their idle cap."""
    _set(db, task_ids, now_ms, next_run_ts=now_ms)


def pause(db: Database, task_ids: Sequence[str], now_ms: int) -> None:
    """Stop claiming these tasks; a run in flight finishes."""
    _set(db, task_ids, now_ms, paused=True)


def resume(db: Database, task_ids: Sequence[str], now_ms: int) -> None:
    """Claim these tasks again; one whose due time passed while paused runs at once."""
    _set(db, task_ids, now_ms, paused=False)


def _set(db: Database, task_ids: Sequence[str], now_ms: int, **values: Any) -> None:
    """Update tasks by id, all or none: UnknownTaskError names the first missing one."""
    with write_transaction(db) as conn:
        for task_id in sorted(set(task_ids)):
            statement = update(tasks).where(tasks.c.task_id == task_id)
            if conn.execute(statement.values(**values, updated_ts=now_ms)).rowcount != 1:
                raise UnknownTaskError(task_id)
