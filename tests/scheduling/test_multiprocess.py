"""Worker processes sharing one PostgreSQL or MySQL/MariaDB: every task runs exactly
once per period, and a killed worker's task runs again after its lease expires, without
duplicates.

The workers are real processes (`tests/scheduling/worker_proc.py`) on the test's own
schema; their collectors append to an `executions` table without a key, so a slot
run twice would show as two rows."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from ohmycoins.records import CollectorRun
from ohmycoins.scheduling.tasks import get_task, sync_tasks
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import RECORD_TABLES, collection_tasks
from ohmycoins.timeframes import now_ms
from tests.scheduling import worker_proc

pytestmark = [pytest.mark.postgres, pytest.mark.mysql, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
STARTUP_S = 20.0
RUNS = RECORD_TABLES[CollectorRun]


class WorkerProcess:
    """One `worker_proc` subprocess, with its stdout read line by line in a thread."""

    def __init__(self, url: str, *args: str, block: bool = False) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if block:
            env["OMC_TEST_BLOCK"] = "1"
        command = [sys.executable, "-m", "tests.scheduling.worker_proc", url, *args]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.strip())

    def expect(self, prefix: str, timeout: float = STARTUP_S) -> str:
        """The next stdout line, which must start with `prefix`."""
        line = self.lines.get(timeout=timeout)
        assert line.startswith(prefix), line
        return line

    def stop(self) -> int:
        """SIGTERM, then the exit code of a graceful stop."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=15)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=5)


@pytest.fixture(params=["postgres", "mysql"])
def shared_db(request: pytest.FixtureRequest) -> Database:
    """A database that worker processes on many hosts can share."""
    database: Database = request.getfixturevalue(f"{request.param}_db")
    return database


@pytest.fixture
def spawn(shared_db: Database) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(*args: str, block: bool = False) -> WorkerProcess:
        worker = WorkerProcess(shared_db.url, *args, block=block)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.kill()


def _prepare(db: Database, tasks: int, interval: float) -> None:
    """Executions table, and the tasks stored but not due until `_release`."""
    with db.engine.begin() as conn:
        conn.execute(text(worker_proc.EXECUTIONS_DDL))
    sync_tasks(db, worker_proc.registry(tasks, interval), now_ms() + 3_600_000)
    with db.engine.begin() as conn:
        conn.execute(update(collection_tasks).values(next_run_ts=now_ms() + 3_600_000))


def _executions(db: Database) -> list[tuple[str, int, int]]:
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT task_id, due_ts, pid FROM executions")).all()
    return [(task, int(due), int(pid)) for task, due, pid in rows]


def _wait_for(condition: Callable[[], bool], timeout: float) -> None:
    """Poll the database (written by other processes: there is no event to await)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_three_workers_run_each_of_200_tasks_once_per_period(
    shared_db: Database, spawn: Callable[..., WorkerProcess]
) -> None:
    tasks, interval_ms, periods = 200, 1000, 3
    _prepare(shared_db, tasks, interval_ms / 1000)
    workers = [spawn("--tasks", str(tasks), "--interval", "1", "--lease", "2") for _ in range(3)]
    for worker in workers:
        worker.expect("READY")
    start = now_ms() + 200
    with shared_db.engine.begin() as conn:  # spread the first slots over one period
        for i in range(tasks):
            due = start + i * interval_ms // tasks
            conn.execute(
                update(collection_tasks)
                .where(collection_tasks.c.task_id == worker_proc.task_name(i))
                .values(next_run_ts=due)
            )
    horizon = start + periods * interval_ms

    def all_periods_ran() -> bool:
        return sum(1 for _, due, _ in _executions(shared_db) if due < horizon) >= tasks * periods

    # a bound on liveness, not a speed check: a loaded 2-core machine needs the slack
    _wait_for(all_periods_ran, timeout=periods * interval_ms / 1000 + 60)
    assert [worker.stop() for worker in workers] == [0, 0, 0]

    executions = _executions(shared_db)
    per_slot = Counter((task, due) for task, due, _ in executions)
    assert max(per_slot.values()) == 1, "a slot ran twice"
    for i in range(tasks):
        first = start + i * interval_ms // tasks
        slots = sorted(due for task, due, _ in executions if task == worker_proc.task_name(i))
        assert slots[:periods] == [first + k * interval_ms for k in range(periods)]
    assert len({pid for _, _, pid in executions}) == 3, "every worker took a share"
    with shared_db.engine.connect() as conn:
        runs = conn.execute(select(RUNS.c.collector, RUNS.c.status)).all()
    assert len(runs) == len(executions) and {status for _, status in runs} == {"ok"}
    with shared_db.engine.connect() as conn:
        leased = conn.execute(
            select(collection_tasks.c.task_id).where(collection_tasks.c.lease_owner.isnot(None))
        ).all()
    assert leased == [], "a stopped worker releases its leases"


def test_a_killed_workers_task_runs_again_after_its_lease(
    shared_db: Database, spawn: Callable[..., WorkerProcess]
) -> None:
    lease_ms = 1000
    _prepare(shared_db, 1, 3600)
    args = ("--tasks", "1", "--interval", "3600", "--lease", str(lease_ms / 1000))
    victim = spawn(*args, block=True)
    victim_owner = victim.expect("READY").split()[1]
    due = now_ms()
    with shared_db.engine.begin() as conn:
        conn.execute(update(collection_tasks).values(next_run_ts=due))
    victim.expect("BLOCKED", timeout=10)
    victim.kill()
    killed_at = now_ms()
    state = get_task(shared_db, worker_proc.BLOCKING_TASK)
    assert state.lease_owner == victim_owner and (state.lease_expires_ts or 0) > killed_at - 50

    rescuer = spawn(*args)
    rescuer.expect("READY")
    _wait_for(lambda: len(_executions(shared_db)) > 0, timeout=15)
    assert rescuer.stop() == 0

    ((task, slot, pid),) = _executions(shared_db)
    assert (task, slot, pid) == (worker_proc.BLOCKING_TASK, due, rescuer.process.pid)
    with shared_db.engine.connect() as conn:
        runs = conn.execute(select(RUNS.c.run_id, RUNS.c.started_ts, RUNS.c.status)).all()
    assert len(runs) == 1 and runs[0].status == "ok"
    assert runs[0].started_ts >= (state.lease_expires_ts or 0)
    assert get_task(shared_db, task).next_run_ts == due + 3_600_000
