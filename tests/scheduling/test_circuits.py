"""The breaker's one row per source (`source_circuits`): shared by every worker, written
only when the circuit changes, and migrated in and out with the schedule intact; and
workers claim by exclusion, giving back tasks their registry does not run."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import select

from ohmycoins.errors import TemporarySourceError
from ohmycoins.scheduling.breaker import CLOSED, OPEN, Circuit, Verdict, settle
from ohmycoins.scheduling.leases import claim_due, next_claimable_ts, write_transaction
from ohmycoins.scheduling.registry import Registry, RunOutcome
from ohmycoins.scheduling.tasks import get_task, list_tasks, sync_tasks
from ohmycoins.scheduling.worker import Worker
from ohmycoins.storage.database import MIGRATIONS, Database
from ohmycoins.storage.tables import collection_tasks, source_circuits
from tests.scheduling.support import Calls, FakeClock, collector, fake_worker, fast_policy, scripted


def _down() -> TemporarySourceError:
    return TemporarySourceError("fake", "connection refused")


def _circuit_rows(db: Database) -> list[tuple[str, str, int, int]]:
    columns = source_circuits.c
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(columns.source, columns.state, columns.consecutive_failures, columns.updated_ts)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_a_clean_success_touches_no_circuit_row(db: Database) -> None:
    clock, calls = FakeClock(), Calls()
    registry = Registry([collector("a", scripted(calls), every=10)])
    sync_tasks(db, registry, clock())
    worker = fake_worker(db, registry, clock, fast_policy())
    assert await worker.run_once() == 1
    assert _circuit_rows(db) == []  # a source that never failed has no row at all

    with db.engine.begin() as conn:
        clean = {"source": "fake", "state": CLOSED, "consecutive_failures": 0}
        conn.execute(source_circuits.insert().values(**clean, updated_ts=1))
    clock.advance(10)
    assert await worker.run_once() == 1
    assert _circuit_rows(db) == [("fake", CLOSED, 0, 1)]  # not rewritten: updated_ts kept


async def test_failures_count_once_per_source_and_a_success_clears_them(db: Database) -> None:
    clock, calls = FakeClock(), Calls()
    flaky = scripted(calls, _down(), RunOutcome())
    registry = Registry(
        [collector(name, flaky, every=10) for name in ("a", "b")]
        + [collector("c", scripted(calls), every=10, source="other")]
    )
    sync_tasks(db, registry, clock())
    worker = fake_worker(db, registry, clock, fast_policy(max_attempts=1, max_concurrency=1))
    before = _task_rows(db)
    assert await worker.run_once() == 3  # fake: one failure, one success; other: success
    assert _circuit_rows(db) == [("fake", CLOSED, 0, clock())]  # "other" never got a row
    after = _task_rows(db)
    assert {k: v["next_run_ts"] for k, v in after.items()} == {
        k: v["next_run_ts"] + 10_000 for k, v in before.items()
    }


def _task_rows(db: Database) -> dict[str, dict[str, Any]]:
    with db.engine.connect() as conn:
        rows = conn.execute(select(collection_tasks)).mappings().all()
    return {row["task_id"]: dict(row) for row in rows}


async def test_workers_share_one_breaker_per_source(db: Database) -> None:
    """Two workers running different collectors of one source count into the same row:
    the second worker's failure opens the circuit the first one started counting, and
    the first then leaves the source alone."""
    clock, calls = FakeClock(), Calls()
    down = scripted(calls, *[_down()] * 10)
    one = Registry([collector(name, down, every=10) for name in ("a", "b")])
    two = Registry([collector("c", down, every=10)])
    sync_tasks(db, one, clock())
    sync_tasks(db, two, clock())
    policy = fast_policy(max_attempts=1)  # threshold 3
    first = fake_worker(db, one, clock, policy)
    second = Worker(db, two, policy, owner="second", clock=clock, sleep=clock.sleep)
    assert await first.run_once() == 2
    assert _circuit_rows(db) == [("fake", CLOSED, 2, clock())]
    assert await second.run_once() == 1  # failure 3 opens the source
    assert [row[:3] for row in _circuit_rows(db)] == [("fake", OPEN, 3)]
    states = {s.task_id: (s.circuit_state, s.consecutive_failures) for s in list_tasks(db, one)}
    assert states == {"a": (OPEN, 3), "b": (OPEN, 3), "c": (CLOSED, 0)}  # c: not in `one`
    assert get_task(db, "c", two).circuit_state == OPEN
    opened = clock()
    clock.advance(10)
    assert await second.run_once() == 0  # its tasks were pushed past the cooldown
    await first.run_once()  # a and b: claimed with the open circuit, and deferred
    assert len(calls.contexts) == 3
    assert get_task(db, "a").next_run_ts == get_task(db, "b").next_run_ts == opened + 60_000


async def test_a_worker_gives_back_tasks_it_does_not_run(db: Database) -> None:
    clock, calls = FakeClock(), Calls()
    ours = collector("a", scripted(calls), every=10)
    theirs = collector("x", scripted(calls), every=10, source="elsewhere")
    registry = Registry([ours])
    worker = fake_worker(db, registry, clock, fast_policy())
    sync_tasks(db, registry, clock())
    assert await worker.run_once() == 1  # the worker learns what is stored: only "a"
    sync_tasks(db, Registry([theirs]), clock())  # another process adds "x", due now
    clock.advance(10)
    assert await worker.run_once() == 1
    assert [c.collector for c in calls.contexts] == ["a", "a"]
    x = get_task(db, "x")
    assert (x.lease_owner, x.next_run_ts, x.last_run_ts) == (None, clock() - 10_000, None)
    clock.advance(10)
    assert await worker.run_once() == 1  # "x" is excluded from the claim now
    assert get_task(db, "x").last_run_ts is None


def test_migration_moves_the_breaker_out_of_the_task_rows(db: Database) -> None:
    """Down to 0001 and up again on a database with tasks: the schedule survives, the
    per-task circuit columns come and go, and the circuits table with them."""
    clock = FakeClock()
    registry = Registry([collector("a", scripted(Calls()), every=10)])
    sync_tasks(db, registry, clock())
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
    with db.engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT task_id, circuit_state, consecutive_failures FROM collection_tasks"
        ).one()
    assert tuple(row) == ("a", "closed", 0)
    assert db.upgrade()[:2] == ["0002", "0003"]
    assert get_task(db, "a", registry).next_run_ts == clock()
    assert _circuit_rows(db) == []


def test_a_claim_takes_any_number_of_names_as_one_parameter(db: Database) -> None:
    """40,000 names: more than SQLite's bind-parameter limit when each was its own."""
    clock, calls = FakeClock(), Calls()
    registry = Registry([collector(name, scripted(calls)) for name in ("a", "b", "c")])
    sync_tasks(db, registry, clock())
    names = [f"n{i:05d}" for i in range(40_000)] + ["b"]
    claimed = claim_due(db, "w", names, clock(), 10, 30_000)
    assert [t.task_id for t in claimed] == ["b"]
    others = claim_due(db, "w", None, clock(), 10, 30_000, excluding=names)
    assert [t.task_id for t in others] == ["a", "c"]
    assert next_claimable_ts(db, names) == clock() + 30_000  # b is leased


def test_a_failure_on_an_open_circuit_keeps_its_cooldown(db: Database) -> None:
    """A run that started before a ban opened its source and fails afterwards: below the
    threshold it does not reopen the circuit, and its task waits out the same cooldown."""
    policy = fast_policy().breaker  # threshold 3, cooldown 60 s
    with write_transaction(db) as conn:
        banned = {"source": "fake", "state": OPEN, "consecutive_failures": 1, "opened_ts": 5}
        conn.execute(source_circuits.insert().values(**banned, updated_ts=5))
        circuit = settle(conn, "fake", ["a"], Verdict.FAILURE, 1_000, policy)
    assert circuit == Circuit(OPEN, 2, 5, 5 + 60_000)
    assert _circuit_rows(db) == [("fake", OPEN, 2, 1_000)]
