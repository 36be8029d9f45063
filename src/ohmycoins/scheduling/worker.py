"""The worker: claims due tasks and runs them, any number of workers per database.

    while not stopping:
        claim up to the free slots (leases) → start each run as an asyncio task
        sleep until the next task can be claimed, a run ends, or wake()/stop()

A claim names the stored tasks the worker does not run (usually none) rather than
the thousands it does, so its cost does not grow with the registry (see `leases.py`).
An idle worker sleeps until the earliest time one of its tasks can be claimed, but
at most `idle_cap_seconds`, so a task triggered or resumed by another process is
seen within the cap; `wake()` ends the sleep at once (a trigger in this process).
While runs last, one background loop renews their leases every third of the lease.
A database outage is waited out: claims resume when it answers again.

Streams (collectors of kind `stream`) are claimed like runs but hold their lease for
as long as they last, renewed by the same loop, and take no run slot. A stream whose
lease was lost (this worker stalled past the lease and another took it) is told to
stop; `stop()` tells every stream to stop before it waits for the runs.

`stop()` stops claiming, lets runs in flight finish for the stop timeout (they retry
no more: see `runner.py`), cancels the rest, and releases every lease the worker
holds, so other workers take its tasks at once instead of after the lease expires. A
worker that dies without stopping loses its leases when they expire.

The CLI builds one with `Worker(db, registry, policy)` after `sync_tasks`, runs
`await worker.run()`, and calls `await worker.stop()` on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from ohmycoins.errors import StorageError
from ohmycoins.scheduling.leases import (
    ClaimedTask,
    claim_due,
    defer_task,
    next_claimable_ts,
    release_leases,
    renew_leases,
    stored_collectors,
)
from ohmycoins.scheduling.policy import Policy
from ohmycoins.scheduling.registry import Registry
from ohmycoins.scheduling.runner import Clock, Sleep, TaskRunner
from ohmycoins.storage.database import Database
from ohmycoins.timeframes import now_ms

__all__ = [
    "MIN_IDLE_SECONDS",
    "Worker",
    "WorkerStats",
    "cancel_and_wait",
    "default_owner",
]

log = logging.getLogger(__name__)

MIN_IDLE_SECONDS = 0.02
"""The shortest idle sleep: nothing is claimed faster than this when nothing is due."""


def default_owner() -> str:
    """A lease owner id unique to this worker: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class WorkerStats:
    """Counts since the worker started (for health and metrics)."""

    claimed: int = 0
    ok: int = 0
    partial: int = 0
    error: int = 0
    deferred: int = 0
    polls: int = 0
    crashed: int = 0

    def count(self, status: str) -> None:
        setattr(self, status, getattr(self, status) + 1)


