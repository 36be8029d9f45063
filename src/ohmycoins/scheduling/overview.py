"""Every collector the configuration defines, with what the schedule knows of it.

`omc run` stores a task per enabled collector when it starts, so the stored tasks
alone miss every collector on a database it has not run on yet, and every collector
that is off. An overview starts from the registry instead: one view per configured
collector (on or off, scheduled or not yet), then one per stored task that no
configured collector runs any more (a timeframe or exchange removed from the
configuration), so nothing stored is hidden.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

from ohmycoins.scheduling.breaker import Circuit, read_circuits
from ohmycoins.scheduling.leases import read_connection
from ohmycoins.scheduling.quota import usage_of
from ohmycoins.scheduling.registry import Collector, Registry
from ohmycoins.scheduling.tasks import TaskState, list_tasks
from ohmycoins.storage.database import Database

__all__ = ["NOT_CONFIGURED", "CollectorView", "collector_views"]

NOT_CONFIGURED = "not configured"
"""The state of a stored task whose collector the configuration no longer defines."""


@dataclass(frozen=True, slots=True)
class CollectorView:
    """One collector as `omc collectors list` shows it.

    `state` is `enabled`, `paused`, `disabled: <why>` or `not configured`. The schedule
    is the interval in force (slowed down while the source has nothing new) or the cron
    expression; `scheduled` is False until `omc run` first stores the collector's
    task, and the run fields are None until it first runs."""

    name: str
    source: str | None
    ledger: str | None
    interval_seconds: float | None
    cron: str | None
    state: str
    circuit: str
    scheduled: bool
    next_run_ts: int | None
    last_run_ts: int | None
    last_status: str | None
    last_error: str | None
    quota_used: int | None
    quota_limit: int | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def collector_views(
    db: Database, registry: Registry, quotas: Mapping[str, int], now_ms: int
) -> list[CollectorView]:
    """Every collector of `registry` in its order, then the stored tasks it lacks."""
    stored = {task.task_id: task for task in list_tasks(db)}
    with read_connection(db) as conn:
        circuits = read_circuits(conn)
    used = usage_of(db, now_ms)
    views = []
    for collector in registry:
        task = stored.pop(collector.name, None)
        circuit = circuits.get(collector.source, Circuit()).state
        views.append(_view(collector, task, circuit, used, quotas))
    views += [_unconfigured(task) for task in stored.values()]
    return views


def _view(
    collector: Collector,
    task: TaskState | None,
    circuit: str,
    used: Mapping[str, int],
    quotas: Mapping[str, int],
) -> CollectorView:
    return CollectorView(
        name=collector.name,
        source=collector.source,
        ledger=collector.ledger,
        interval_seconds=(task or collector.schedule).interval_seconds,
        cron=(task or collector.schedule).cron,
        state=_state(collector, task),
        circuit=circuit,
        scheduled=task is not None,
        next_run_ts=task.next_run_ts if task is not None and collector.enabled else None,
        last_run_ts=task.last_run_ts if task is not None else None,
        last_status=task.last_status if task is not None else None,
        last_error=task.last_error if task is not None else None,
        quota_used=used.get(collector.source, 0),
        quota_limit=quotas.get(collector.source),
    )


def _state(collector: Collector, task: TaskState | None) -> str:
    if collector.off_status is not None:
        return collector.off_status
    return "paused" if task is not None and task.paused else "enabled"


def _unconfigured(task: TaskState) -> CollectorView:
    return CollectorView(
        name=task.task_id,
        source=None,
        ledger=None,
        interval_seconds=task.interval_seconds,
        cron=task.cron,
        state=NOT_CONFIGURED,
        circuit=task.circuit_state,
        scheduled=True,
        next_run_ts=None,
        last_run_ts=task.last_run_ts,
        last_status=task.last_status,
        last_error=task.last_error,
        quota_used=None,
        quota_limit=None,
    )
