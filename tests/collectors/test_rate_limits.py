"""The exchange's own budget, end to end: ccxt's real binance class against a simulator
that publishes and enforces a stricter budget than the one the client assumes, and
that answers 429 with Retry-After on purpose."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from ohmycoins.collectors.candles import CandleSync
from ohmycoins.errors import BannedError, RateLimitedError
from ohmycoins.records import Candle
from ohmycoins.settings import SourceSettings
from ohmycoins.sim import FaultKind, FaultPlan, FaultRule, SimLimit, running_simulator
from ohmycoins.sources import ccxt_classes
from ohmycoins.sources.binance import binance_spot_weight
from ohmycoins.sources.exchange import ExchangeClient, WeightBudget
from ohmycoins.sources.ratelimit import Limit
from ohmycoins.sources.ratelimit_redis import RedisWeightWindow
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import read_records

from .conftest import MINUTE, SINCE_MS, now, retries, sim_config, truth

STRICT = {"weight_limit": 40, "window_seconds": 2.0}
"""40 weight per 2 seconds, and 24 per second beside it: far below 6,000 a minute."""
MORE = (SimLimit("REQUEST_WEIGHT", 24, 1), SimLimit("RAW_REQUESTS", 61_000, 300))
END = SINCE_MS + 12 * 500 * MINUTE


@pytest.fixture(autouse=True)
def _own_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a fresh process: no budget learnt by an earlier test."""
    monkeypatch.setattr(ccxt_classes, "_WINDOWS", {})


async def test_backfill_keeps_to_the_published_budget(sqlite_db: Database, make_client) -> None:
    async with running_simulator(sim_config(**STRICT, more_limits=MORE)) as handle:
        client = make_client(handle)  # assumes Binance's 6,000 a minute until it reads
        await client.load_markets()
        assert client.window is not None
        assert client.window.limits == (
            Limit(24, 1),
            Limit(40, 2),
            Limit(61_000, 300, per_request=True),
        )
        sync = CandleSync(client, sqlite_db, clock=now, page_size=500)
        for symbol in ("BTC/USDT", "SOL/USDT"):
            report = await sync.sync(symbol, "1m", SINCE_MS, END)
            assert report.complete
            assert read_records(sqlite_db, Candle, symbol=symbol, timeframe="1m") == (
                truth(handle, symbol, "1m", SINCE_MS, END)
            )
        assert (handle.stats.rate_limited, handle.stats.banned) == (0, 0)
        assert client.window.spent > 40  # more than one window: it had to wait


async def test_two_workers_keep_to_the_published_budget_through_redis(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    """Two clients as two processes (each its own windows, started one after the other),
    sharing the windows in Redis: each reads the published limits, then both backfill a
    symbol at once, together within every window."""
    async with running_simulator(sim_config(**STRICT, more_limits=MORE)) as handle:
        clients = []
        for _ in range(2):
            monkeypatch.setattr(ccxt_classes, "_WINDOWS", {})  # another process
            settings = SourceSettings(url=handle.base_url)
            clients.append(ExchangeClient("binance", settings, redis_url=redis_url))

        async def backfill(client: ExchangeClient, symbol: str) -> bool:
            sync = CandleSync(client, sqlite_db, clock=now, page_size=500)
            return (await sync.sync(symbol, "1m", SINCE_MS, END)).complete

        try:
            for client in clients:
                await client.load_markets()
            done = await asyncio.gather(
                backfill(clients[0], "BTC/USDT"), backfill(clients[1], "SOL/USDT")
            )
        finally:
            for client in clients:
                await client.close()
        assert done == [True, True]
        assert all(c.window is not None and len(c.window.limits) == 3 for c in clients)
        assert (handle.stats.rate_limited, handle.stats.banned) == (0, 0)


async def test_the_same_backfill_on_the_assumed_budget_is_refused(
    sqlite_db: Database, make_client
) -> None:
    """The control: a client that does not read the published budget draws 429s."""
    assumed = WeightBudget(6000, 60, binance_spot_weight)
    async with running_simulator(sim_config(**STRICT, more_limits=MORE)) as handle:
        client = make_client(handle, budget=assumed)
        await client.load_markets()
        sync = CandleSync(client, sqlite_db, clock=now, page_size=500, retry=retries())
        with contextlib.suppress(BannedError):
            for symbol in ("BTC/USDT", "SOL/USDT"):
                await sync.sync(symbol, "1m", SINCE_MS, END)
        assert handle.stats.rate_limited >= 1


@pytest.mark.parametrize(("cap", "minute"), [(1200, 1200), (9000, 6000)])
async def test_the_configured_rate_limit_caps_the_published_one(cap: int, minute: int) -> None:
    """OMC_BINANCE_RATE_LIMIT (weight a minute) and the exchange's minute limit: the
    stricter holds; the exchange's other windows hold as published."""
    more = (SimLimit("REQUEST_WEIGHT", 50, 10),)
    async with running_simulator(sim_config(weight_limit=6000, more_limits=more)) as handle:
        settings = SourceSettings(url=handle.base_url, rate_limit=cap)
        client = ExchangeClient("binance", settings)
        try:
            assert client.window is not None and client.window.limits == (Limit(cap, 60),)
            await client.load_markets()
            assert client.window.limits == (Limit(50, 10), Limit(minute, 60))
        finally:
            await client.close()


@pytest.mark.parametrize("shared", ["process", "redis"])
async def test_after_a_429_nothing_is_sent_until_retry_after(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, shared: str
) -> None:
    """One request draws a 429 with Retry-After: 2; then many requests at once, from the
    same client and from another client (another worker through Redis, or another
    client in this process): the simulator receives none of them before the 2 s pass."""
    redis_url = request.getfixturevalue("redis_url") if shared == "redis" else None
    rule = FaultRule(FaultKind.RATE_LIMITED, count=1, path="/api/v3/klines", seconds=2)
    async with running_simulator(sim_config(faults=FaultPlan(rules=(rule,)))) as handle:
        settings = SourceSettings(url=handle.base_url)
        first = ExchangeClient("binance", settings, redis_url=redis_url)
        if redis_url:
            monkeypatch.setattr(ccxt_classes, "_WINDOWS", {})  # another process
        other = ExchangeClient("binance", settings, redis_url=redis_url)
        try:
            await first.load_markets()

            async def page(client: ExchangeClient = first) -> list[list[Any]]:
                return await client.fetch_ohlcv("BTC/USDT", "1m", SINCE_MS, SINCE_MS + 9 * MINUTE)

            with pytest.raises(RateLimitedError) as caught:
                await page()
            assert caught.value.retry_after == pytest.approx(2, abs=0.2)
            if isinstance(first.window, RedisWeightWindow):
                await first.window.flush()  # the pause reaches the other worker
            pages = await asyncio.gather(
                *(page() for _ in range(6)), *(page(other) for _ in range(3))
            )
        finally:
            await first.close()
            await other.close()
    assert all(len(rows) == 10 for rows in pages)
    limited = next(r for r in handle.received if r.status == 429)
    during = [r for r in handle.received if limited.at < r.at < limited.at + 2]
    assert during == []
    assert handle.stats.banned == 0 and handle.stats.rate_limited == 1
    assert len(handle.received) > 10  # every page and the other client's markets came after
