"""One claimed task run end to end: the job boundary of the scheduler.

    admit (source breaker) → reserve quota → run with retries → record

- admission: a closed circuit runs; an open one defers the task, or, after its
  cooldown, lets this worker take the single probe (see `breaker.py`).
- each attempt first reserves the collector's calls against the source's monthly
  quota; a task that cannot afford its first attempt waits for the next month.
- retries: temporary source errors only, with exponential backoff and jitter; a
  rate limit waits its Retry-After. Bans, payload errors and other source errors
  end the run at once. Once the worker stops there is no retry: a wait between
  attempts ends the run with the failure that asked for it, so a stop does not wait
  out a source's backoff.
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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import Connection
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from ohmycoins.errors import (
    BannedError,
    OhMyCoinsError,
    RateLimitedError,
    SourceError,
    TemporarySourceError,
)
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
Sleep = Callable[[float], Awaitable[None]]

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
        self._backoff = wait_exponential_jitter(
            multiplier=policy.backoff_initial_seconds,
            max=policy.backoff_max_seconds,
            jitter=policy.backoff_initial_seconds,
        )

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
        failures: list[BaseException] = []

        def wait(state: RetryCallState) -> float:
            failure = state.outcome.exception() if state.outcome is not None else None
            assert failure is not None  # tenacity waits only after a failed attempt
            failures.append(failure)
            return self._wait(state)

        async def pause(seconds: float) -> None:
            """The wait before a retry; a stop (before or during it) ends the run with
            the failure that asked for the retry."""
            await self._sleep_unless_stopping(seconds)
            if self.stopping.is_set():
                raise failures[-1]

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.policy.max_attempts),
            wait=wait,
            retry=retry_if_exception(self._retryable),
            sleep=pause,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    await self._reserve(collector)
                    context = self._context(task, collector, attempts, stopping)
                    outcome = await collector.run(context)
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

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        waits = [
            asyncio.ensure_future(self.sleep(seconds)),
            asyncio.ensure_future(self.stopping.wait()),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    def _retryable(self, exc: BaseException) -> bool:
        """Temporary errors, except a rate limit that asks for a longer wait than we allow."""
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            return exc.retry_after <= self.policy.backoff_max_seconds
        return isinstance(exc, TemporarySourceError)

    def _wait(self, state: RetryCallState) -> float:
        """Retry-After when the source gave one, else exponential backoff with jitter."""
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            return exc.retry_after
        return float(self._backoff(state))

    def _record(self, task: ClaimedTask, collector: Collector, ended: _Ended) -> None:
        """Settle the breaker, finish the task and write its run, in one transaction."""
        now = self.clock()
        source, verdict, breaker = collector.source, ended.verdict, self.policy.breaker
        names = self._names_of(source) if verdict in (Verdict.FAILURE, Verdict.TRIP) else ()
        with write_transaction(self.db) as conn:
            circuit = settle(conn, source, names, verdict, now, breaker, hold_ms=ended.hold_ms)
            interval = self._interval_after(task, collector, ended)
            next_ts = self._next_slot(conn, task, collector, interval, ended.started_ts, now)
            next_ts = max(next_ts, _held_until(circuit, ended, now))
            cursor = ended.outcome.cursor if ended.outcome is not None else None
            finish = Finish(now, ended.status, _error_of(ended), next_ts, cursor, interval)
            held = finish_task(conn, task.task_id, self.owner, finish)
            run = _run_record(task, ended, now)
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


def _held_until(circuit: Circuit, ended: _Ended, now: int) -> int:
    """The earliest the task may run again because of its source, not its schedule."""
    holds = [now + ended.hold_ms if ended.hold_ms else 0, circuit.blocked_until or 0]
    return max(holds)


def _error_of(ended: _Ended) -> str | None:
    if ended.error is not None:
        return ended.error
    return ended.outcome.problem if ended.outcome is not None else None


def _store_run(conn: Connection, run: CollectorRun) -> None:
    """Write one run, replacing the slot's earlier row (`Merge.REPLACE`)."""
    upsert_row(conn, _RUNS, {name: getattr(run, name) for name in _RUN_FIELDS}, ("run_id",))


def _run_record(task: ClaimedTask, ended: _Ended, now: int) -> CollectorRun:
    """The `collector_runs` row of a run; one per scheduled slot."""
    outcome = ended.outcome or RunOutcome()
    quality = outcome.quality
    return CollectorRun(
        run_id=f"{task.task_id}@{task.due_ts}",
        collector=task.collector,
        status=ended.status,
        started_ts=ended.started_ts,
        finished_ts=now,
        records_written=outcome.records_written,
        records_quarantined=outcome.records_quarantined,
        accuracy=quality.accuracy if quality else None,
        completeness=quality.completeness if quality else None,
        timeliness=quality.timeliness if quality else None,
        quality=quality.overall if quality else None,
        error=_error_of(ended),
    )