class Worker:
    """Claims and runs the due tasks of the registry's enabled collectors."""

    def __init__(
        self,
        db: Database,
        registry: Registry,
        policy: Policy | None = None,
        *,
        owner: str | None = None,
        clock: Clock = now_ms,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.db = db
        self.policy = policy or Policy()
        self.owner = owner or default_owner()
        self.clock = clock
        self.stats = WorkerStats()
        self._sources = {c.name: c.source for c in registry.enabled()}
        self._streams = {c.name for c in registry.enabled() if c.kind == "stream"}
        self._stream_stops: dict[str, asyncio.Event] = {}
        self._foreign: list[str] | None = None  # stored tasks not ours: known at the 1st claim
        self._stopping = asyncio.Event()
        self._runner = TaskRunner(
            db, registry, self.policy, self.owner, clock=clock, sleep=sleep, stopping=self._stopping
        )
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._wakeup = asyncio.Event()
        self._stopped = asyncio.Event()
        self._running = False
        self._stop_timeout = self.policy.stop_timeout_seconds

    @property
    def collectors(self) -> list[str]:
        """The collectors (task ids) this worker may run: the registry's enabled ones."""
        return list(self._sources)

    @property
    def in_flight(self) -> list[str]:
        """Task ids running now."""
        return sorted(self._inflight)

    def _free_slots(self) -> int:
        """Run slots free: streams in flight take none."""
        runs = len(self._inflight) - len(self._stream_stops)
        return self.policy.max_concurrency - runs

    def _stop_streams(self, names: set[str] | None = None) -> None:
        """Tell the streams in flight (those `names`, or all) to end."""
        for name, stop in self._stream_stops.items():
            if names is None or name in names:
                stop.set()

    def wake(self) -> None:
        """Look for due tasks now (after a trigger or resume in this process)."""
        self._wakeup.set()

    async def run(self) -> None:
        """Claim and run due tasks until `stop()`; then drain and release leases."""
        self._running = True
        try:
            async with self._renewing():
                while not self._stopping.is_set():
                    await self._idle(await self._step())
                await self._drain(self._stop_timeout)
        finally:
            await self._abandon()
            self._stopped.set()

    async def run_once(self, only: Sequence[str] | None = None) -> int:
        """Run every task due now (of the collectors `only` names, when given), wait for
        all of them, and return how many ran. For `omc collectors run`, and for tests
        that drive a fake clock step by step. Streams never end, so they are left out."""
        due_by = self.clock()
        if self._streams:
            named = self.collectors if only is None else only
            only = [name for name in named if name not in self._streams]
        started = 0
        async with self._renewing():
            try:
                while True:
                    free = self._free_slots()
                    claimed = await self._claim(free, due_by, only)
                    started += len(claimed)
                    if not self._inflight:
                        return started
                    if len(claimed) < free:
                        await asyncio.wait(list(self._inflight.values()))
                    else:
                        await asyncio.wait(
                            list(self._inflight.values()), return_when=asyncio.FIRST_COMPLETED
                        )
            finally:
                await self._abandon()

    async def stop(self, grace_seconds: float | None = None) -> None:
        """Stop claiming; runs in flight get `grace_seconds` (the policy's stop timeout by
        default) to finish, then are cancelled; every lease is released. Returns once
        `run()` has ended."""
        if grace_seconds is not None:
            self._stop_timeout = grace_seconds
        self._stopping.set()
        self._stop_streams()
        self._wakeup.set()
        if self._running:
            await self._stopped.wait()

    async def _step(self) -> float:
        """Claim what fits; returns the seconds to sleep before looking again. A database
        error is not fatal: runs in flight go on, and claiming resumes after the cap."""
        self._wakeup.clear()
        free = self._free_slots()
        try:
            claimed = await self._claim(free, None)
            if free > 0 and len(claimed) == free:
                return 0.0  # maybe more is due: look again as soon as a slot frees
            return await self._idle_delay(free - len(claimed))
        except StorageError as exc:
            log.warning("cannot claim tasks (%s); trying again shortly", exc)
            return self.policy.idle_cap_seconds

    async def _claim(
        self, free: int, due_by: int | None, only: Sequence[str] | None = None
    ) -> list[ClaimedTask]:
        """Claim up to `free` tasks due by `due_by` (of `only` these collectors) and
        start them."""
        if free <= 0:
            return []
        self.stats.polls += 1
        claimed = await asyncio.to_thread(self._claim_mine, free, due_by, only)
        for task in claimed:
            self._start(task)
        self.stats.claimed += len(claimed)
        return claimed

    def _claim_mine(
        self, free: int, due_by: int | None, only: Sequence[str] | None
    ) -> list[ClaimedTask]:
        """Claim by exclusion: any due task but those of stored collectors this worker
        does not run. A task stored since the list was made (another process's sync) is
        claimed once, given back as it was, and excluded from then on. With `only`,
        claim by name instead: those of its collectors this worker runs."""
        if not self._sources:
            return []
        if only is not None:
            names = [name for name in only if name in self._sources]
            return claim_due(
                self.db,
                self.owner,
                names,
                self.clock(),
                free,
                self.policy.lease_ms,
                due_by_ms=due_by,
                sources=self._sources,
            )
        if self._foreign is None:
            self._foreign = self._stored_foreign()
        now = self.clock()
        claimed = claim_due(
            self.db,
            self.owner,
            None,
            now,
            free,
            self.policy.lease_ms,
            due_by_ms=due_by,
            excluding=self._foreign,
            sources=self._sources,
        )
        foreign = [task for task in claimed if task.collector not in self._sources]
        if foreign:
            self._foreign = self._stored_foreign()
            for task in foreign:
                defer_task(self.db, task.task_id, self.owner, task.due_ts, now)
        return [task for task in claimed if task.collector in self._sources]

    def _stored_foreign(self) -> list[str]:
        """The stored collectors this worker does not run."""
        return sorted(stored_collectors(self.db) - self._sources.keys())

    def _start(self, task: ClaimedTask) -> None:
        if task.task_id in self._inflight:
            return  # our own lease had lapsed and we took it again: the run in flight owns it
        stop = None
        if task.collector in self._streams:
            stop = self._stream_stops[task.task_id] = asyncio.Event()
            if self._stopping.is_set():
                stop.set()
        job = asyncio.create_task(self._run_one(task, stop), name=f"omc-task:{task.task_id}")
        self._inflight[task.task_id] = job

    async def _run_one(self, task: ClaimedTask, stop: asyncio.Event | None = None) -> None:
        """One run; the runner logs its failures, this catches only its bookkeeping's."""
        try:
            self.stats.count(await self._runner.run(task, stop))
        except Exception:
            self.stats.crashed += 1
            log.exception("%s: run not recorded; it runs again after its lease", task.task_id)
        finally:
            self._inflight.pop(task.task_id, None)
            self._stream_stops.pop(task.task_id, None)
            self._wakeup.set()

    async def _idle_delay(self, free: int) -> float:
        """Seconds until the next claim is worth trying, at most the idle cap."""
        cap = self.policy.idle_cap_seconds
        if free <= 0:
            return cap  # every slot busy: a finishing run wakes us
        next_ts = await asyncio.to_thread(
            next_claimable_ts,
            self.db,
            self.collectors if self._foreign is None else None,
            excluding=self._foreign or (),
        )
        if next_ts is None:
            return cap
        return min(cap, max(MIN_IDLE_SECONDS, (next_ts - self.clock()) / 1000))

    async def _idle(self, delay: float) -> None:
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), delay)

    async def _drain(self, grace_seconds: float) -> None:
        """Let runs in flight finish for `grace_seconds`, then cancel the rest."""
        jobs = list(self._inflight.values())
        if not jobs:
            return
        log.info("waiting up to %.1fs for %d run(s) in flight", grace_seconds, len(jobs))
        _, pending = await asyncio.wait(jobs, timeout=grace_seconds)
        await cancel_and_wait(pending)

    async def _abandon(self) -> None:
        """Cancel whatever still runs and release every lease (also when cancelled)."""
        await cancel_and_wait(set(self._inflight.values()))
        try:
            released = await asyncio.shield(
                asyncio.to_thread(release_leases, self.db, self.owner, self.clock())
            )
        except StorageError as exc:
            log.error("could not release leases; they expire on their own: %s", exc)
            return
        if released:
            log.info("released %d lease(s)", released)

    @contextlib.asynccontextmanager
    async def _renewing(self) -> AsyncIterator[None]:
        """Renew the leases of runs in flight while the body runs."""
        renewer = asyncio.create_task(self._renew_forever(), name="omc-lease-renewal")
        try:
            yield
        finally:
            await cancel_and_wait({renewer})

    async def _renew_forever(self) -> None:
        every = self.policy.lease_seconds / 3
        while True:
            await asyncio.sleep(every)
            held = list(self._inflight)
            if not held:
                continue
            try:
                kept = await asyncio.to_thread(
                    renew_leases, self.db, self.owner, held, self.clock(), self.policy.lease_ms
                )
            except StorageError as exc:
                log.warning("lease renewal failed (%s); retrying in %.1fs", exc, every)
                continue
            still_running = set(self._inflight)  # runs that ended meanwhile released theirs
            lost = (set(held) - kept) & still_running
            for name in sorted(lost):
                log.warning("lease on %s was lost (expired and taken by another worker)", name)
            self._stop_streams(lost)


async def cancel_and_wait(jobs: Collection[asyncio.Task[Any]]) -> None:
    """Cancel tasks and wait until they have ended (their errors are not raised; a
    cancel of the caller itself still is)."""
    for job in jobs:
        job.cancel()
    if jobs:
        await asyncio.gather(*jobs, return_exceptions=True)
