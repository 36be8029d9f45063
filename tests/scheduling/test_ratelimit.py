"""Rate limiters spend the budget they are given and not more, on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from ohmycoins.errors import BannedError
from ohmycoins.scheduling.ratelimit import TokenBucket, WeightWindow
from tests.scheduling.support import FakeTime


async def test_window_spends_the_budget_then_waits_for_the_next_window() -> None:
    clock = FakeTime(start=600.0)
    window = WeightWindow(100, window_s=60, safety=1.0, skew_margin_s=0.25,
                          clock=clock, sleep=clock.sleep)  # fmt: skip
    for _ in range(50):
        await window.acquire(2)
    assert window.used() == 100 and clock.slept == []
    await window.acquire(2)
    assert clock.slept == [pytest.approx(60.25)]
    assert window.used() == 2
    assert window.spent == 102


async def test_exchange_count_overrides_ours_when_higher() -> None:
    clock = FakeTime(start=600.0)
    window = WeightWindow(100, window_s=60, safety=1.0, clock=clock, sleep=clock.sleep)
    await window.acquire(2)
    window.observe_used(99)
    await window.acquire(2)
    assert len(clock.slept) == 1


async def test_429_pauses_everyone_and_418_refuses() -> None:
    clock = FakeTime(start=600.0)
    window = WeightWindow(100, window_s=60, clock=clock, sleep=clock.sleep)
    window.pause(7)
    await window.acquire(1)
    assert clock.slept == [pytest.approx(7)]
    window.ban(120)
    with pytest.raises(BannedError):
        await window.acquire(1)
    assert (window.rate_limited, window.banned) == (1, 1)


async def test_token_bucket_paces_requests() -> None:
    clock = FakeTime()
    bucket = TokenBucket(2.0, capacity=2, clock=clock, sleep=clock.sleep)
    for _ in range(6):
        await bucket.acquire()
    assert sum(clock.slept) == pytest.approx(2.0)


async def test_token_bucket_is_fair_under_concurrency() -> None:
    clock = FakeTime()
    bucket = TokenBucket(10.0, capacity=1, clock=clock, sleep=clock.sleep)
    await asyncio.gather(*(bucket.acquire() for _ in range(11)))
    assert sum(clock.slept) == pytest.approx(1.0)
