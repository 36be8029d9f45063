"""One claimed task run end to end: the job boundary of the scheduler.

    admit (source breaker) → reserve quota → run with retries → record

- admission: a closed circuit runs; an open one defers the task, or, after its
  cooldown, lets this worker take the single probe (see `breaker.py`).
- each attempt first reserves the collector's calls against the source's monthly
  quota; a task that cannot afford its first attempt waits for the next month.
- retries: the one retry rule (`retry.py`): temporary source errors only, with
  exponential backoff and jitter; a rate limit waits its Retry-After. Bans, payload
  errors and other source errors end the run at once. Once the worker stops there is
  no retry. The run's context carries the same rule, for a run that retries its parts
  itself (candle pages) and so raises no temporary error of theirs.
- record: one transaction settles the source's breaker (nothing is written when a
  success finds it clean), computes the next slot (adaptive interval, quota stretch,
  breaker and Retry-After holds), finishes the task and writes the `collector_runs`
  row. The run id is `<task_id>@<due_ts>`: a slot run again after a crash replaces
  its row, so a slot never has two.

Errors are logged here, once: a source failure as a warning, anything unexpected
with its traceback. They never escape to the worker loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection

from ohmycoins.errors import BannedError, OhMyCoinsError, SourceError
from ohmycoins.records import CollectorRun, field_names
from ohmycoins.scheduling.breaker import Circuit, Verdict, admit, settle, take_probe
from ohmycoins.scheduling.leases import (
    ClaimedTask,
    Finish,
    defer_task,
    finish_task,
    write_transaction,
)
from ohmycoins.scheduling.policy import Policy
from ohmycoins.scheduling.quota import QuotaView, month_end_ms, quota_view, reserve_calls
from ohmycoins.scheduling.registry import Collector, Registry, RunContext, RunOutcome
from ohmycoins.scheduling.retry import Retry, Sleep
from ohmycoins.scheduling.schedule import adapted_interval, next_due
from ohmycoins.storage.database import Database, upsert_row
from ohmycoins.storage.tables import RECORD_TABLES

__all__ = [
    "DEFERRED",
    "Clock",
    "Sleep",
    "TaskRunner",
]

log = logging.getLogger(__name__)

Clock = Callable[[], int]
"""The current time in epoch milliseconds."""

DEFERRED = "deferred"

_RUNS = RECORD_TABLES[CollectorRun]
_RUN_FIELDS = field_names(CollectorRun)


class _QuotaSpent(OhMyCoinsError):
    """The source's monthly quota cannot afford another attempt (never leaves this module)."""


@dataclass(frozen=True, slots=True)
class _Ended:
    """How a run's attempts ended: an outcome, or an error and what it says of the source.
    `hold_ms`: the source asked us to stay away this long."""

    started_ts: int
    outcome: RunOutcome | None = None
    error: str | None = None
    verdict: Verdict = Verdict.SUCCESS
    hold_ms: int = 0

    @property
    def status(self) -> str:
        return self.outcome.status if self.outcome is not None else "error"


