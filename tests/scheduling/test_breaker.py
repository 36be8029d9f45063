"""The circuit breaker per source, on a fake clock: opens after N failed runs, lets one
probe through after the cooldown, closes on success, and is visible in the schedule."""

from __future__ import annotations

from ohmycoins.errors import BannedError, TemporarySourceError
from ohmycoins.scheduling.breaker import CLOSED, HALF_OPEN, OPEN, Circuit, read_circuits, take_probe
from ohmycoins.scheduling.leases import read_connection, write_transaction
from ohmycoins.scheduling.registry import Registry, RunContext, RunOutcome
from ohmycoins.scheduling.tasks import get_task, list_tasks
from ohmycoins.storage.database import Database
from tests.scheduling.support import (
    Calls,
    FakeClock,
    collector,
    fake_worker,
    fast_policy,
    scheduled,
    scripted,
)

COOLDOWN_MS = 60_000


def _down() -> TemporarySourceError:
    return TemporarySourceError("fake", "connection refused")


def _circuits(db: Database, registry: Registry) -> dict[str, tuple[str, int]]:
    """Each task's view of its source's circuit, as health and `collectors list` show it."""
    return {s.task_id: (s.circuit_state, s.consecutive_failures) for s in list_tasks(db, registry)}


class FlakySource:
    """A source that is down until told otherwise; records which task called when, and
    the circuit state its task saw while it ran."""

    def __init__(self, db: Database, clock: FakeClock) -> None:
        self.db, self.clock, self.up = db, clock, False
        self.calls: list[tuple[str, int, str]] = []

    async def run(self, context: RunContext) -> RunOutcome:
        with read_connection(self.db) as conn:
            state = read_circuits(conn).get(context.source, Circuit()).state
        self.calls.append((context.task_id, self.clock(), state))
        if not self.up:
            raise _down()
        return RunOutcome()

    def calls_at(self, at: int) -> list[tuple[str, str]]:
        return [(task, state) for task, when, state in self.calls if when == at]


async def test_opens_after_n_failures_probes_after_cooldown_and_closes(db: Database) -> None:
    clock = FakeClock()
    source = FlakySource(db, clock)
    registry = scheduled(
        db, clock, collector("a", source.run, every=10), collector("b", source.run, every=10)
    )
    worker = fake_worker(db, registry, clock, fast_policy(max_attempts=1, max_concurrency=2))
    start = clock()
    assert await worker.run_once() == 2
    assert _circuits(db, registry) == {"a": (CLOSED, 2), "b": (CLOSED, 2)}
    clock.advance(10)
    await worker.run_once()  # failures 3 and 4: open
    assert _circuits(db, registry) == {"a": (OPEN, 4), "b": (OPEN, 4)}
    a, b = list_tasks(db, registry)
    assert a.circuit_opened_ts == b.circuit_opened_ts == start + 10_000
    assert a.next_run_ts == b.next_run_ts == start + 10_000 + COOLDOWN_MS

    clock.advance(59)
    assert await worker.run_once() == 0  # nothing of the source runs during the cooldown
    clock.advance(1)
    assert await worker.run_once() == 2  # both due: one probes, the other waits
    (probe,) = source.calls_at(clock())
    assert probe[1] == HALF_OPEN
    # the probe failed: open again
    assert _circuits(db, registry) == {"a": (OPEN, 5), "b": (OPEN, 5)}

    source.up = True
    clock.now = start + 10_000 + 2 * COOLDOWN_MS
    await worker.run_once()
    (probe,) = source.calls_at(clock())
    assert _circuits(db, registry) == {"a": (CLOSED, 0), "b": (CLOSED, 0)}
    assert get_task(db, "a", registry).circuit_opened_ts is None
    clock.advance(1)
    await worker.run_once()  # the task that waited for the probe runs now
    waited = "b" if probe[0] == "a" else "a"
    assert (waited, CLOSED) in source.calls_at(clock())


async def test_a_ban_opens_the_circuit_at_once_for_its_retry_after(db: Database) -> None:
    clock, calls = FakeClock(), Calls()
    banned = BannedError("fake", "418 I'm a teapot", retry_after=300.0)
    registry = scheduled(db, clock, collector("a", scripted(calls, banned), every=10))
    await fake_worker(db, registry, clock, fast_policy()).run_once()
    state = get_task(db, "a", registry)
    assert (state.circuit_state, state.next_run_ts) == (OPEN, clock() + 300_000)


async def test_other_sources_are_not_affected(db: Database) -> None:
    clock, calls = FakeClock(), Calls()
    registry = scheduled(
        db,
        clock,
        collector("a", scripted(calls, *[_down()] * 3), every=10, source="down"),
        collector("b", scripted(calls), every=10, source="up"),
    )
    worker = fake_worker(db, registry, clock, fast_policy(max_attempts=1))
    for _ in range(3):
        await worker.run_once()
        clock.advance(10)
    assert _circuits(db, registry) == {"a": (OPEN, 3), "b": (CLOSED, 0)}


def test_only_one_worker_wins_the_probe(db: Database) -> None:
    clock, calls = FakeClock(), Calls()
    a, b = collector("a", scripted(calls)), collector("b", scripted(calls))
    registry = scheduled(db, clock, a, b)
    with write_transaction(db) as conn:
        conn.exec_driver_sql("INSERT INTO source_circuits VALUES ('fake', 'open', 0, 5, 5)")
    assert take_probe(db, "fake", OPEN, 5, clock())
    assert not take_probe(db, "fake", OPEN, 5, clock())
    assert _circuits(db, registry) == {"a": (HALF_OPEN, 0), "b": (HALF_OPEN, 0)}
    assert take_probe(db, "fake", HALF_OPEN, clock(), clock() + 1)  # a stale probe's takeover
