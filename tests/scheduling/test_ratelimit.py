"""Rate limiters spend the budget they are given and not more, on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from ohmycoins.errors import BannedError
from ohmycoins.sources.ratelimit import Limit, TokenBucket, WeightWindow, strictest
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


async def test_a_request_waits_until_every_limit_has_room() -> None:
    """10 weight a second and 25 a minute: the second runs out first, then the minute."""
    clock = FakeTime(start=600.0)
    window = WeightWindow(25, window_s=60, safety=1.0, skew_margin_s=0.25,
                          clock=clock, sleep=clock.sleep)  # fmt: skip
    window.set_limits([Limit(25, 60), Limit(10, 1)])
    for _ in range(5):
        await window.acquire(2)
    assert clock.slept == []
    await window.acquire(2)  # 12 > 10 in this second: the next second
    assert clock.slept == [pytest.approx(1.25)]
    for _ in range(6):
        await window.acquire(2)
    assert window.used() == 24 and window.used(1) == 4 and len(clock.slept) == 2
    await window.acquire(2)  # 26 > 25 in this minute: the next minute
    assert sum(clock.slept) == pytest.approx(60.25)
    assert (window.used(), window.spent) == (2, 26)


async def test_raw_requests_count_requests_not_weight() -> None:
    clock = FakeTime(start=600.0)
    window = WeightWindow(1000, window_s=60, safety=1.0, clock=clock, sleep=clock.sleep)
    window.set_limits([Limit(1000, 60), Limit(3, 300, per_request=True)])
    for _ in range(3):
        await window.acquire(50)
    assert clock.slept == []
    await window.acquire(1)  # a fourth request in five minutes: wait, whatever its weight
    assert clock.slept == [pytest.approx(300.25)]


def test_the_strictest_limit_of_each_window_wins() -> None:
    published = [Limit(6000, 60), Limit(100, 10), Limit(61000, 300, per_request=True)]
    assert strictest([*published, Limit(1200, 60)]) == (
        Limit(100, 10),
        Limit(1200, 60),
        Limit(61000, 300, per_request=True),
    )
    assert strictest([*published, Limit(9000, 60)])[1] == Limit(6000, 60)
    with pytest.raises(ValueError, match="positive"):
        strictest([Limit(0, 60)])


async def test_new_limits_keep_what_was_counted() -> None:
    clock = FakeTime(start=600.0)
    window = WeightWindow(6000, window_s=60, safety=1.0, clock=clock, sleep=clock.sleep)
    await window.acquire(20)
    assert window.set_limits([Limit(30, 60), Limit(10, 1)]) is True
    assert window.set_limits([Limit(10, 1), Limit(30, 60)]) is False  # the same limits
    assert window.used() == 20 and window.used(1) == 0
    await window.acquire(10)
    await window.acquire(1)  # 31 > 30 in the minute
    assert clock.slept == [pytest.approx(60.25)]


async def test_a_request_at_a_window_edge_counts_in_the_next_window_too() -> None:
    """The exchange may count it in either window: both keep room for it."""
    clock = FakeTime(start=659.9)  # 0.1 s before the minute ends, inside the skew margin
    window = WeightWindow(10, window_s=60, safety=1.0, skew_margin_s=0.25,
                          clock=clock, sleep=clock.sleep)  # fmt: skip
    await window.acquire(4)
    clock.now = 660.5
    assert window.used() == 4
    await window.acquire(6)
    await window.acquire(1)
    assert clock.slept == [pytest.approx(59.75)]


async def test_a_429_holds_callers_already_waiting_for_the_next_window() -> None:
    clock = FakeTime(start=600.0)
    window = WeightWindow(4, window_s=1, safety=1.0, skew_margin_s=0.0,
                          clock=clock, sleep=clock.sleep)  # fmt: skip
    granted: list[float] = []

    async def send() -> None:
        await window.acquire(2)
        granted.append(clock.now)

    await asyncio.gather(send(), send())
    waiting = asyncio.gather(*(send() for _ in range(4)))
    window.pause(5)  # a 429 arrives while the others wait for the next second
    await waiting
    assert granted[:2] == [600.0, 600.0]
    assert all(at >= 605.0 for at in granted[2:])


async def test_the_exchange_count_of_each_window_is_kept_apart() -> None:
    clock = FakeTime(start=600.0)
    window = WeightWindow(100, window_s=60, safety=1.0, clock=clock, sleep=clock.sleep)
    window.set_limits([Limit(100, 60), Limit(20, 10)])
    window.observe_used(19, 10)
    window.observe_used(50, 3600)  # a window we do not enforce: ignored
    assert (window.used(), window.used(10)) == (0, 19)
    await window.acquire(2)
    assert clock.slept == [pytest.approx(10.25)]


async def test_a_ban_is_waited_out_when_asked() -> None:
    clock = FakeTime(start=600.0)
    window = WeightWindow(100, window_s=60, clock=clock, sleep=clock.sleep)
    window.ban(42)
    assert window.banned_for() == pytest.approx(42)
    await window.wait_out_ban()
    assert window.banned_for() == 0
    await window.acquire(1)
