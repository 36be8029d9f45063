"""Every fault kind as a client sees it, the outage switch, and the /sim/ control API."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import ccxt.async_support as ccxt
import pytest

from ohmycoins.sim import FaultKind, FaultPlan, FaultRule, SimulatorHandle, running_simulator

from .conftest import ExchangeFactory
from .support import MINUTE, make_config

PAGE_START = 1_759_800_000_000
KLINES = {"symbol": "BTCUSDT", "interval": "1m", "startTime": PAGE_START, "limit": 50}
KLINES_PATH = "/api/v3/klines"


def plan(kind: FaultKind, **options: Any) -> FaultPlan:
    return FaultPlan(rules=(FaultRule(kind, count=options.pop("count", 1), **options),))


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def raw_klines(http: aiohttp.ClientSession, sim: SimulatorHandle) -> tuple[int, bytes]:
    async with http.get(
        sim.base_url + KLINES_PATH, params={k: str(v) for k, v in KLINES.items()}
    ) as response:
        return response.status, await response.read()


def truth(sim: SimulatorHandle) -> list[list[Any]]:
    return sim.model.klines("BTCUSDT", "1m", start_ms=PAGE_START, limit=50)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, ccxt.ExchangeNotAvailable),
        (503, ccxt.ExchangeNotAvailable),
        (504, ccxt.RequestTimeout),
    ],
)
async def test_server_errors(
    sim: SimulatorHandle, exchange: Any, status: int, error: type[Exception]
) -> None:
    await exchange.load_markets()
    sim.set_faults(plan(FaultKind.SERVER_ERROR, status=status, path=KLINES_PATH))
    with pytest.raises(error, match=str(status)):
        await exchange.fetch_ohlcv("BTC/USDT", "1m", since=PAGE_START, limit=50)
    assert exchange.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "24"
    assert len(await exchange.fetch_ohlcv("BTC/USDT", "1m", since=PAGE_START, limit=50)) == 50
    assert sim.stats.faults_injected == {"server_error": 1}


async def test_timeout_never_answers(sim: SimulatorHandle, exchange: Any) -> None:
    await exchange.load_markets()
    exchange.timeout = 200
    sim.set_faults(plan(FaultKind.TIMEOUT))
    with pytest.raises(ccxt.RequestTimeout):
        await exchange.fetch_ohlcv("BTC/USDT", "1m", limit=5)
    assert len(await exchange.fetch_ohlcv("BTC/USDT", "1m", limit=5)) == 5


@pytest.mark.parametrize("kind", [FaultKind.MALFORMED_JSON, FaultKind.TRUNCATED_JSON])
async def test_broken_json(
    sim: SimulatorHandle, http: aiohttp.ClientSession, exchange: Any, kind: FaultKind
) -> None:
    sim.set_faults(plan(kind, count=2))
    status, body = await raw_klines(http, sim)
    assert status == 200
    with pytest.raises(ValueError):
        json.loads(body)
    if kind is FaultKind.TRUNCATED_JSON:
        assert json.dumps(truth(sim), separators=(",", ":")).encode().startswith(body)
    # ccxt does not raise: its implicit API hands back the undecodable text as a string
    assert isinstance(await exchange.publicGetKlines(KLINES), str)
    assert json.loads((await raw_klines(http, sim))[1]) == truth(sim)


async def test_duplicated_candles(sim: SimulatorHandle, exchange: Any) -> None:
    sim.set_faults(plan(FaultKind.DUPLICATE_CANDLES, rows=3))
    page = await exchange.publicGetKlines(KLINES)
    assert len(page) == 53 and len({row[0] for row in page}) == 50
    assert sorted({tuple(row) for row in page}) == sorted(tuple(row) for row in truth(sim))


async def test_out_of_order_candles(sim: SimulatorHandle, exchange: Any) -> None:
    sim.set_faults(plan(FaultKind.OUT_OF_ORDER, rows=2, count=2))
    page = await exchange.publicGetKlines(KLINES)
    times = [row[0] for row in page]
    assert times != sorted(times) and sorted(page) == truth(sim)
    # ccxt sorts OHLCV by time, which hides this fault from fetch_ohlcv users
    parsed = await exchange.fetch_ohlcv("BTC/USDT", "1m", since=PAGE_START, limit=50)
    assert [c[0] for c in parsed] == [row[0] for row in truth(sim)]


async def test_transient_gap(sim: SimulatorHandle, exchange: Any) -> None:
    sim.set_faults(plan(FaultKind.GAP, rows=4))
    page = await exchange.publicGetKlines(KLINES)
    assert len(page) == 46 and page[0] == truth(sim)[0] and page[-1] == truth(sim)[-1]
    assert any(b[0] - a[0] == 5 * MINUTE for a, b in itertools.pairwise(page))
    assert await exchange.publicGetKlines(KLINES) == truth(sim)


@pytest.mark.parametrize("kind", [FaultKind.NAN, FaultKind.NEGATIVE])
async def test_bad_values(sim: SimulatorHandle, exchange: Any, kind: FaultKind) -> None:
    await exchange.load_markets()
    sim.set_faults(plan(kind, rows=2))
    parsed = await exchange.fetch_ohlcv("BTC/USDT", "1m", since=PAGE_START, limit=50)
    values = [v for candle in parsed for v in candle[1:]]
    if kind is FaultKind.NAN:
        assert any(math.isnan(v) for v in values)
    else:
        assert any(v < 0 for v in values)
    assert sum(1 for v in values if math.isnan(v) or v < 0) <= 2


async def test_count_only_hits_the_configured_path(sim: SimulatorHandle, exchange: Any) -> None:
    await exchange.load_markets()
    sim.set_faults(plan(FaultKind.SERVER_ERROR, count=2, path="/api/v3/depth"))
    assert len(await exchange.fetch_ohlcv("BTC/USDT", "1m", limit=5)) == 5
    for _ in range(2):
        with pytest.raises(ccxt.ExchangeNotAvailable):
            await exchange.fetch_order_book("BTC/USDT", 5)
    assert len((await exchange.fetch_order_book("BTC/USDT", 5))["bids"]) == 5


async def test_probabilistic_faults_are_reproducible(http: aiohttp.ClientSession) -> None:
    rule = FaultRule(FaultKind.SERVER_ERROR, probability=0.5, path=KLINES_PATH)
    patterns = []
    for _ in range(2):
        async with running_simulator(make_config(faults=FaultPlan(rules=(rule,), seed=3))) as sim:
            patterns.append([(await raw_klines(http, sim))[0] for _ in range(30)])
    assert patterns[0] == patterns[1]
    assert 5 < patterns[0].count(500) < 25


async def test_outage_switch(sim: SimulatorHandle, exchange: Any) -> None:
    await exchange.load_markets()
    sim.set_outage(True)
    for _ in range(3):
        with pytest.raises(ccxt.ExchangeNotAvailable, match="503"):
            await exchange.fetch_ticker("BTC/USDT")
        assert exchange.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "22"
    sim.set_outage(False)
    assert (await exchange.fetch_ticker("BTC/USDT"))["symbol"] == "BTC/USDT"
    assert sim.stats.outage_rejections == 3


async def test_faults_can_be_configured_at_start(make_exchange: ExchangeFactory) -> None:
    async with running_simulator(make_config(faults=FaultPlan(outage=True))) as sim:
        with pytest.raises(ccxt.ExchangeNotAvailable):
            await make_exchange(sim).load_markets()


async def test_control_api(sim: SimulatorHandle, http: aiohttp.ClientSession) -> None:
    base = sim.base_url
    rules = [
        {"kind": "gap", "count": 1, "path": KLINES_PATH, "rows": 2},
        {"kind": "nan", "probability": 0.0},
    ]
    async with http.post(f"{base}/sim/faults", json={"rules": rules}) as response:
        assert response.status == 200
        assert (await response.json())["remaining"] == [1, 0]
    assert len(json.loads((await raw_klines(http, sim))[1])) == 48
    async with http.post(f"{base}/sim/faults", json={"outage": True}) as response:
        assert (await response.json())["plan"]["outage"] is True
    assert (await raw_klines(http, sim))[0] == 503
    async with http.get(f"{base}/sim/stats") as response:
        stats = await response.json()
    assert (
        stats["requests"] == 2
        and stats["faults_injected"] == {"gap": 1}
        and stats["outage"] is True
    )
    assert stats["weight_used"] == 2 and stats["outage_rejections"] == 1
    assert stats["responses_by_status"] == {"200": 1, "503": 1}
    async with http.post(f"{base}/sim/faults", json={"rules": [{"kind": "bogus"}]}) as response:
        assert response.status == 400
    async with http.post(f"{base}/sim/reset") as response:
        reset = await response.json()
    assert reset["requests"] == 0 and reset["outage"] is False and reset["weight_used"] == 0
    async with http.get(f"{base}/sim/faults") as response:
        assert (await response.json())["plan"]["rules"] == []
