"""Streams as scheduler jobs: a long-lived run that holds a renewed lease, takes no run
slot, ends when its worker stops or when it lost its lease, and is then free for another
worker."""

from __future__ import annotations

import asyncio
import dataclasses

from sqlalchemy import update

from ohmycoins.scheduling.leases import claim_due
from ohmycoins.scheduling.registry import Registry, RunContext, RunOutcome
from ohmycoins.scheduling.tasks import get_task, sync_tasks
from ohmycoins.scheduling.worker import Worker
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import collection_tasks
from ohmycoins.timeframes import now_ms
from tests.scheduling.support import collector, fast_policy
from tests.support.polling import until

WAIT = 5.0


class LongLived:
    """A stream-like job: runs until told to stop, then reports what it did."""

    def __init__(self) -> None:
        self.started: asyncio.Queue[RunContext] = asyncio.Queue()
        self.ended = 0

    async def run(self, context: RunContext) -> RunOutcome:
        assert context.stopping is not None
        self.started.put_nowait(context)
        await context.stopping.wait()
        self.ended += 1
        return RunOutcome(records_written=1)


def registry_with(db: Database, stream: LongLived, *runs: str) -> Registry:
    job = dataclasses.replace(collector("s", stream.run, every=0.2), kind="stream")
    registry = Registry([job, *(collector(name, _quick, every=0.05) for name in runs)])
    sync_tasks(db, registry, now_ms())
    return registry


async def _quick(context: RunContext) -> RunOutcome:
    return RunOutcome()


async def test_a_stream_holds_its_lease_until_its_worker_stops(db: Database) -> None:
    stream = LongLived()
    worker = Worker(db, registry_with(db, stream, "r"), fast_policy(lease_seconds=0.3))
    loop = asyncio.create_task(worker.run())
    await asyncio.wait_for(stream.started.get(), WAIT)
    await asyncio.sleep(0.7)  # more than twice the lease: only renewal keeps it
    assert claim_due(db, "thief", ["s"], now_ms(), 1, 300) == []
    assert get_task(db, "r").last_status == "ok"  # runs went on beside it
    await asyncio.wait_for(worker.stop(grace_seconds=WAIT), WAIT)
    await loop
    state = get_task(db, "s")
    assert (stream.ended, state.last_status, state.lease_owner) == (1, "ok", None)


async def test_a_stream_takes_no_run_slot(sqlite_db: Database) -> None:
    stream = LongLived()
    policy = fast_policy(max_concurrency=1)
    worker = Worker(sqlite_db, registry_with(sqlite_db, stream, "r"), policy)
    loop = asyncio.create_task(worker.run())
    await asyncio.wait_for(stream.started.get(), WAIT)
    await until(lambda: get_task(sqlite_db, "r").last_status == "ok", WAIT)
    await worker.stop(grace_seconds=WAIT)
    await loop


async def test_a_stream_whose_lease_was_taken_stops(sqlite_db: Database) -> None:
    """A worker that stalled past its lease finds the stream taken: it ends its copy."""
    stream = LongLived()
    worker = Worker(sqlite_db, registry_with(sqlite_db, stream), fast_policy(lease_seconds=0.3))
    loop = asyncio.create_task(worker.run())
    context = await asyncio.wait_for(stream.started.get(), WAIT)
    with sqlite_db.engine.begin() as conn:  # as if the lease expired and another took it
        conn.execute(
            update(collection_tasks).values(lease_owner="other", lease_expires_ts=now_ms() + 60_000)
        )
    assert context.stopping is not None
    await asyncio.wait_for(context.stopping.wait(), WAIT)
    await until(lambda: stream.ended > 0, WAIT)
    assert get_task(sqlite_db, "s").lease_owner == "other"  # its schedule left alone
    await worker.stop(grace_seconds=WAIT)
    await loop
