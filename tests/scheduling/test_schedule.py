"""Schedules: interval slots counted from the due time with missed slots skipped, cron
times in UTC, adaptive slow-down, and the registry's settings overrides."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ohmycoins.errors import ConfigError
from ohmycoins.scheduling.registry import Registry, RunOutcome
from ohmycoins.scheduling.schedule import (
    Schedule,
    adapted_interval,
    cron_after,
    cron_at_or_before,
    first_due,
    next_due,
    period_seconds,
    slowdown_of,
)
from ohmycoins.settings import CollectorOverride
from tests.scheduling.support import T0, Calls, collector, scripted

MINUTE = 60_000


def test_interval_counts_from_the_due_time_not_the_end_of_the_run() -> None:
    every_minute = Schedule.every(60)
    assert next_due(every_minute, T0, T0 + 12_345) == T0 + MINUTE


def test_slots_missed_before_a_run_started_are_skipped() -> None:
    every_minute = Schedule.every(60)
    late_start = T0 + 10 * MINUTE + 5  # e.g. after an outage, or a deferral
    assert next_due(every_minute, T0, late_start + 100, started_ms=late_start) == T0 + 11 * MINUTE


def test_slots_missed_while_a_run_lasted_are_coalesced_into_one_run_now() -> None:
    every_minute = Schedule.every(60)
    assert next_due(every_minute, T0, T0 + 10 * MINUTE + 5, started_ms=T0) == T0 + 10 * MINUTE
    assert next_due(every_minute, T0, T0 + MINUTE, started_ms=T0 + 5) == T0 + MINUTE
    assert next_due(every_minute, T0, T0 + MINUTE - 1, started_ms=T0) == T0 + MINUTE


def test_interval_in_force_and_stretch_space_runs_further_apart() -> None:
    every_minute = Schedule.every(60)
    assert next_due(every_minute, T0, T0 + 1, interval_seconds=120) == T0 + 2 * MINUTE
    assert next_due(every_minute, T0, T0 + 1, interval_seconds=120, stretch=1.5) == T0 + 3 * MINUTE


@given(
    interval=st.floats(min_value=0.5, max_value=86_400),
    start_late_ms=st.integers(min_value=0, max_value=10**9),
    run_ms=st.integers(min_value=0, max_value=10**9),
    stretch=st.floats(min_value=1, max_value=100),
)
def test_next_interval_slot_is_on_the_grid_after_the_start_and_near_now(
    interval: float, start_late_ms: int, run_ms: int, stretch: float
) -> None:
    started = T0 + start_late_ms
    now = started + run_ms
    slot = next_due(Schedule.every(interval), T0, now, started_ms=started, stretch=stretch)
    step = max(1, round(interval * stretch * 1000))
    assert slot > started and now - step < slot <= now + step
    assert (slot - T0) % step == 0


def test_cron_fires_at_its_utc_times_and_coalesces_missed_ones() -> None:
    hourly = Schedule.at("0 * * * *")
    assert cron_after("0 * * * *", T0) == T0 + 60 * MINUTE
    assert cron_at_or_before("0 * * * *", T0) == T0
    assert first_due(hourly, T0 + 1) == T0 + 60 * MINUTE
    assert next_due(hourly, T0, T0 + 5 * MINUTE, started_ms=T0) == T0 + 60 * MINUTE
    three_hours = T0 + 3 * 60 * MINUTE
    assert next_due(hourly, T0, three_hours + 1, started_ms=T0) == three_hours
    assert next_due(hourly, T0, three_hours + 1, started_ms=three_hours) == T0 + 4 * 60 * MINUTE
    assert period_seconds(hourly, T0) == 3600


def test_cron_stretch_skips_whole_periods() -> None:
    hourly = Schedule.at("0 * * * *")
    assert next_due(hourly, T0, T0 + 1, stretch=3) == T0 + 3 * 60 * MINUTE


def test_a_new_interval_task_is_due_at_once() -> None:
    assert first_due(Schedule.every(300), T0) == T0


def test_a_schedule_is_either_interval_or_cron_and_valid() -> None:
    with pytest.raises(ConfigError):
        Schedule()
    with pytest.raises(ConfigError):
        Schedule(interval_seconds=5, cron="* * * * *")
    with pytest.raises(ConfigError):
        Schedule.every(0)
    with pytest.raises(ConfigError, match="cron"):
        Schedule.at("every tuesday")


def test_adaptive_interval_doubles_to_its_bound_and_returns_to_base() -> None:
    interval, seen = 10.0, []
    for _ in range(5):
        interval = adapted_interval(interval, 10, changed=False, max_slowdown=8)
        seen.append(interval)
    assert seen == [20, 40, 80, 80, 80]
    assert adapted_interval(80, 10, changed=True, max_slowdown=8) == 10


def test_slowdown_of_tells_an_adaptive_interval_from_a_new_base() -> None:
    assert [slowdown_of(10 * f, 10, 8) for f in (1, 2, 4, 8)] == [1, 2, 4, 8]
    assert slowdown_of(30, 10, 8) is None
    assert slowdown_of(160, 10, 8) is None
    assert slowdown_of(5, 10, 8) is None
    assert slowdown_of(60, 10, 6) == 6  # a bound that is no power of two


def test_settings_override_schedule_priority_and_enabled() -> None:
    calls = Calls()
    registry = Registry(
        [collector("a", scripted(calls), every=60), collector("b", scripted(calls), every=60)]
    )
    configured = registry.configured(
        {
            "a": CollectorOverride(cron="*/5 * * * *", priority=9),
            "b": CollectorOverride(enabled=False, interval_seconds=30),
        }
    )
    a, b = configured.get("a"), configured.get("b")
    assert a is not None and b is not None
    assert a.schedule == Schedule.at("*/5 * * * *") and a.priority == 9
    assert b.schedule == Schedule.every(30) and not b.enabled
    assert configured.names() == ["a"]
    with pytest.raises(ConfigError, match="no such collector"):
        registry.configured({"zzz": CollectorOverride(priority=1)})
    with pytest.raises(
        ConfigError, match=r"\[collectors\.aa\].*no such collector; did you mean a\?"
    ):
        registry.configured({"aa": CollectorOverride(priority=1)})
    with pytest.raises(ConfigError, match=r"\[collectors\.a\] cron='nope'"):
        registry.configured({"a": CollectorOverride(cron="nope")})


def test_a_collector_name_is_registered_once() -> None:
    calls = Calls()
    with pytest.raises(ConfigError, match="twice"):
        Registry([collector("a", scripted(calls)), collector("a", scripted(calls))])


def test_outcome_with_a_problem_is_partial() -> None:
    assert RunOutcome().status == "ok"
    assert RunOutcome(problem="2 pages failed").status == "partial"
