"""Monthly quotas: usage is counted atomically and never passes the quota, and a schedule
the quota cannot afford is stretched lowest priority first."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import insert

from ohmycoins.scheduling.policy import policy_from_settings
from ohmycoins.scheduling.quota import (
    Demand,
    month_end_ms,
    month_of,
    plan_stretch,
    reserve_calls,
    usage_of,
)
from ohmycoins.scheduling.tasks import get_task
from ohmycoins.settings import load_settings
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import source_usage
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


def _ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def test_months_are_utc_calendar_months() -> None:
    assert month_of(_ms(2024, 1, 31, 23, 59, 59)) == "2024-01"
    assert month_end_ms(_ms(2024, 1, 31, 23)) == _ms(2024, 2, 1)
    assert month_end_ms(_ms(2024, 12, 5)) == _ms(2025, 1, 1)


demands = st.lists(
    st.builds(
        Demand,
        task_id=st.uuids().map(str),
        priority=st.integers(0, 4),
        calls_per_second=st.floats(0.001, 10),
    ),
    min_size=1,
    max_size=12,
    unique_by=lambda d: d.task_id,
)


@given(demands=demands, budget=st.floats(0.0001, 50), max_stretch=st.floats(1, 64))
def test_stretch_fits_the_budget_and_slows_low_priorities_first(
    demands: list[Demand], budget: float, max_stretch: float
) -> None:
    stretch = plan_stretch(demands, budget, max_stretch)
    rate = sum(d.calls_per_second / stretch[d.task_id] for d in demands)
    assert rate <= budget * (1 + 1e-9) or rate == sum(d.calls_per_second for d in demands)
    assert all(value >= 1 for value in stretch.values())
    for low in demands:
        for high in demands:
            if high.priority > low.priority:
                assert stretch[high.task_id] <= stretch[low.task_id] * (1 + 1e-9)


def test_stretch_touches_nothing_when_the_budget_suffices() -> None:
    plan = plan_stretch([Demand("a", 1, 0.5), Demand("b", 9, 0.5)], 1.0, 16)
    assert plan == {"a": 1.0, "b": 1.0}


def test_stretch_takes_the_lowest_level_to_its_bound_before_the_next() -> None:
    demand = [Demand("low", 1, 1.0), Demand("mid", 5, 1.0), Demand("high", 9, 1.0)]
    assert plan_stretch(demand, 2.5, 16) == {"low": 2.0, "mid": 1.0, "high": 1.0}
    plan = plan_stretch(demand, 1.5, 4)
    assert plan["low"] == 4 and plan["high"] == 1 and abs(plan["mid"] - 4) < 1e-9


def test_reservations_never_pass_the_quota_under_contention(db: Database) -> None:
    now = _ms(2024, 3, 10)

    def reserve(_: int) -> bool:
        return reserve_calls(db, "coingecko", 1, 25, now)

    with ThreadPoolExecutor(max_workers=8) as pool:
        granted = list(pool.map(reserve, range(40)))
    assert granted.count(True) == 25
    assert usage_of(db, now) == {"coingecko": 25}
    assert reserve_calls(db, "coingecko", 1, 25, month_end_ms(now))  # a new month
    assert reserve_calls(db, "free", 3, None, now) and usage_of(db, now)["free"] == 3


async def test_a_quota_short_of_the_schedule_slows_the_low_priority_task(db: Database) -> None:
    clock = FakeClock(_ms(2024, 1, 31, 23))  # one hour before the month ends
    with db.engine.begin() as conn:
        conn.execute(
            insert(source_usage).values(source="fake", month="2024-01", calls=20, updated_ts=0)
        )
    high_calls, low_calls = Calls(), Calls()
    registry = scheduled(
        db,
        clock,
        collector("high", scripted(high_calls), every=60, priority=9),
        collector("low", scripted(low_calls), every=60, priority=1),
    )
    worker = fake_worker(db, registry, clock, fast_policy(quotas={"fake": 100}))
    await step_until(worker, clock, _ms(2024, 2, 1) - 1)
    assert usage_of(db, _ms(2024, 1, 31))["fake"] <= 100
    assert len(high_calls.contexts) == 60, "every slot of the hour"
    assert 15 <= len(low_calls.contexts) <= 20, "80 calls left: 60 for high, the rest for low"
    low_gaps = [b - a for a, b in itertools.pairwise(low_calls.due)]
    assert min(low_gaps) >= 180_000, low_gaps


async def test_a_spent_quota_defers_the_task_to_next_month(db: Database) -> None:
    clock, calls = FakeClock(_ms(2024, 1, 15)), Calls()
    registry = scheduled(db, clock, collector("a", scripted(calls), every=60))
    reserve_calls(db, "fake", 5, 5, clock())
    worker = fake_worker(db, registry, clock, fast_policy(quotas={"fake": 5}))
    assert await worker.run_once() == 1
    assert calls.contexts == [] and worker.stats.deferred == 1
    assert get_task(db, "a").next_run_ts == _ms(2024, 2, 1)


def test_quotas_come_from_the_settings(tmp_path: Path) -> None:
    environ = {"OMC_COINGECKO_MONTHLY_QUOTA": "10000", "OMC_BINANCE_RATE_LIMIT": "6"}
    settings = load_settings(environ, config_file=tmp_path / "absent.toml")
    policy = policy_from_settings(settings, fast_policy())
    assert policy.quotas == {"coingecko": 10000} and policy.lease_seconds == 30.0