class TaskRunner:
    """Runs claimed tasks for one worker (`owner`)."""

    def __init__(
        self,
        db: Database,
        registry: Registry,
        policy: Policy,
        owner: str,
        *,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
        stopping: asyncio.Event | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.policy = policy
        self.owner = owner
        self.clock = clock
        self.sleep = sleep
        self.stopping = stopping if stopping is not None else asyncio.Event()
        """Set when the worker stops: no more retries, no more waiting for one."""
        self.retry = Retry(policy, sleep=sleep, stopping=self.stopping)

    async def run(self, task: ClaimedTask, stopping: asyncio.Event | None = None) -> str:
        """Run one claimed task; returns its status (ok, partial, error) or "deferred".
        `stopping` ends a stream (see `RunContext.stopping`)."""
        collector = self.registry.get(task.collector)
        if collector is None:  # claimed by name: only if the registry changed under us
            await self._defer(task, self.clock())
            return DEFERRED
        if not await self._admitted(task, collector):
            return DEFERRED
        ended = await self._attempts(task, collector, stopping)
        if ended is None:
            await self._defer(task, month_end_ms(self.clock()))
            return DEFERRED
        await asyncio.to_thread(self._record, task, collector, ended)
        return ended.status

    async def _defer(self, task: ClaimedTask, until_ms: int) -> None:
        await asyncio.to_thread(
            defer_task, self.db, task.task_id, self.owner, until_ms, self.clock()
        )

    async def _admitted(self, task: ClaimedTask, collector: Collector) -> bool:
        """Ask the source's breaker; defer the task when it may not run now."""
        now = self.clock()
        admission = admit(task.circuit_state, task.circuit_opened_ts, now, self.policy.breaker)
        if admission.run and not admission.probe:
            return True
        if admission.probe:
            source, state, opened = collector.source, task.circuit_state, task.circuit_opened_ts
            if await asyncio.to_thread(take_probe, self.db, source, state, opened, now):
                log.info("circuit of %s is half-open: %s probes it", collector.source, task.task_id)
                return True
            until = now + self.policy.breaker.recheck_ms
        else:
            assert admission.defer_until is not None
            until = admission.defer_until
        await self._defer(task, until)
        return False

    async def _attempts(
        self, task: ClaimedTask, collector: Collector, stopping: asyncio.Event | None = None
    ) -> _Ended | None:
        """Run the collector with retries; None when the quota allowed no attempt at all."""
        started = self.clock()
        attempts = 0

        async def attempt() -> RunOutcome:
            nonlocal attempts
            attempts += 1
            await self._reserve(collector)
            return await collector.run(self._context(task, collector, attempts, stopping))

        try:
            outcome = await self.retry.call(attempt)
        except _QuotaSpent as exc:
            if attempts == 1:
                log.info("%s waits for next month: %s", task.task_id, exc)
                return None
            return _Ended(started, error=str(exc), verdict=Verdict.FAILURE)
        except SourceError as exc:
            log.warning("%s failed after %d attempt(s): %s", task.task_id, attempts, exc)
            return _source_failure(started, exc)
        except OhMyCoinsError as exc:
            log.error("%s failed: %s", task.task_id, exc)
            return _Ended(started, error=str(exc), verdict=Verdict.NEUTRAL)
        except Exception as exc:
            log.exception("%s crashed", task.task_id)
            return _Ended(started, error=f"{type(exc).__name__}: {exc}", verdict=Verdict.NEUTRAL)
        return _Ended(started, outcome=outcome)

    def _context(
        self,
        task: ClaimedTask,
        collector: Collector,
        attempt: int,
        stopping: asyncio.Event | None = None,
    ) -> RunContext:
        return RunContext(
            task_id=task.task_id,
            collector=collector.name,
            source=collector.source,
            due_ts=task.due_ts,
            cursor=task.cursor,
            attempt=attempt,
            db=self.db,
            retry=self.retry,
            stopping=stopping,
        )

    async def _reserve(self, collector: Collector) -> None:
        quota = self.policy.quotas.get(collector.source)
        calls, now = collector.calls_per_run, self.clock()
        reserved = await asyncio.to_thread(
            reserve_calls, self.db, collector.source, calls, quota, now
        )
        if not reserved:
            raise _QuotaSpent(f"monthly quota of {quota} calls to {collector.source} is spent")

    def _record(self, task: ClaimedTask, collector: Collector, ended: _Ended) -> None:
        """Settle the breaker, finish the task and write its run, in one transaction."""
        now = self.clock()
        source, verdict, breaker = collector.source, ended.verdict, self.policy.breaker
        names = self._names_of(source) if verdict in (Verdict.FAILURE, Verdict.TRIP) else ()
        with write_transaction(self.db) as conn:
            circuit = settle(conn, source, names, verdict, now, breaker, hold_ms=ended.hold_ms)
            interval = self._interval_after(task, collector, ended)
            next_ts = self._next_slot(conn, task, collector, interval, ended.started_ts, now)
            next_ts = _brought_forward(next_ts, ended, now)
            next_ts = max(next_ts, _held_until(circuit, ended, now))
            cursor = ended.outcome.cursor if ended.outcome is not None else None
            run = _run_record(task, ended, now)
            finish = Finish(now, run.status, run.error, next_ts, cursor, interval)
            held = finish_task(conn, task.task_id, self.owner, finish)
            _store_run(conn, run)
        log.info(
            "run %s status=%s written=%d quarantined=%d quality=%s seconds=%.2f next_in=%.0fs",
            run.collector,
            run.status,
            run.records_written,
            run.records_quarantined,
            run.quality if run.quality is not None else "-",
            (now - run.started_ts) / 1000,
            (next_ts - now) / 1000,
        )
        if not held:
            log.warning("%s: lease lost during the run; its schedule was left alone", task.task_id)

    def _names_of(self, source: str) -> list[str]:
        """The source's collectors, whose tasks its breaker holds back when it opens."""
        return [c.name for c in self.registry.of_source(source)]

    def _interval_after(
        self, task: ClaimedTask, collector: Collector, ended: _Ended
    ) -> float | None:
        """The interval in force after this run: adapted when it succeeded."""
        base = collector.schedule.interval_seconds
        if base is None:
            return None
        current = task.interval_seconds or base
        if ended.outcome is None:
            return current
        changed = ended.outcome.changed
        return adapted_interval(
            current, base, changed=changed, max_slowdown=self.policy.max_slowdown
        )

    def _next_slot(
        self,
        conn: Connection,
        task: ClaimedTask,
        collector: Collector,
        interval: float | None,
        started: int,
        now: int,
    ) -> int:
        """The next slot from the schedule, stretched for the source's quota."""
        quota = self.policy.quotas.get(collector.source)
        view: QuotaView | None = None
        if quota is not None:
            siblings = [c for c in self.registry.of_source(collector.source) if c.enabled]
            view = quota_view(conn, siblings, task.task_id, quota, now, self.policy.max_stretch)
        slot = next_due(
            collector.schedule,
            task.due_ts,
            now,
            started_ms=started,
            interval_seconds=interval,
            stretch=view.stretch if view is not None else 1.0,
        )
        if view is not None and view.remaining < collector.calls_per_run:
            return max(slot, month_end_ms(now))
        return slot


def _source_failure(started: int, exc: SourceError) -> _Ended:
    """A source error after retries: a ban trips the breaker, a long Retry-After holds."""
    retry_after = getattr(exc, "retry_after", None)
    hold_ms = int(retry_after * 1000) if retry_after else 0
    verdict = Verdict.TRIP if isinstance(exc, BannedError) else Verdict.FAILURE
    return _Ended(started, error=str(exc), verdict=verdict, hold_ms=hold_ms)


def _brought_forward(slot: int, ended: _Ended, now: int) -> int:
    """The slot, or sooner when the run asked to look again soon (its input was not
    there yet)."""
    retry_in = ended.outcome.retry_in_seconds if ended.outcome is not None else None
    if retry_in is None:
        return slot
    return min(slot, now + round(retry_in * 1000))


def _held_until(circuit: Circuit, ended: _Ended, now: int) -> int:
    """The earliest the task may run again because of its source, not its schedule."""
    holds = [now + ended.hold_ms if ended.hold_ms else 0, circuit.blocked_until or 0]
    return max(holds)


def _store_run(conn: Connection, run: CollectorRun) -> None:
    """Write one run, replacing the slot's earlier row (`Merge.REPLACE`)."""
    upsert_row(conn, _RUNS, {name: getattr(run, name) for name in _RUN_FIELDS}, ("run_id",))


def _run_record(task: ClaimedTask, ended: _Ended, now: int) -> CollectorRun:
    """The `collector_runs` row of a run; one per scheduled slot."""
    outcome = ended.outcome or RunOutcome()
    run_id = f"{task.task_id}@{task.due_ts}"
    return outcome.run_record(run_id, task.collector, ended.started_ts, now, ended.error)
