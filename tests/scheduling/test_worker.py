"""The worker loop on a real clock: runs on schedule, wakes on trigger, sleeps when idle,
renews leases of long runs, and stops gracefully."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import update

from ohmycoins.errors import TemporarySourceError
from ohmycoins.scheduling.leases import claim_due
from ohmycoins.scheduling.registry import Registry, RunContext, RunOutcome
from ohmycoins.scheduling.tasks import get_task, sync_tasks, trigger
from ohmycoins.scheduling.worker import Worker
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import collection_tasks
from ohmycoins.timeframes import now_ms
from tests.scheduling.support import collector, fast_policy

WAIT = 5.0  # the longest any awaited event may take before the test fails


class Gate:
    """A collector that reports each start and, when closed, waits to be let through."""

    def __init__(self, *, closed: bool = False) -> None:
        self.started = asyncio.Queue[RunContext]()
        self.open = asyncio.Event()
        if not closed:
            self.open.set()
        self.finished = 0

    async def run(self, context: RunContext) -> RunOutcome:
        self.started.put_nowait(context)
        await self.open.wait()
        self.finished += 1
        return RunOutcome()

    async def next_start(self) -> RunContext:
        return await asyncio.wait_for(self.started.get(), WAIT)


def _registry(db: Database, gate: Gate, every: float, due_in: float = 0.0) -> Registry:
    registry = Registry([collector("g", gate.run, every=every)])
    sync_tasks(db, registry, now_ms())
    with db.engine.begin() as conn:
        conn.execute(update(collection_tasks).values(next_run_ts=now_ms() + round(due_in * 1000)))
    return registry


@asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[asyncio.Task[None]]:
    loop = asyncio.create_task(worker.run())
    try:
        yield loop
    finally:
        await worker.stop(grace_seconds=1.0)
        await loop


async def test_runs_tasks_on_their_schedule(db: Database) -> None:
    gate = Gate()
    worker = Worker(db, _registry(db, gate, every=0.2), fast_policy())
    async with running(worker):
        dues = [(await gate.next_start()).due_ts for _ in range(3)]
    assert [b - a for a, b in itertools.pairwise(dues)] == [200, 200]


async def test_trigger_and_wake_run_a_task_at_once(sqlite_db: Database) -> None:
    gate = Gate()
    registry = _registry(sqlite_db, gate, every=3600, due_in=3600)
    worker = Worker(sqlite_db, registry, fast_policy(idle_cap_seconds=30))
    async with running(worker):
        await asyncio.sleep(0.05)  # let it fall asleep: nothing is due for an hour
        started = time.monotonic()
        trigger(sqlite_db, ["g"], now_ms())
        worker.wake()
        await gate.next_start()
        assert time.monotonic() - started < 10, "woken by the trigger, not by the 30 s idle cap"


async def test_an_idle_worker_sleeps_until_the_next_due_time(sqlite_db: Database) -> None:
    gate = Gate()
    registry = _registry(sqlite_db, gate, every=3600, due_in=0.3)
    worker = Worker(sqlite_db, registry, fast_policy(idle_cap_seconds=30))
    async with running(worker):
        context = await gate.next_start()
        assert now_ms() - context.due_ts < 500
        assert worker.stats.polls <= 3


async def test_an_idle_worker_looks_no_more_often_than_its_cap(sqlite_db: Database) -> None:
    gate = Gate()
    registry = _registry(sqlite_db, gate, every=3600, due_in=3600)
    worker = Worker(sqlite_db, registry, fast_policy(idle_cap_seconds=0.25))
    async with running(worker):
        await asyncio.sleep(1.0)  # the behaviour under test is what happens while idle
    assert 3 <= worker.stats.polls <= 6


async def test_leases_of_long_runs_are_renewed(db: Database) -> None:
    gate = Gate(closed=True)
    worker = Worker(db, _registry(db, gate, every=60), fast_policy(lease_seconds=0.3))
    async with running(worker):
        await gate.next_start()
        await asyncio.sleep(0.6)  # twice the lease: only renewal keeps it
        assert claim_due(db, "thief", ["g"], now_ms(), 1, 300) == []
        gate.open.set()  # leaving the block stops the worker, which lets the run finish
    assert get_task(db, "g").last_status == "ok" and gate.finished == 1


async def test_stop_lets_runs_in_flight_finish(sqlite_db: Database) -> None:
    gate = Gate(closed=True)
    worker = Worker(sqlite_db, _registry(sqlite_db, gate, every=60), fast_policy())
    loop = asyncio.create_task(worker.run())
    await gate.next_start()
    stopping = asyncio.create_task(worker.stop(grace_seconds=WAIT))
    await asyncio.sleep(0)
    assert worker.in_flight == ["g"]
    gate.open.set()
    await asyncio.wait_for(stopping, WAIT)
    await loop
    state = get_task(sqlite_db, "g")
    assert (state.last_status, state.lease_owner, gate.finished) == ("ok", None, 1)


async def test_stop_cancels_runs_that_outlast_the_grace_and_releases_them(db: Database) -> None:
    gate = Gate(closed=True)
    registry = _registry(db, gate, every=60)
    due = get_task(db, "g").next_run_ts
    worker = Worker(db, registry, fast_policy())
    loop = asyncio.create_task(worker.run())
    await gate.next_start()
    await asyncio.wait_for(worker.stop(grace_seconds=0.05), WAIT)
    await loop
    state = get_task(db, "g")
    assert (state.lease_owner, state.next_run_ts, state.last_status) == (None, due, None)
    assert gate.finished == 0 and worker.in_flight == []
    assert [t.task_id for t in claim_due(db, "next", ["g"], now_ms(), 1, 1000)] == ["g"]


async def test_stop_ends_the_retries_of_a_failing_source(db: Database) -> None:
    """A source that is down is retried after an hour's backoff; a stop must not wait it
    out: the run ends (recorded, not cancelled) and its lease is released."""
    attempts = asyncio.Queue[int]()

    async def down(context: RunContext) -> RunOutcome:
        attempts.put_nowait(context.attempt)
        raise TemporarySourceError("fake", "connection refused")

    registry = Registry([collector("g", down, every=60)])
    sync_tasks(db, registry, now_ms())
    policy = fast_policy(max_attempts=10, backoff_initial_seconds=3600, backoff_max_seconds=3600)
    worker = Worker(db, registry, policy)
    loop = asyncio.create_task(worker.run())
    assert await asyncio.wait_for(attempts.get(), WAIT) == 1
    await asyncio.wait_for(worker.stop(grace_seconds=WAIT), WAIT)
    await loop
    state = get_task(db, "g")
    assert (state.last_status, state.lease_owner) == ("error", None)
    assert attempts.empty()  # the cut-short wait led to no other attempt


async def test_a_database_outage_is_waited_out(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/late.db")  # no schema yet: every claim fails
    gate = Gate()
    registry = Registry([collector("g", gate.run, every=60)])
    worker = Worker(db, registry, fast_policy(idle_cap_seconds=0.05))
    async with running(worker) as loop:
        await asyncio.sleep(0.2)  # the behaviour under test is what happens meanwhile
        assert worker.stats.polls >= 2 and not loop.done()
        db.upgrade()
        sync_tasks(db, registry, now_ms())
        await gate.next_start()
    db.dispose()


async def test_one_sqlite_worker_keeps_many_tasks_on_schedule(sqlite_db: Database) -> None:
    seen: dict[str, list[int]] = {}
    enough = asyncio.Event()

    async def run(context: RunContext) -> RunOutcome:
        seen.setdefault(context.task_id, []).append(context.due_ts)
        if len(seen) == 50 and all(len(dues) >= 2 for dues in seen.values()):
            enough.set()
        return RunOutcome(records_written=1)

    registry = Registry([collector(f"t{i:02d}", run, every=0.5) for i in range(50)])
    sync_tasks(sqlite_db, registry, now_ms())
    worker = Worker(sqlite_db, registry, fast_policy(max_concurrency=8))
    async with running(worker):
        await asyncio.wait_for(enough.wait(), WAIT)
    assert worker.stats.error == worker.stats.crashed == 0
    for dues in seen.values():  # on the grid, each slot once (a late start may skip one)
        assert all(b - a > 0 and (b - a) % 500 == 0 for a, b in itertools.pairwise(dues))
