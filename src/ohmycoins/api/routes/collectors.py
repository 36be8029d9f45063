"""Collectors: their schedule state, their health, and trigger / pause / resume."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, status

from ohmycoins.api.deps import AdminKey, ApiContext, Context, read_access
from ohmycoins.api.encode import plain
from ohmycoins.api.schemas import (
    CollectorHealth,
    CollectorOut,
    CollectorsHealth,
    Message,
    RunOut,
    StreamHealth,
    SwitchedOff,
)
from ohmycoins.api.stream_reports import stream_reports
from ohmycoins.records import CollectorRun
from ohmycoins.scheduling import tasks
from ohmycoins.scheduling.quota import usage_of
from ohmycoins.scheduling.tasks import TaskState, UnknownTaskError
from ohmycoins.storage.reads import market as market_reads
from ohmycoins.timeframes import now_ms

router = APIRouter(prefix="/collectors", tags=["collectors"])

CollectorName = Annotated[
    str, Path(min_length=1, max_length=200, description="The collector's name (its task id).")
]
_UNKNOWN: dict[int | str, dict[str, Any]] = {
    404: {"model": Message, "description": "No scheduled collector has this name."}
}


@router.get("", dependencies=[Depends(read_access)])
def list_collectors(context: Context) -> list[CollectorOut]:
    """The scheduled collectors with their schedule, circuit and last run's status."""
    now = now_ms()
    return [_collector_out(task, now) for task in _scheduled(context)]


@router.get("/health", dependencies=[Depends(read_access)])
def collectors_health(context: Context) -> CollectorsHealth:
    """Per collector: status, last run and error, circuit, freshness, quota used; per
    live stream: messages/s, lags, reconnects, resyncs, stale time, queue, spilled."""
    now = now_ms()
    states = _scheduled(context)
    names = [state.task_id for state in states]
    last = market_reads.latest_runs(context.db, names)
    good = market_reads.latest_successes(context.db, names)
    usage = usage_of(context.db, now)
    health = [
        _health(state, last.get(state.task_id), good.get(state.task_id), usage, context, now)
        for state in states
    ]
    switched_off = context.registry.switched_off() if context.registry is not None else []
    disabled = [
        SwitchedOff(name=c.name, source=c.source, ledger=c.ledger, status=c.off_status or "")
        for c in switched_off
    ]
    streams = {
        name: StreamHealth.model_validate(report)
        for name, report in stream_reports(context, names).items()
    }
    return CollectorsHealth(collectors=health, streams=streams, disabled=disabled, quota_used=usage)


def _scheduled(context: ApiContext) -> list[TaskState]:
    """The stored tasks to show. Beside a worker (`omc run`), those of the collectors it
    runs: tasks another configuration left in the database (another exchange, the demo)
    are not this process's. An API alone (`omc serve`) shows every stored task."""
    states = tasks.list_tasks(context.db, context.registry)
    if context.registry is None:
        return states
    return [state for state in states if state.enabled]


@router.post("/{name}/trigger", responses=_UNKNOWN)
def trigger(name: CollectorName, context: Context, _key: AdminKey) -> CollectorOut:
    """Make a collector due now (a paused one stays paused). Needs an admin key."""
    return _apply(context, name, tasks.trigger)


@router.post("/{name}/pause", responses=_UNKNOWN)
def pause(name: CollectorName, context: Context, _key: AdminKey) -> CollectorOut:
    """Stop scheduling a collector; a run in flight finishes. Needs an admin key."""
    return _apply(context, name, tasks.pause)


@router.post("/{name}/resume", responses=_UNKNOWN)
def resume(name: CollectorName, context: Context, _key: AdminKey) -> CollectorOut:
    """Schedule a paused collector again. Needs an admin key."""
    return _apply(context, name, tasks.resume)


def _apply(context: ApiContext, name: str, operation: Callable[..., None]) -> CollectorOut:
    now = now_ms()
    try:
        operation(context.db, [name], now)
        state = tasks.get_task(context.db, name, context.registry)
    except UnknownTaskError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no collector {name!r}") from None
    if context.wake is not None and operation is not tasks.pause:
        context.wake()
    return _collector_out(state, now)


def _collector_out(task: TaskState, now_ms: int) -> CollectorOut:
    return CollectorOut(
        name=task.task_id,
        source=task.source,
        enabled=task.enabled,
        paused=task.paused,
        running=task.running(now_ms),
        priority=task.priority,
        interval_seconds=task.interval_seconds,
        cron=task.cron,
        next_run_ts=task.next_run_ts,
        last_run_ts=task.last_run_ts,
        last_status=task.last_status,
        last_error=task.last_error,
        circuit_state=_circuit(task.circuit_state),
        consecutive_failures=task.consecutive_failures,
    )


Circuit = Literal["closed", "open", "half_open"]
Status = Literal["ok", "failing", "circuit_open", "paused", "never_run"]


def _circuit(state: str) -> Circuit:
    if state == "open":
        return "open"
    return "half_open" if state == "half_open" else "closed"


def _status(task: TaskState, last: CollectorRun | None) -> Status:
    if task.paused:
        return "paused"
    if task.circuit_state in ("open", "half_open"):
        return "circuit_open"
    status_of_last = last.status if last is not None else task.last_status
    if status_of_last is None:
        return "never_run"
    return "failing" if status_of_last in market_reads.FAILED_STATUSES else "ok"


def _health(
    task: TaskState,
    last: CollectorRun | None,
    good: CollectorRun | None,
    usage: dict[str, int],
    context: ApiContext,
    now_ms: int,
) -> CollectorHealth:
    success_ts = (good.finished_ts or good.started_ts) if good is not None else None
    source = task.source
    return CollectorHealth(
        name=task.task_id,
        source=source,
        status=_status(task, last),
        last_run=_run_out(last) if last is not None else None,
        last_error=(last.error if last is not None else None) or task.last_error,
        circuit_state=_circuit(task.circuit_state),
        last_success_ts=success_ts,
        freshness_seconds=(now_ms - success_ts) / 1000 if success_ts is not None else None,
        quota_used=usage.get(source, 0) if source is not None else None,
        quota_limit=context.settings.source(source).monthly_quota if source else None,
    )


def _run_out(run: CollectorRun) -> RunOut:
    return RunOut(
        run_id=run.run_id,
        status=run.status,
        started_ts=run.started_ts,
        finished_ts=run.finished_ts,
        records_written=run.records_written,
        records_quarantined=run.records_quarantined,
        quality=plain(run.quality),
        error=run.error,
    )
