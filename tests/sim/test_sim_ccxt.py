"""ccxt's real binance class against the simulator: every parsed value equals the model's."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt
import pytest

from ohmycoins.sim import SimulatorHandle

from .conftest import ExchangeFactory
from .support import HOLE, MINUTE, NOW_MS

PAGE_START = 1_759_800_000_000


def assert_same_candles(parsed: list[list[Any]], rows: list[list[Any]]) -> None:
    """ccxt's float OHLCV equals the wire strings, compared as Decimals."""
    assert len(parsed) == len(rows)
    for candle, row in zip(parsed, rows, strict=True):
        assert candle[0] == row[0]
        assert [Decimal(repr(x)) for x in candle[1:]] == [Decimal(x) for x in row[1:6]]


async def test_stock_ccxt_loads_the_spot_markets(
    sim: SimulatorHandle, make_exchange: ExchangeFactory
) -> None:
    exchange = make_exchange(sim, enableRateLimit=True)
    markets = await exchange.load_markets()
    assert set(markets) == {"BTC/USDT", "ETH/USDT", "SOL/USDT"}
    btc = markets["BTC/USDT"]
    assert btc["id"] == "BTCUSDT" and btc["spot"] and btc["active"]
    assert btc["precision"]["price"] == 0.01 and btc["precision"]["amount"] == 0.00001
    called = sim.stats.requests_by_path
    assert called == {
        "/api/v3/exchangeInfo": 1,
        "/fapi/v1/exchangeInfo": 1,
        "/dapi/v1/exchangeInfo": 1,
    }


async def test_fetch_time_is_the_model_clock(exchange: Any) -> None:
    assert await exchange.fetch_time() == NOW_MS


async def test_fetch_ohlcv_pages_equal_ground_truth(sim: SimulatorHandle, exchange: Any) -> None:
    since = PAGE_START
    for _ in range(3):
        parsed = await exchange.fetch_ohlcv("BTC/USDT", "1m", since=since, limit=1000)
        assert_same_candles(parsed, sim.model.klines("BTCUSDT", "1m", start_ms=since, limit=1000))
        assert parsed[0][0] == since
        since = parsed[-1][0] + MINUTE
    raw = await exchange.publicGetKlines(
        {"symbol": "ETHUSDT", "interval": "1m", "startTime": PAGE_START, "limit": 20}
    )
    assert raw == sim.model.klines("ETHUSDT", "1m", start_ms=PAGE_START, limit=20)


@pytest.mark.parametrize("timeframe", ["5m", "1h", "4h", "1d"])
async def test_fetch_ohlcv_higher_timeframes(
    sim: SimulatorHandle, exchange: Any, timeframe: str
) -> None:
    parsed = await exchange.fetch_ohlcv("SOL/USDT", timeframe, limit=50)
    assert_same_candles(parsed, sim.model.klines("SOLUSDT", timeframe, limit=50))
    assert parsed[-1][0] <= NOW_MS


async def test_fetch_ohlcv_skips_the_maintenance_window(exchange: Any) -> None:
    parsed = await exchange.fetch_ohlcv("ETH/USDT", "1m", since=HOLE[0] - 5 * MINUTE, limit=10)
    times = [c[0] for c in parsed]
    assert times[:5] == [HOLE[0] - (5 - i) * MINUTE for i in range(5)]
    assert times[5:] == [HOLE[1] + i * MINUTE for i in range(5)]


async def test_fetch_ohlcv_until_and_latest(sim: SimulatorHandle, exchange: Any) -> None:
    until = PAGE_START + 9 * MINUTE
    bounded = await exchange.fetch_ohlcv(
        "BTC/USDT", "1m", since=PAGE_START, params={"until": until}
    )
    assert [c[0] for c in bounded] == [PAGE_START + i * MINUTE for i in range(10)]
    latest = await exchange.fetch_ohlcv("BTC/USDT", "1m", limit=3)
    assert latest[-1][0] == NOW_MS // MINUTE * MINUTE


