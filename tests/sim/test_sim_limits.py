"""Request weights, the 429 warning, the 418 ban and latency, on a settable clock."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import ccxt.async_support as ccxt
import pytest

from ohmycoins.sim import (
    FaultKind,
    FaultPlan,
    FaultRule,
    SimLimit,
    SimulatorHandle,
    running_simulator,
)

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


STRICT = (SimLimit("REQUEST_WEIGHT", 10, 10), SimLimit("RAW_REQUESTS", 61_000, 300))


async def test_exchange_info_publishes_every_limit_enforced(http: aiohttp.ClientSession) -> None:
    limits = (SimLimit("REQUEST_WEIGHT", 30, 10), SimLimit("RAW_REQUESTS", 61_000, 300))
    config = make_config(weight_limit=1200, more_limits=limits, clock=FakeClock(WINDOW_START))
    async with running_simulator(config) as sim:
        _, info, _ = await get(http, sim, "/api/v3/exchangeInfo")
    ip_limits = [x for x in info["rateLimits"] if x["rateLimitType"] != "ORDERS"]
    assert ip_limits == [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "SECOND", "intervalNum": 10, "limit": 30},
        {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
    ]


async def test_a_shorter_window_is_enforced_and_reported(http: aiohttp.ClientSession) -> None:
    clock = FakeClock(WINDOW_START)
    config = make_config(weight_limit=1200, more_limits=STRICT, clock=clock)
    async with running_simulator(config) as sim:
        for _ in range(5):
            status, _, headers = await get(http, sim, KLINES)
            assert status == 200
        assert (headers["X-MBX-USED-WEIGHT-10S"], headers["X-MBX-USED-WEIGHT-1M"]) == ("10", "10")
        status, body, headers = await get(http, sim, KLINES)
        assert (status, headers["Retry-After"]) == (429, "10")
        assert "10 request weight per 10 SECOND" in body["msg"]
        clock.now += 10
        status, _, headers = await get(http, sim, KLINES)
        assert (status, headers["X-MBX-USED-WEIGHT-10S"], headers["X-MBX-USED-WEIGHT-1M"]) == (
            200,
            "2",
            "14",
        )


async def test_raw_requests_are_counted_per_request(http: aiohttp.ClientSession) -> None:
    clock = FakeClock(WINDOW_START + 100)
    limits = (SimLimit("RAW_REQUESTS", 3, 300),)
    async with running_simulator(make_config(more_limits=limits, clock=clock)) as sim:
        for _ in range(3):
            assert (await get(http, sim, "/api/v3/ping"))[0] == 200
        status, body, headers = await get(http, sim, "/api/v3/ping")
        assert (status, headers["Retry-After"]) == (429, "80")  # the 5-minute window ends then
        assert "3 requests per 5 MINUTE" in body["msg"]


async def test_a_rate_limited_fault_is_a_429_with_its_retry_after(
    http: aiohttp.ClientSession,
) -> None:
    clock = FakeClock(WINDOW_START)
    rule = FaultRule(FaultKind.RATE_LIMITED, count=1, path="/api/v3/klines", seconds=3)
    config = make_config(faults=FaultPlan(rules=(rule,)), ban_seconds=30, clock=clock)
    async with running_simulator(config) as sim:
        assert (await get(http, sim, "/api/v3/ping"))[0] == 200  # another path: served
        status, body, headers = await get(http, sim, KLINES)
        assert (status, body["code"], headers["Retry-After"]) == (429, -1003, "3")
        clock.now += 2.9
        status, _, headers = await get(http, sim, "/api/v3/ping")  # too early: banned
        assert (status, headers["Retry-After"]) == (418, "30")
        assert [(r.at, r.status) for r in sim.received] == [
            (WINDOW_START, 200),
            (WINDOW_START, 429),
            (WINDOW_START + 2.9, 418),
        ]


async def test_waiting_out_a_rate_limited_fault_avoids_the_ban(
    http: aiohttp.ClientSession,
) -> None:
    clock = FakeClock(WINDOW_START)
    rule = FaultRule(FaultKind.RATE_LIMITED, count=1, seconds=3)
    async with running_simulator(make_config(faults=FaultPlan(rules=(rule,)), clock=clock)) as sim:
        assert (await get(http, sim, KLINES))[0] == 429
        clock.now += 3
        assert (await get(http, sim, KLINES))[0] == 200


async def test_a_banned_fault_bans_for_its_seconds(http: aiohttp.ClientSession) -> None:
    clock = FakeClock(WINDOW_START)
    rule = FaultRule(FaultKind.BANNED, count=1, seconds=5)
    async with running_simulator(make_config(faults=FaultPlan(rules=(rule,)), clock=clock)) as sim:
        status, body, headers = await get(http, sim, KLINES)
        assert (status, headers["Retry-After"]) == (418, "5")
        assert f"banned until {int((WINDOW_START + 5) * 1000)}" in body["msg"]
        clock.now += 2
        status, _, headers = await get(http, sim, "/api/v3/ping")
        assert (status, headers["Retry-After"]) == (418, "3")
        clock.now += 3
        assert (await get(http, sim, KLINES))[0] == 200
        assert sim.stats.faults_injected == {"banned": 1} and sim.stats.banned == 2


def test_limiter_faults_round_trip_as_json() -> None:
    rule = FaultRule(FaultKind.RATE_LIMITED, count=2, seconds=1.5)
    assert FaultRule.from_json(rule.to_json()) == rule
    with pytest.raises(ValueError, match="seconds"):
        FaultRule(FaultKind.BANNED, seconds=0)
    with pytest.raises(ValueError, match="limit type"):
        SimLimit("ORDERS", 10, 10)
