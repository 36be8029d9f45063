"""Rate limits kept in Redis hold across workers: each limiter instance here stands for
one worker process, and together they spend no more than the one budget."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from ohmycoins.errors import BannedError
from ohmycoins.settings import SourceSettings
from ohmycoins.sim.server import SimStats
from ohmycoins.sources.exchange import ExchangeClient, WeightBudget
from ohmycoins.sources.ratelimit import Limit, TokenBucket, WeightWindow
from ohmycoins.sources.ratelimit_redis import (
    RedisTokenBucket,
    RedisWeightWindow,
    shared_bucket,
    shared_window,
)
from ohmycoins.storage.database import Database
from tests.scheduling.support import FakeTime


class Recorder:
    """The real clock, remembering its last reading: the `now` of the last grant."""

    last = 0.0

    def __call__(self) -> float:
        self.last = time.time()
        return self.last


def _key() -> str:
    return f"test-{uuid.uuid4().hex}"


class Parking:
    """A worker's sleep that never ends: the worker waits for room that never comes.
    `parked` is set once it does, so a test awaits that rather than a timeout."""

    def __init__(self) -> None:
        self.parked = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.parked.set()
        await asyncio.Event().wait()


async def _grants(workers: list[RedisWeightWindow], parkings: list[Parking], each: int) -> int:
    """`each` acquires of 1 from every worker at once; once every worker has either been
    granted all of them or parked (its later acquires queue behind the parked one), the
    number granted."""
    attempts = [[asyncio.ensure_future(w.acquire(1)) for _ in range(each)] for w in workers]
    for own, parking in zip(attempts, parkings, strict=True):
        parked = asyncio.ensure_future(parking.parked.wait())
        await asyncio.wait([asyncio.gather(*own), parked], return_when=asyncio.FIRST_COMPLETED)
        parked.cancel()
    granted = [task for own in attempts for task in own if task.done()]
    for own in attempts:
        for task in own:
            task.cancel()
    assert all(task.exception() is None for task in granted)
    return len(granted)


def test_factories_pick_redis_only_with_a_url(redis_url: str) -> None:
    assert type(shared_window(None, "k", 10, 1.0)) is WeightWindow
    assert isinstance(shared_window(redis_url, "k", 10, 1.0), RedisWeightWindow)
    assert type(shared_bucket(None, "k", 60)) is TokenBucket
    bucket = shared_bucket(redis_url, "k", 600)
    assert isinstance(bucket, RedisTokenBucket) and bucket.rate_per_s == 10


async def test_two_workers_never_both_take_the_last_units(redis_url: str) -> None:
    """Six workers, three acquires each at once, a budget of 10: exactly 10 go through."""
    clock, key, parkings = FakeTime(), _key(), [Parking() for _ in range(6)]
    workers = [
        RedisWeightWindow(redis_url, key, 10, 60, safety=1.0, clock=clock, sleep=parking.sleep)
        for parking in parkings
    ]
    assert await _grants(workers, parkings, 3) == 10
    assert sum(w.spent for w in workers) == 10
    assert await workers[0].shared_used() == 10


async def test_every_shared_limit_holds_across_workers(redis_url: str) -> None:
    """Six workers, three acquires each at once, 4 a second and 10 a minute: 4 go through,
    counted in both windows."""
    clock, key, parkings = FakeTime(start=600.0), _key(), [Parking() for _ in range(6)]
    workers = [
        RedisWeightWindow(redis_url, key, 10, 60, safety=1.0, clock=clock, sleep=parking.sleep)
        for parking in parkings
    ]
    for worker in workers:
        worker.set_limits([Limit(10, 60), Limit(4, 1)])
    assert await _grants(workers, parkings, 3) == 4
    assert await workers[0].shared_used() == 4 and await workers[0].shared_used(1) == 4


async def test_a_shared_request_at_a_window_edge_counts_in_the_next_window_too(
    redis_url: str,
) -> None:
    clock, key = FakeTime(start=600.9), _key()
    first, second = (
        RedisWeightWindow(redis_url, key, 4, 1, safety=1.0, clock=clock, sleep=clock.sleep)
        for _ in range(2)
    )
    await first.acquire(3)  # 0.1 s before the second ends: counted in the next one too
    clock.now = 601.1
    await second.acquire(2)  # 3 + 2 > 4 in this second as well
    assert clock.slept == [pytest.approx(1.15)]


async def test_two_workers_keep_to_the_budget_in_every_real_window(redis_url: str) -> None:
    key, limit = _key(), 10
    clocks = [Recorder(), Recorder()]
    workers = [RedisWeightWindow(redis_url, key, limit, 1.0, safety=1.0, skew_margin_s=0.02,
                                 clock=clock) for clock in clocks]  # fmt: skip
    granted: list[int] = []

    async def spend(window: RedisWeightWindow, clock: Recorder, times: int) -> None:
        for _ in range(times):
            await window.acquire(1)
            granted.append(int(clock.last // 1.0))

    started = time.time()
    await asyncio.gather(*(spend(w, c, 13) for w, c in zip(workers, clocks, strict=True)))
    per_window = {window: granted.count(window) for window in set(granted)}
    assert max(per_window.values()) <= limit, per_window
    assert len(per_window) >= 3  # 26 units at 10 a window: three windows at least
    assert time.time() - started < 4.0
    assert workers[0].spent + workers[1].spent == 26


async def test_pause_and_ban_stop_the_other_worker(redis_url: str) -> None:
    clock, key = FakeTime(), _key()
    first, second = (
        RedisWeightWindow(redis_url, key, 100, 60, clock=clock, sleep=clock.sleep) for _ in range(2)
    )
    first.pause(7)
    await first.flush()
    await second.acquire(1)
    assert clock.slept == [pytest.approx(7)]
    assert (first.rate_limited, second.rate_limited) == (1, 0)

    first.ban(120)
    await first.flush()
    with pytest.raises(BannedError):
        await second.acquire(1)
    assert second.banned_until == pytest.approx(clock.now + 120)
    with pytest.raises(BannedError):  # from its own memory now, without asking Redis
        await second.acquire(1)


async def test_the_exchange_count_is_shared(redis_url: str) -> None:
    clock, key = FakeTime(start=600.0), _key()
    first, second = (
        RedisWeightWindow(redis_url, key, 100, 60, safety=1.0, clock=clock, sleep=clock.sleep)
        for _ in range(2)
    )
    first.observe_used(99)
    await first.flush()
    await second.acquire(1)
    assert clock.slept == []
    await second.acquire(1)  # 101 would not fit: the next window
    assert clock.slept == [pytest.approx(60.25)]


async def test_bucket_rate_holds_across_two_workers(redis_url: str) -> None:
    key, rate = _key(), 40.0
    workers = [RedisTokenBucket(redis_url, key, rate, capacity=1) for _ in range(2)]
    started = time.monotonic()
    await asyncio.gather(*(w.acquire() for w in workers for _ in range(20)))
    elapsed = time.monotonic() - started
    # 40 units at 40/s with a burst of 1: 39 intervals of 25 ms, whoever takes them
    assert elapsed >= 39 / rate * 0.95
    assert elapsed < 39 / rate + 1.0


async def test_bucket_pause_stops_the_other_worker(redis_url: str) -> None:
    key = _key()
    first, second = (RedisTokenBucket(redis_url, key, 100.0, capacity=5) for _ in range(2))
    first.pause(0.4)
    await first.flush()
    started = time.monotonic()
    await second.acquire()
    assert time.monotonic() - started >= 0.38


async def _two_workers_backfill(
    db: Database, monkeypatch: pytest.MonkeyPatch, redis_url: str | None
) -> tuple[SimStats, list[ExchangeClient]]:
    """Two clients, as if in two processes (each its own process-wide windows), with one
    budget of 24 weight a second against a simulator allowing 24: each backfills a symbol."""
    from ohmycoins.collectors.candles import CandleSync
    from ohmycoins.sim import running_simulator
    from ohmycoins.sources import ccxt_classes
    from ohmycoins.sources.binance import binance_spot_weight

    from ..collectors.conftest import MINUTE, SINCE_MS, now, retries, sim_config

    budget = WeightBudget(limit=24, window_s=1.0, weight_of=binance_spot_weight)
    async with running_simulator(sim_config(weight_limit=24, window_seconds=1.0)) as handle:
        clients = []
        for _ in range(2):
            monkeypatch.setattr(ccxt_classes, "_WINDOWS", {})  # another process
            settings = SourceSettings(url=handle.base_url)
            clients.append(ExchangeClient("binance", settings, budget=budget, redis_url=redis_url))
        try:

            async def backfill(client: ExchangeClient, symbol: str) -> None:
                await client.load_markets()
                sync = CandleSync(client, db, clock=now, page_size=500, retry=retries())
                await sync.sync(symbol, "1m", SINCE_MS, SINCE_MS + 8 * 500 * MINUTE)

            await asyncio.wait_for(
                asyncio.gather(
                    backfill(clients[0], "SOL/USDT"),
                    backfill(clients[1], "BTC/USDT"),
                    return_exceptions=redis_url is None,
                ),
                timeout=30,
            )
            return handle.stats, clients
        finally:
            for client in clients:
                await client.close()


async def test_two_exchange_clients_share_one_budget_through_redis(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    stats, (first, second) = await _two_workers_backfill(sqlite_db, monkeypatch, redis_url)
    assert first.window is not second.window
    assert isinstance(first.window, RedisWeightWindow)
    assert stats.rate_limited == 0 and stats.banned == 0
    assert second.window is not None and first.window.spent + second.window.spent > 3 * 24


async def test_without_redis_the_same_two_clients_are_rate_limited(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: each client keeps to the budget alone, together they exceed it."""
    stats, (first, second) = await _two_workers_backfill(sqlite_db, monkeypatch, None)
    assert type(first.window) is WeightWindow and first.window is not second.window
    assert stats.rate_limited + stats.banned > 0


