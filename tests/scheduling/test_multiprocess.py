"""Worker processes sharing one PostgreSQL or MySQL/MariaDB: every task runs exactly
once per period, and a killed worker's task runs again after its lease expires, without
duplicates.

The workers are real processes (`tests/scheduling/worker_proc.py`) on the test's own
schema; their collectors append to an `executions` table without a key, so a slot
run twice would show as two rows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select, text, update

from ohmycoins.records import CollectorRun
from ohmycoins.scheduling.tasks import get_task, sync_tasks
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import RECORD_TABLES, collection_tasks
from ohmycoins.timeframes import now_ms
from tests.scheduling import worker_proc
from tests.scheduling.processes import WorkerProcess, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.mysql, pytest.mark.slow]

RUNS = RECORD_TABLES[CollectorRun]


@pytest.fixture(params=["postgres", "mysql"])
def shared_db(request: pytest.FixtureRequest) -> Database:
    """A database that worker processes on many hosts can share."""
    database: Database = request.getfixturevalue(f"{request.param}_db")
    return database


@pytest.fixture
def spawn(shared_db: Database) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(*args: str, block: bool = False) -> WorkerProcess:
        env = {"OMC_TEST_BLOCK": "1"} if block else None
        worker = WorkerProcess("tests.scheduling.worker_proc", shared_db.url, *args, env=env)
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


def test_three_workers_run_each_of_100_tasks_once_per_period(
    shared_db: Database, spawn: Callable[..., WorkerProcess]
) -> None:
    tasks, interval_ms, periods = 100, 1000, 3
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
    wait_for(all_periods_ran, timeout=periods * interval_ms / 1000 + 60)
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
    wait_for(lambda: len(_executions(shared_db)) > 0, timeout=15)
    assert rescuer.stop() == 0

    ((task, slot, pid),) = _executions(shared_db)
    assert (task, slot, pid) == (worker_proc.BLOCKING_TASK, due, rescuer.process.pid)
    with shared_db.engine.connect() as conn:
        runs = conn.execute(select(RUNS.c.run_id, RUNS.c.started_ts, RUNS.c.status)).all()
    assert len(runs) == 1 and runs[0].status == "ok"
    assert runs[0].started_ts >= (state.lease_expires_ts or 0)
    assert get_task(shared_db, task).next_run_ts == due + 3_600_000
