"""The persistent schedule on both backends: sync keeps state, claims are exclusive and
ordered, leases expire, and the operations the CLI offers."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, update

from ohmycoins.scheduling.leases import (
    claim_due,
    defer_task,
    next_claimable_ts,
    release_leases,
    renew_leases,
)
from ohmycoins.scheduling.registry import Registry
from ohmycoins.scheduling.tasks import (
    UnknownTaskError,
    get_task,
    list_tasks,
    pause,
    resume,
    sync_tasks,
    trigger,
)
from ohmycoins.settings import CollectorOverride
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import collection_tasks, source_circuits
from tests.scheduling.support import T0, Calls, collector, scripted

LEASE = 30_000


def _registry(**priorities: int) -> Registry:
    calls = Calls()
    return Registry(
        collector(name, scripted(calls), every=60, priority=priority)
        for name, priority in priorities.items()
    )


def test_sync_inserts_missing_tasks_due_now(db: Database) -> None:
    changes = sync_tasks(db, _registry(a=5, b=5), T0)
    assert changes.added == ["a", "b"] and changes.changed == []
    states = list_tasks(db)
    assert [(s.task_id, s.next_run_ts, s.interval_seconds) for s in states] == [
        ("a", T0, 60.0),
        ("b", T0, 60.0),
    ]
    assert sync_tasks(db, _registry(a=5, b=5), T0 + 1).added == []


def test_sync_applies_a_new_schedule_but_keeps_cursor_failures_and_pause(db: Database) -> None:
    registry = _registry(a=5)
    sync_tasks(db, registry, T0)
    with db.engine.begin() as conn:
        conn.execute(
            update(collection_tasks).values(cursor="c-42", paused=True, next_run_ts=T0 + 3_600_000)
        )
        failing = {"source": "fake", "state": "closed", "consecutive_failures": 2}
        conn.execute(insert(source_circuits).values(**failing, updated_ts=T0))
    faster = registry.configured({"a": CollectorOverride(interval_seconds=10, priority=7)})
    assert sync_tasks(db, faster, T0).changed == ["a"]
    state = get_task(db, "a", faster)
    assert (state.interval_seconds, state.priority, state.next_run_ts) == (10.0, 7, T0 + 10_000)
    assert (state.cursor, state.consecutive_failures, state.paused) == ("c-42", 2, True)
    cron = registry.configured({"a": CollectorOverride(cron="0 * * * *")})
    sync_tasks(db, cron, T0)
    state = get_task(db, "a")
    assert (state.cron, state.interval_seconds, state.cursor) == ("0 * * * *", None, "c-42")


def test_sync_keeps_an_adaptive_slowdown_of_the_same_base(db: Database) -> None:
    sync_tasks(db, _registry(a=5), T0)
    with db.engine.begin() as conn:
        conn.execute(update(collection_tasks).values(interval_seconds=240))
    assert sync_tasks(db, _registry(a=5), T0).changed == []
    assert get_task(db, "a").interval_seconds == 240.0


def test_claims_highest_priority_then_oldest_due(db: Database) -> None:
    sync_tasks(db, _registry(low=1, high=9, mid_old=5, mid_new=5), T0)
    with db.engine.begin() as conn:
        conn.execute(
            update(collection_tasks)
            .where(collection_tasks.c.task_id == "mid_old")
            .values(next_run_ts=T0 - 5_000)
        )
    names = ["low", "high", "mid_old", "mid_new"]
    claimed = claim_due(db, "w1", names, T0, 3, LEASE)
    assert [t.task_id for t in claimed] == ["high", "mid_old", "mid_new"]
    assert claimed[1].due_ts == T0 - 5_000
    assert [t.task_id for t in claim_due(db, "w2", names, T0, 10, LEASE)] == ["low"]


def test_a_leased_task_is_nobody_elses_until_the_lease_expires(db: Database) -> None:
    sync_tasks(db, _registry(a=5), T0)
    assert [t.task_id for t in claim_due(db, "w1", ["a"], T0, 1, LEASE)] == ["a"]
    assert claim_due(db, "w2", ["a"], T0 + LEASE - 1, 1, LEASE) == []
    assert next_claimable_ts(db, ["a"]) == T0 + LEASE
    assert renew_leases(db, "w1", ["a"], T0 + 20_000, LEASE) == {"a"}
    assert claim_due(db, "w2", ["a"], T0 + LEASE, 1, LEASE) == []
    taken = claim_due(db, "w2", ["a"], T0 + 20_000 + LEASE, 1, LEASE)
    assert [t.task_id for t in taken] == ["a"]
    assert renew_leases(db, "w1", ["a"], T0 + 60_000, LEASE) == set()
    assert get_task(db, "a").lease_owner == "w2"


def test_only_due_unpaused_tasks_of_known_collectors_are_claimed(db: Database) -> None:
    sync_tasks(db, _registry(a=5, b=5, c=5), T0)
    pause(db, ["b"], T0)
    defer_task(db, "c", "nobody", T0 + 1, T0)  # not the owner: no change
    claimed = claim_due(db, "w1", ["a", "b"], T0, 10, LEASE)
    assert [t.task_id for t in claimed] == ["a"]
    assert get_task(db, "b").paused and get_task(db, "c").next_run_ts == T0


def test_release_and_defer_give_tasks_back(db: Database) -> None:
    sync_tasks(db, _registry(a=5, b=5), T0)
    claim_due(db, "w1", ["a", "b"], T0, 10, LEASE)
    defer_task(db, "a", "w1", T0 + 90_000, T0)
    assert release_leases(db, "w1", T0) == 1
    a, b = list_tasks(db)
    assert (a.next_run_ts, a.lease_owner) == (T0 + 90_000, None)
    assert (b.next_run_ts, b.lease_owner) == (T0, None)


def test_trigger_pause_resume(db: Database) -> None:
    registry = _registry(a=5)
    sync_tasks(db, registry, T0)
    with db.engine.begin() as conn:
        conn.execute(update(collection_tasks).values(next_run_ts=T0 + 3_600_000))
    trigger(db, ["a"], T0 + 5)
    assert get_task(db, "a", registry).next_run_ts == T0 + 5
    pause(db, ["a"], T0 + 6)
    state = get_task(db, "a", registry)
    assert state.paused and state.source == "fake" and state.enabled
    assert claim_due(db, "w", ["a"], T0 + 10, 1, LEASE) == []
    resume(db, ["a"], T0 + 7)
    assert [t.task_id for t in claim_due(db, "w", ["a"], T0 + 10, 1, LEASE)] == ["a"]
    assert get_task(db, "a").running(T0 + 11)


def test_operations_on_an_unknown_task_change_nothing(db: Database) -> None:
    sync_tasks(db, _registry(a=5), T0)
    with pytest.raises(UnknownTaskError, match="nope"):
        pause(db, ["a", "nope"], T0)
    assert not get_task(db, "a").paused
    with pytest.raises(UnknownTaskError):
        get_task(db, "nope")
