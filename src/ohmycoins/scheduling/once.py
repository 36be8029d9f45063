"""Named collectors run once, now, in this process: `omc collectors run NAME…`.

    check the names → store their tasks → make them due now → a worker claims and
    runs just those (runner: admit → reserve → run → record) → read back each run

The runs go through the scheduler's own path, so they are leased (a worker elsewhere
does not run the same collector at the same time), admitted by the source's breaker,
counted against its quota, retried, and recorded in `collector_runs` like any other;
the next scheduled slot follows from them. A collector that cannot run now (off,
paused, running elsewhere, held by its source's breaker or quota) is reported as
not run, with the reason, and counts as a failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from ohmycoins.errors import UnknownTaskError
from ohmycoins.records import CollectorRun
from ohmycoins.scheduling.policy import CLOSED, Policy
from ohmycoins.scheduling.registry import Registry
from ohmycoins.scheduling.runner import Clock
from ohmycoins.scheduling.tasks import TaskState, get_task, sync_tasks, trigger
from ohmycoins.scheduling.worker import Worker
from ohmycoins.storage.database import Database
from ohmycoins.storage.reads.market import FAILED_STATUSES, latest_runs
from ohmycoins.timeframes import now_ms

__all__ = ["NOT_RUN", "OnceResult", "run_named"]

NOT_RUN = "not run"


@dataclass(frozen=True, slots=True)
class OnceResult:
    """What became of one named collector: its recorded run, or why it did not run."""

    collector: str
    status: str
    """ok, partial or error (the recorded run's), or `not run`."""
    run: CollectorRun | None = None
    reason: str | None = None
    """The run's error or problem, or why it did not run."""

    @property
    def failed(self) -> bool:
        return self.run is None or self.status in FAILED_STATUSES


async def run_named(
    db: Database,
    registry: Registry,
    policy: Policy,
    names: Sequence[str],
    *,
    clock: Clock = now_ms,
) -> list[OnceResult]:
    """Run these collectors of `registry` once, now; one result per name, in order.
    A name the registry does not have raises UnknownTaskError (with the close ones)
    before anything runs."""
    wanted = list(dict.fromkeys(names))
    for name in wanted:
        if name not in registry:
            raise UnknownTaskError(name, [c.name for c in registry], kind="configured")
    results: dict[str, OnceResult] = {}
    runnable = []
    for name in wanted:
        collector = registry.get(name)
        assert collector is not None
        if collector.enabled:
            runnable.append(name)
        else:
            results[name] = OnceResult(name, NOT_RUN, reason=collector.off_status)
    if runnable:
        results |= await _run(db, registry, policy, runnable, clock)
    return [results[name] for name in wanted]


async def _run(
    db: Database, registry: Registry, policy: Policy, names: list[str], clock: Clock
) -> dict[str, OnceResult]:
    """Run enabled collectors; those paused or leased elsewhere are not run."""
    start = clock()
    chosen = Registry(collector for collector in registry if collector.name in names)
    await asyncio.to_thread(sync_tasks, db, chosen, start, max_slowdown=policy.max_slowdown)
    results: dict[str, OnceResult] = {}
    ready = []
    for name in names:
        task = await asyncio.to_thread(get_task, db, name)
        if task.paused:
            results[name] = OnceResult(name, NOT_RUN, reason="paused (resume it first)")
        elif task.running(start):
            results[name] = OnceResult(name, NOT_RUN, reason=f"running in {task.lease_owner}")
        else:
            ready.append(name)
    if not ready:
        return results
    await asyncio.to_thread(trigger, db, ready, start)
    await Worker(db, registry, policy, clock=clock).run_once(only=ready)
    runs = await asyncio.to_thread(latest_runs, db, ready)
    for name in ready:
        run = runs.get(name)
        if run is not None and run.started_ts >= start:
            results[name] = OnceResult(name, run.status, run, run.error)
        else:
            task = await asyncio.to_thread(get_task, db, name, registry)
            results[name] = OnceResult(name, NOT_RUN, reason=_held(task, start))
    return results


def _held(task: TaskState, start: int) -> str:
    """Why a task made due was not run: its source's breaker or quota held it back, or
    another worker took it first."""
    if task.running(start) or (task.last_run_ts is not None and task.last_run_ts >= start):
        return "another worker took it"
    if task.circuit_state != CLOSED:
        return f"the circuit of {task.source} is {task.circuit_state}"
    return f"held back by {task.source}'s monthly quota"
