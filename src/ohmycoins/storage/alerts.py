"""The alerts' storage: the facts their rules judge, and each alert's state.

Facts come from the scheduler's own tables: each task's schedule and last status
(`collection_tasks`), its last successful run and last quality (`collector_runs`,
newest first by the `(collector, started_ts)` index), the open circuits
(`source_circuits`) and the rows quarantined in the last hour (`quarantine.ts`). A live
stream's task says whether a worker holds its lease, and since when; its schedule is
no period (it runs for as long as it lasts), so the schedule's age rule skips it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, func, select

from ohmycoins.quality.alerts import AlertState, Facts, StreamFacts, TaskFacts
from ohmycoins.records import CollectorRun, QuarantinedRecord
from ohmycoins.storage.database import Database, upsert_row, write_transaction
from ohmycoins.storage.tables import RECORD_TABLES, alerts, collection_tasks, source_circuits

__all__ = ["read_alerts", "read_facts", "write_alerts"]

_RUNS = RECORD_TABLES[CollectorRun]
_QUARANTINE = RECORD_TABLES[QuarantinedRecord]
_SUCCESS = ("ok", "partial")
Period = Callable[[Any, str | None], int | None]
"""A task's period in ms from its `interval_seconds` and `cron`."""


def read_facts(
    db: Database,
    collectors: Iterable[str],
    now: int,
    period: Period,
    backup_task: str | None,
    streams: Collection[str] = (),
) -> Facts:
    """The facts about the named collectors' tasks (paused ones aside), of which
    `streams` are live streams, the circuits and the quarantine, at `now`."""
    names = set(collectors) | set(streams)
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(collection_tasks).where(collection_tasks.c.paused.is_(False))
        ).all()
        watched = [row for row in rows if row.task_id in names]
        periods = {
            row.task_id: None if row.task_id in streams else period(row.interval_seconds, row.cron)
            for row in watched
        }
        tasks = [_task_facts(conn, row, periods[row.task_id]) for row in watched]
        circuits = conn.execute(
            select(source_circuits.c.source, source_circuits.c.opened_ts).where(
                source_circuits.c.state == "open", source_circuits.c.opened_ts.is_not(None)
            )
        ).all()
        quarantined = conn.execute(
            select(func.count()).select_from(_QUARANTINE).where(_QUARANTINE.c.ts >= now - 3_600_000)
        ).scalar_one()
    return Facts(
        tasks=tasks,
        open_circuits=[(row.source, int(row.opened_ts)) for row in circuits],
        quarantined_last_hour=int(quarantined),
        backup_task=backup_task,
        streams=[_stream_facts(row, now) for row in watched if row.task_id in streams],
    )


def _stream_facts(task: Any, now: int) -> StreamFacts:
    """A claim stamps `updated_ts`; a release clears the lease and stamps it too."""
    expires = task.lease_expires_ts
    if task.lease_owner is not None and expires is not None and expires > now:
        return StreamFacts(task.task_id, leased_since_ts=int(task.updated_ts), idle_since_ts=None)
    idle_since = int(expires) if expires is not None else int(task.updated_ts)
    return StreamFacts(task.task_id, leased_since_ts=None, idle_since_ts=idle_since)


def _task_facts(conn: Connection, task: Any, interval_ms: int | None) -> TaskFacts:
    newest = select(_RUNS.c.finished_ts, _RUNS.c.quality).where(_RUNS.c.collector == task.collector)
    last = conn.execute(newest.order_by(_RUNS.c.started_ts.desc()).limit(1)).first()
    ok = conn.execute(
        newest.where(_RUNS.c.status.in_(_SUCCESS)).order_by(_RUNS.c.started_ts.desc()).limit(1)
    ).first()
    return TaskFacts(
        collector=task.collector,
        interval_ms=interval_ms,
        last_ok_ts=ok.finished_ts if ok is not None else None,
        last_status=task.last_status,
        last_error=task.last_error,
        last_quality=last.quality if last is not None else None,
    )


def read_alerts(db: Database, state: str | None = None, limit: int = 500) -> list[AlertState]:
    """The stored alerts, firing first, then the most recently changed."""
    query = select(alerts)
    if state is not None:
        query = query.where(alerts.c.state == state)
    order = (
        alerts.c.state != "firing",
        alerts.c.updated_ts.desc(),
        alerts.c.rule,
        alerts.c.subject,
    )
    with db.engine.connect() as conn:
        rows = conn.execute(query.order_by(*order).limit(limit)).all()
    return [AlertState(**row._mapping) for row in rows]


def write_alerts(db: Database, states: Sequence[AlertState]) -> None:
    """Store alerts (each replaces its rule and subject's row)."""
    if not states:
        return
    with write_transaction(db, "alerts") as conn:
        for state in states:
            values = {column.name: getattr(state, column.name) for column in alerts.columns}
            upsert_row(conn, alerts, values, ("rule", "subject"))