async def test_order_book_levels_and_limits(sim: SimulatorHandle, exchange: Any) -> None:
    for limit in (5, 100, 1000, 5000):
        book = await exchange.fetch_order_book("BTC/USDT", limit)
        assert len(book["bids"]) == len(book["asks"]) == limit
        assert book["bids"][0][0] < book["asks"][0][0]
        assert all(a[0] > b[0] for a, b in itertools.pairwise(book["bids"]))
        assert all(a[0] < b[0] for a, b in itertools.pairwise(book["asks"]))
    truth = sim.model.depth("BTCUSDT", 5)
    book = await exchange.fetch_order_book("BTC/USDT", 5)
    assert book["nonce"] == truth["lastUpdateId"]
    assert [[Decimal(repr(p)), Decimal(repr(q))] for p, q in book["bids"]] == [
        [Decimal(p), Decimal(q)] for p, q in truth["bids"]
    ]


async def test_fetch_trades_uses_agg_trades_and_pages_by_from_id(
    sim: SimulatorHandle, exchange: Any
) -> None:
    first = await exchange.fetch_trades("BTC/USDT", since=PAGE_START, limit=500)
    assert first[0]["timestamp"] >= PAGE_START
    more = await exchange.fetch_trades(
        "BTC/USDT", limit=500, params={"fromId": int(first[-1]["id"]) + 1}
    )
    ids = [int(t["id"]) for t in first + more]
    assert ids == list(range(ids[0], ids[0] + 1000))
    assert sim.stats.requests_by_path["/api/v3/aggTrades"] == 2
    truth = sim.model.agg_trades("BTCUSDT", from_id=ids[0], limit=1000)
    assert [t["info"] for t in first + more] == truth


async def test_recent_and_historical_trades(
    sim: SimulatorHandle, make_exchange: ExchangeFactory
) -> None:
    exchange = make_exchange(sim, apiKey="not-checked")
    recent = await exchange.publicGetTrades({"symbol": "ETHUSDT", "limit": 100})
    assert recent == sim.model.trades("ETHUSDT", limit=100)
    assert recent[-1]["time"] <= NOW_MS
    start = recent[0]["id"] - 2000
    older = await exchange.publicGetHistoricalTrades(
        {"symbol": "ETHUSDT", "limit": 1000, "fromId": start}
    )
    assert [t["id"] for t in older] == list(range(start, start + 1000))


async def test_tickers(sim: SimulatorHandle, exchange: Any) -> None:
    ticker = await exchange.fetch_ticker("ETH/USDT")
    assert ticker["info"] == sim.model.ticker_24hr("ETHUSDT")
    assert ticker["last"] == float(sim.model.ticker_price("ETHUSDT")["price"])
    tickers = await exchange.fetch_tickers()
    assert set(tickers) == {"BTC/USDT", "ETH/USDT", "SOL/USDT"}
    some = await exchange.fetch_tickers(["BTC/USDT", "SOL/USDT"])
    assert set(some) == {"BTC/USDT", "SOL/USDT"}
    books = await exchange.fetch_bids_asks()
    assert books["SOL/USDT"]["info"] == sim.model.book_ticker("SOLUSDT")


async def test_binance_errors_map_to_ccxt_exceptions(exchange: Any) -> None:
    with pytest.raises(ccxt.BadSymbol, match="-1121"):
        await exchange.publicGetKlines({"symbol": "NOPEUSDT", "interval": "1m"})
    with pytest.raises(ccxt.BadRequest, match="-1120"):
        await exchange.publicGetKlines({"symbol": "BTCUSDT", "interval": "7m"})
    with pytest.raises(ccxt.BadRequest, match="-1102"):
        await exchange.publicGetKlines({"symbol": "BTCUSDT"})
    with pytest.raises(ccxt.BadRequest, match="-1127"):
        await exchange.publicGetAggTrades(
            {"symbol": "BTCUSDT", "startTime": PAGE_START, "endTime": PAGE_START + 3_600_001}
        )