async def test_redis_out_of_reach_is_a_temporary_error() -> None:
    from ohmycoins.errors import TemporarySourceError

    window = RedisWeightWindow("redis://127.0.0.1:1/0", _key(), 10, 1.0)
    window.observe_used(3)  # shared later, or only logged: never raised from sync code
    with pytest.raises(TemporarySourceError):
        await window.acquire(1)
    bucket = RedisTokenBucket("redis://127.0.0.1:1/0", _key(), 10.0)
    with pytest.raises(TemporarySourceError):
        await bucket.acquire()


async def test_sources_take_the_shared_limiters_with_a_redis_url(redis_url: str) -> None:
    from ohmycoins.sources.http import HttpSource

    settings = SourceSettings(rate_limit=120)
    async with HttpSource("x", "http://x.invalid", settings, redis_url=redis_url) as shared:
        assert isinstance(shared.limiter, RedisTokenBucket) and shared.limiter.rate_per_s == 2
    async with HttpSource("x", "http://x.invalid", settings) as own:
        assert type(own.limiter) is TokenBucket
    client = ExchangeClient("binance", SourceSettings(url="http://x.invalid"), redis_url=redis_url)
    try:
        assert isinstance(client.window, RedisWeightWindow)
    finally:
        await client.close()


async def test_limits_one_worker_read_reach_the_others(redis_url: str) -> None:
    """A worker that read the exchange's limits offers them; another, still on the assumed
    budget, takes them (capped by its own configured limit) before it sends anything."""
    clock, key = FakeTime(start=600.0), _key()
    first = RedisWeightWindow(redis_url, key, 6000, 60, clock=clock, sleep=clock.sleep)
    second = RedisWeightWindow(redis_url, key, 6000, 60, caps=[Limit(1000, 60)],
                               clock=clock, sleep=clock.sleep)  # fmt: skip
    assert second.limits == (Limit(1000, 60),)
    assert first.publish([Limit(1200, 60), Limit(50, 10)]) is True
    assert first.limits == (Limit(50, 10), Limit(1200, 60))
    await first.flush()
    await second.acquire(1)
    assert second.limits == (Limit(50, 10), Limit(1000, 60))
