"""One run end to end on a fake clock: retries for temporary errors only, Retry-After,
the run record, cursors, and adaptive intervals."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from sqlalchemy import select

from ohmycoins.errors import (
    BannedError,
    PayloadError,
    RateLimitedError,
    SourceError,
    StorageError,
    TemporarySourceError,
)
from ohmycoins.quality.scores import QualityScore
from ohmycoins.records import CollectorRun
from ohmycoins.scheduling.registry import RunOutcome
from ohmycoins.scheduling.tasks import get_task
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import RECORD_TABLES
from tests.scheduling.support import (
    Calls,
    FakeClock,
    collector,
    fake_worker,
    fast_policy,
    scheduled,
    scripted,
    step_until,
)

RUNS = RECORD_TABLES[CollectorRun]


def _runs(db: Database) -> list[CollectorRun]:
    with db.engine.connect() as conn:
        rows = conn.execute(select(RUNS).order_by(RUNS.c.started_ts)).all()
    return [CollectorRun(*row) for row in rows]


def _temporary() -> TemporarySourceError:
    return TemporarySourceError("fake", "502 from upstream")


async def test_temporary_errors_are_retried_with_growing_backoff(db: Database) -> None:
    clock, calls = FakeClock(), Calls()
    run = scripted(calls, _temporary(), _temporary(), RunOutcome(records_written=3))
    registry = scheduled(db, clock, collector("a", run))
    worker = fake_worker(db, registry, clock, fast_policy(max_attempts=3))
    assert await worker.run_once() == 1
    assert [c.attempt for c in calls.contexts] == [1, 2, 3]
    first, second = clock.slept
    assert 1 <= first <= 2 and 2 <= second <= 3  # 1 s, then 2 s, each plus up to 1 s jitter
    (record,) = _runs(db)
    assert (record.status, record.records_written, record.error) == ("ok", 3, None)
    assert worker.stats.ok == 1


async def test_a_rate_limit_waits_its_retry_after(db: Database) -> None:
    clock, calls = FakeClock(), Calls()
    limited = RateLimitedError("fake", "429", retry_after=7.0)
    registry = scheduled(db, clock, collector("a", scripted(calls, limited)))
    await fake_worker(db, registry, clock, fast_policy()).run_once()
    assert clock.slept == [7.0] and len(calls.contexts) == 2


async def test_a_rate_limit_longer_than_allowed_ends_the_run_and_holds_the_task(
    db: Database,
) -> None:
    clock, calls = FakeClock(), Calls()
    limited = RateLimitedError("fake", "429", retry_after=600.0)
    registry = scheduled(db, clock, collector("a", scripted(calls, limited), every=60))
    start = clock()
    await fake_worker(db, registry, clock, fast_policy()).run_once()
    assert clock.slept == [] and len(calls.contexts) == 1
    state = get_task(db, "a")
    assert state.last_status == "error" and state.next_run_ts == start + 600_000


@pytest.mark.parametrize(
    "error",
    [
        PayloadError("fake", "not JSON", payload="<html>"),
        SourceError("fake", "404 no such coin"),
        BannedError("fake", "418", retry_after=None),
    ],
    ids=["payload", "source", "banned"],
)
async def test_permanent_errors_are_not_retried(db: Database, error: SourceError) -> None:
    clock, calls = FakeClock(), Calls()
    registry = scheduled(db, clock, collector("a", scripted(calls, error)))
    worker = fake_worker(db, registry, clock, fast_policy(max_attempts=5))
    await worker.run_once()
    assert len(calls.contexts) == 1 and clock.slept == []
    (record,) = _runs(db)
    assert record.status == "error" and record.error == str(error)
    assert get_task(db, "a").last_error == str(error)


async def test_temporary_errors_give_up_after_max_attempts(db: Database) -> None:
    clock, calls = FakeClock(), Calls()
    run = scripted(calls, default=RunOutcome())
    failing = scripted(calls, *[_temporary()] * 10)
    registry = scheduled(db, clock, collector("a", failing), collector("b", run, source="other"))
    await fake_worker(db, registry, clock, fast_policy(max_attempts=3)).run_once()
    assert [c.collector for c in calls.contexts].count("a") == 3
    state = get_task(db, "a", registry)
    assert state.last_status == "error" and state.consecutive_failures == 1


async def test_errors_that_are_not_the_sources_are_recorded_not_counted(db: Database) -> None:
    clock, calls = FakeClock(), Calls()
    registry = scheduled(
        db,
        clock,
        collector("storage", scripted(calls, StorageError("disk full"))),
        collector("bug", scripted(calls, ZeroDivisionError("oops"))),
    )
    worker = fake_worker(db, registry, clock, fast_policy())
    await worker.run_once()
    assert len(calls.contexts) == 2
    errors = {r.collector: r.error for r in _runs(db)}
    assert errors == {"storage": "disk full", "bug": "ZeroDivisionError: oops"}
    assert get_task(db, "bug", registry).consecutive_failures == 0
    assert worker.stats.error == 2


async def test_the_run_record_carries_quality_cursor_and_partial_status(db: Database) -> None:
    clock, calls = FakeClock(), Calls()
    score = QualityScore(Decimal("1"), Decimal("0.5"), Decimal("1"))
    outcome = RunOutcome(3, 1, score, cursor="next-page", problem="1 page failed")
    registry = scheduled(db, clock, collector("a", scripted(calls, outcome), every=60))
    due = clock()
    clock.advance(2)
    await fake_worker(db, registry, clock, fast_policy()).run_once()
    (record,) = _runs(db)
    assert record.run_id == f"a@{due}"
    assert (record.status, record.records_written, record.records_quarantined) == ("partial", 3, 1)
    assert (record.completeness, record.quality, record.error) == (
        Decimal("0.5"),
        Decimal("0.8333"),
        "1 page failed",
    )
    state = get_task(db, "a")
    assert (state.cursor, state.last_status, state.lease_owner) == ("next-page", "partial", None)
    assert state.next_run_ts == due + 60_000
    clock.advance(60)
    await fake_worker(db, registry, clock, fast_policy()).run_once()
    assert calls.contexts[-1].cursor == "next-page"


async def test_unchanged_data_slows_the_collector_and_a_change_restores_it(db: Database) -> None:
    clock, calls = FakeClock(), Calls()
    same = RunOutcome(changed=False)
    steps = [same] * 5 + [RunOutcome(changed=True)] + [same]
    registry = scheduled(db, clock, collector("a", scripted(calls, *steps), every=10))
    worker = fake_worker(db, registry, clock, fast_policy(max_slowdown=8))
    start = clock()
    await step_until(worker, clock, start + 400_000)
    gaps = [(b - a) // 1000 for a, b in itertools.pairwise(calls.due)]
    assert gaps[:7] == [20, 40, 80, 80, 80, 10, 20]
    assert get_task(db, "a").interval_seconds in {10.0, 20.0, 40.0}


async def test_a_cron_collector_runs_at_its_cron_times(db: Database) -> None:
    clock, calls = FakeClock(), Calls()
    registry = scheduled(db, clock, collector("c", scripted(calls), cron="*/5 * * * *"))
    start = clock()
    await step_until(fake_worker(db, registry, clock, fast_policy()), clock, start + 1_800_001)
    assert calls.due == [start + k * 300_000 for k in range(1, 7)]


async def test_a_run_waiting_for_its_input_looks_again_sooner_than_its_interval(
    db: Database,
) -> None:
    clock, calls = FakeClock(), Calls()
    waiting = RunOutcome(problem="no input yet", retry_in_seconds=60)
    registry = scheduled(db, clock, collector("w", scripted(calls, waiting), every=6 * 3600))
    worker = fake_worker(db, registry, clock, fast_policy())
    start = clock()
    await step_until(worker, clock, start + 6 * 3_600_000 + 120_000)
    gaps = [(b - a) // 1000 for a, b in itertools.pairwise(calls.due)]
    assert gaps == [60, 6 * 3600]
    assert get_task(db, "w").last_status == "ok"
