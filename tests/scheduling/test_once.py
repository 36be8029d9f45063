"""`omc collectors run`: named collectors run once, now, through the worker and the
runner, and each is reported: its recorded run, or why it did not run."""

from __future__ import annotations

import dataclasses

import pytest

from ohmycoins.errors import PayloadError, UnknownTaskError
from ohmycoins.scheduling.leases import claim_due
from ohmycoins.scheduling.once import NOT_RUN, run_named
from ohmycoins.scheduling.registry import Registry, RunOutcome
from ohmycoins.scheduling.tasks import get_task, pause, sync_tasks
from ohmycoins.storage.database import Database
from ohmycoins.storage.reads.market import latest_runs
from tests.scheduling.support import Calls, FakeClock, collector, fast_policy, scripted


async def test_named_collectors_run_now_and_are_recorded(sqlite_db: Database) -> None:
    clock = FakeClock()
    stored, broken, other = Calls(), Calls(), Calls()
    registry = Registry(
        [
            collector("stored", scripted(stored, RunOutcome(3, 1)), every=3600),
            collector("broken", scripted(broken, PayloadError("fake", "garbage", payload="x"))),
            collector("other", scripted(other)),
        ]
    )
    results = await run_named(sqlite_db, registry, fast_policy(), ["stored", "broken"], clock=clock)
    assert [(r.collector, r.status, r.failed) for r in results] == [
        ("stored", "ok", False),
        ("broken", "error", True),
    ]
    run = results[0].run
    assert run is not None and (run.records_written, run.records_quarantined) == (3, 1)
    assert results[1].reason is not None and "garbage" in results[1].reason
    assert stored.due == [clock()] and other.contexts == []
    assert set(latest_runs(sqlite_db, ["stored", "broken", "other"])) == {"stored", "broken"}
    after = get_task(sqlite_db, "stored")
    assert after.next_run_ts == clock() + 3_600_000 and after.lease_owner is None


async def test_what_cannot_run_now_says_why(sqlite_db: Database) -> None:
    clock = FakeClock()
    calls = Calls()
    keyless = dataclasses.replace(
        collector("keyless", scripted(calls)), enabled=False, disabled_reason="no API key"
    )
    registry = Registry(
        [
            keyless,
            collector("paused", scripted(calls)),
            collector("busy", scripted(calls)),
            collector("fine", scripted(calls)),
        ]
    )
    sync_tasks(sqlite_db, registry, clock())
    pause(sqlite_db, ["paused"], clock())
    claim_due(sqlite_db, "elsewhere", ["busy"], clock(), 1, 30_000)
    names = ["keyless", "paused", "busy", "fine", "fine"]
    results = await run_named(sqlite_db, registry, fast_policy(), names, clock=clock)
    assert [(r.collector, r.status) for r in results] == [
        ("keyless", NOT_RUN),
        ("paused", NOT_RUN),
        ("busy", NOT_RUN),
        ("fine", "ok"),
    ]
    assert [r.reason for r in results[:3]] == [
        "disabled: no API key",
        "paused (resume it first)",
        "running in elsewhere",
    ]
    assert all(r.failed for r in results[:3]) and not results[3].failed
    assert len(calls.contexts) == 1


async def test_an_unknown_name_runs_nothing_and_offers_close_names(sqlite_db: Database) -> None:
    calls = Calls()
    registry = Registry([collector("binance_tickers", scripted(calls))])
    with pytest.raises(UnknownTaskError, match="did you mean binance_tickers"):
        await run_named(sqlite_db, registry, fast_policy(), ["binance_tickers", "binanse_tickers"])
    assert calls.contexts == []
