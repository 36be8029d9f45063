"""Request weights, the 429 warning, the 418 ban and latency, on a settable clock."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import ccxt.async_support as ccxt
import pytest

from ohmycoins.sim import SimulatorHandle, running_simulator

from .conftest import ExchangeFactory
from .support import FakeClock, make_config

WINDOW_START = 1_000_020.0  # a multiple of 60: the limiter's windows align to it
KLINES = "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=5"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get(
    http: aiohttp.ClientSession, sim: SimulatorHandle, path: str
) -> tuple[int, Any, dict[str, str]]:
    async with http.get(sim.base_url + path) as response:
        return response.status, await response.json(content_type=None), dict(response.headers)


@pytest.mark.parametrize(
    ("path", "weight"),
    [
        ("/api/v3/ping", 1),
        ("/api/v3/time", 1),
        ("/api/v3/exchangeInfo", 20),
        (KLINES, 2),
        ("/api/v3/uiKlines?symbol=BTCUSDT&interval=1h", 2),
        ("/api/v3/depth?symbol=BTCUSDT", 5),
        ("/api/v3/depth?symbol=BTCUSDT&limit=500", 25),
        ("/api/v3/depth?symbol=BTCUSDT&limit=1000", 50),
        ("/api/v3/depth?symbol=BTCUSDT&limit=5000", 250),
        ("/api/v3/trades?symbol=BTCUSDT", 10),
        ("/api/v3/historicalTrades?symbol=BTCUSDT", 10),
        ("/api/v3/aggTrades?symbol=BTCUSDT", 2),
        ("/api/v3/ticker/24hr?symbol=BTCUSDT", 2),
        ("/api/v3/ticker/24hr", 80),
        ('/api/v3/ticker/24hr?symbols=["BTCUSDT","ETHUSDT"]', 2),
        ("/api/v3/ticker/price?symbol=BTCUSDT", 2),
        ("/api/v3/ticker/price", 4),
        ("/api/v3/ticker/bookTicker", 4),
        ("/api/v3/avgPrice?symbol=BTCUSDT", 2),
        ("/api/v3/klines?symbol=NOPE&interval=1m", 2),
    ],
)
async def test_every_response_reports_the_used_weight(
    http: aiohttp.ClientSession, path: str, weight: int
) -> None:
    async with running_simulator(make_config(clock=FakeClock(WINDOW_START))) as sim:
        await get(http, sim, "/api/v3/ping")
        _, _, headers = await get(http, sim, path)
        assert headers["X-MBX-USED-WEIGHT-1M"] == headers["X-MBX-USED-WEIGHT"] == str(1 + weight)
        assert sim.stats.weight_used == 1 + weight


async def test_over_budget_gets_429_then_418_until_the_ban_ends(
    http: aiohttp.ClientSession,
) -> None:
    clock = FakeClock(WINDOW_START + 10)
    config = make_config(weight_limit=10, window_seconds=60, ban_seconds=120, clock=clock)
    async with running_simulator(config) as sim:
        for used in (2, 4, 6, 8, 10):
            status, _, headers = await get(http, sim, KLINES)
            assert (status, headers["X-MBX-USED-WEIGHT-1M"]) == (200, str(used))
        status, body, headers = await get(http, sim, KLINES)
        assert (status, body["code"], headers["Retry-After"]) == (429, -1003, "50")
        assert headers["X-MBX-USED-WEIGHT-1M"] == "12"
        status, body, headers = await get(http, sim, "/api/v3/ping")
        assert (status, body["code"], headers["Retry-After"]) == (418, -1003, "120")
        assert "banned until" in body["msg"]
        clock.now += 60
        status, _, headers = await get(http, sim, "/api/v3/ping")
        assert (status, headers["Retry-After"]) == (418, "60")
        clock.now += 61
        status, _, headers = await get(http, sim, KLINES)
        assert (status, headers["X-MBX-USED-WEIGHT-1M"]) == (200, "2")
        stats = sim.stats
        assert (stats.rate_limited, stats.banned, stats.requests) == (1, 2, 9)


async def test_waiting_as_told_avoids_the_ban(http: aiohttp.ClientSession) -> None:
    clock = FakeClock(WINDOW_START + 30)
    async with running_simulator(make_config(weight_limit=3, clock=clock)) as sim:
        await get(http, sim, KLINES)
        status, _, headers = await get(http, sim, KLINES)
        assert status == 429
        clock.now += int(headers["Retry-After"])
        status, _, headers = await get(http, sim, KLINES)
        assert (status, headers["X-MBX-USED-WEIGHT-1M"]) == (200, "2")


async def test_ccxt_raises_ddos_protection_on_429_and_418(make_exchange: ExchangeFactory) -> None:
    async with running_simulator(
        make_config(weight_limit=23, clock=FakeClock(WINDOW_START))
    ) as sim:
        exchange = make_exchange(sim)
        await exchange.load_markets()  # weight 20 + 1 + 1: the next klines call (2) is one too many
        with pytest.raises(ccxt.DDoSProtection, match="429"):
            await exchange.fetch_ohlcv("BTC/USDT", "1m", limit=5)
        with pytest.raises(ccxt.DDoSProtection, match="418"):
            await exchange.fetch_ohlcv("BTC/USDT", "1m", limit=5)
        assert exchange.last_response_headers["Retry-After"] == "120"


async def test_latency_is_applied(http: aiohttp.ClientSession) -> None:
    async with running_simulator(make_config(latency_ms=150)) as sim:
        started = time.perf_counter()
        status, _, _ = await get(http, sim, "/api/v3/ping")
        assert status == 200 and time.perf_counter() - started >= 0.15
