"""A worker process for the multi-process tests (`python -m tests.scheduling.worker_proc`).

It runs `tasks` trivial collectors `t000`, `t001`, … that each append a row (task,
slot, pid) to the `executions` table, which has no key on purpose: a slot run twice
shows up as two rows. With OMC_TEST_BLOCK set, collector `t000` instead announces
`BLOCKED` on stdout and never returns, so the test can SIGKILL the process mid-run.
SIGTERM stops the worker gracefully. The process prints `READY <owner>` once running.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from sqlalchemy import text

from ohmycoins.scheduling.policy import Policy
from ohmycoins.scheduling.registry import Collector, Registry, RunContext, RunOutcome
from ohmycoins.scheduling.schedule import Schedule
from ohmycoins.scheduling.worker import Worker
from ohmycoins.storage.database import Database
from ohmycoins.timeframes import now_ms
from tests.scheduling.processes import serve

EXECUTIONS_DDL = (
    "CREATE TABLE executions (task_id TEXT NOT NULL, due_ts BIGINT NOT NULL, "
    "pid INTEGER NOT NULL, finished_ts BIGINT NOT NULL)"
)
BLOCKING_TASK = "t000"


def task_name(index: int) -> str:
    return f"t{index:03d}"


def registry(tasks: int, interval: float) -> Registry:
    """The collectors every process of one test shares (sources spread over five)."""
    return Registry(
        Collector(
            name=task_name(i),
            ledger="exchange",
            source=f"fake{i % 5}",
            schedule=Schedule.every(interval),
            run=_record_execution,
        )
        for i in range(tasks)
    )


async def _record_execution(context: RunContext) -> RunOutcome:
    if context.task_id == BLOCKING_TASK and os.environ.get("OMC_TEST_BLOCK"):
        print("BLOCKED", context.task_id, flush=True)
        await asyncio.Event().wait()
    await asyncio.to_thread(_insert, context)
    return RunOutcome(records_written=1)


def _insert(context: RunContext) -> None:
    row = {"task": context.task_id, "due": context.due_ts, "pid": os.getpid(), "at": now_ms()}
    with context.db.engine.begin() as conn:
        conn.execute(text("INSERT INTO executions VALUES (:task, :due, :pid, :at)"), row)


async def _serve(args: argparse.Namespace) -> None:
    db = Database(args.url)
    policy = Policy(
        lease_seconds=args.lease,
        max_concurrency=args.concurrency,
        idle_cap_seconds=0.2,
        stop_timeout_seconds=5.0,
    )
    worker = Worker(db, registry(args.tasks, args.interval), policy)
    try:
        await serve(worker)
    finally:
        db.dispose()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=16)
    asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main(sys.argv[1:])
