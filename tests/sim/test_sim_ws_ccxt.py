"""ccxt.pro's real binance class on the simulator's websocket: what it parses from the
streams equals what the simulator's REST serves and its own book holds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.pro
import pytest

from ohmycoins.sim import FaultKind, FaultPlan, FaultRule, SimulatorHandle, running_simulator
from ohmycoins.sources.exchange import rewrite_hosts

from .support import MINUTE, MarketClock, make_config

RATE = 20.0  # trades and book changes a second, per symbol


@pytest.fixture
def running_clock() -> MarketClock:
    return MarketClock(speed=10.0)


@pytest.fixture
async def running_sim(running_clock: MarketClock) -> AsyncIterator[SimulatorHandle]:
    async with running_simulator(make_config(now_ms=running_clock, stream_rate=RATE)) as handle:
        yield handle


@pytest.fixture
async def pro(running_sim: SimulatorHandle) -> AsyncIterator[Any]:
    """ccxt.pro binance with REST and websocket URLs aimed at the simulator."""
    exchange = ccxt.pro.binance({"enableRateLimit": False, "options": {"tradesLimit": 1000}})
    exchange.urls["api"] = rewrite_hosts(exchange.urls["api"], running_sim.base_url)
    exchange.urls["api"]["ws"]["spot"] = running_sim.ws_url
    exchange.timeout_on_exit = 0
    yield exchange
    await exchange.close()


def dec(value: float) -> Decimal:
    return Decimal(repr(value))


async def watched_trades(pro: Any, symbol: str, count: int) -> dict[int, Any]:
    """At least `count` trades of `symbol` from `watch_trades`, by id."""
    seen: dict[int, Any] = {}
    while len(seen) < count:
        for trade in await pro.watch_trades(symbol):
            seen[int(trade["id"])] = trade
    return seen


async def test_watch_trades_are_consecutive_and_rest_serves_the_same(
    running_sim: SimulatorHandle, pro: Any, running_clock: MarketClock
) -> None:
    seen = await watched_trades(pro, "BTC/USDT", 60)
    ids = sorted(seen)
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    rest = running_sim.model.trades("BTCUSDT", from_id=ids[0], limit=len(ids))
    assert [row["id"] for row in rest] == ids
    for row in rest:
        trade = seen[row["id"]]
        assert trade["timestamp"] == row["time"]
        assert (dec(trade["price"]), dec(trade["amount"])) == (
            Decimal(row["price"]),
            Decimal(row["qty"]),
        )
        assert trade["side"] == ("sell" if row["isBuyerMaker"] else "buy")


async def test_watch_agg_trades_fill_from_rest_by_from_id(
    running_sim: SimulatorHandle, pro: Any
) -> None:
    pro.options["watchTrades"] = {"name": "aggTrade"}
    seen = await watched_trades(pro, "ETH/USDT", 20)
    ids = sorted(seen)
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    filled = await pro.fetch_trades("ETH/USDT", params={"fromId": ids[0], "limit": len(ids)})
    assert [int(t["id"]) for t in filled] == ids
    assert [(dec(t["price"]), dec(t["amount"])) for t in filled] == [
        (dec(seen[i]["price"]), dec(seen[i]["amount"])) for i in ids
    ]


async def test_watch_order_book_syncs_and_equals_the_simulator_book(
    running_sim: SimulatorHandle, pro: Any, running_clock: MarketClock
) -> None:
    book = await pro.watch_order_book("BTC/USDT")
    first_nonce = book["nonce"]
    while book["nonce"] < first_nonce + 200:  # many diffs applied on top of the snapshot
        book = await pro.watch_order_book("BTC/USDT")
    running_clock.freeze()
    truth = running_sim.model.book("BTCUSDT")
    while book["nonce"] < truth.last_update_id:
        book = await pro.watch_order_book("BTC/USDT")
    assert book["nonce"] == truth.last_update_id
    depth = running_sim.model.depth("BTCUSDT", 100)
    for side in ("bids", "asks"):
        ours = [[dec(p), dec(q)] for p, q in book[side][:100]]
        assert ours == [[Decimal(p), Decimal(q)] for p, q in depth[side]]
    assert book["bids"][0][0] < book["asks"][0][0]
    assert running_sim.stats.requests_by_path.get("/api/v3/depth") == 1


async def test_watch_ticker_is_the_rolling_day(running_sim: SimulatorHandle, pro: Any) -> None:
    ticker = await pro.watch_ticker("SOL/USDT", {"name": "ticker"})
    truth = running_sim.model.ticker_24hr("SOLUSDT", at_ms=ticker["timestamp"])
    assert ticker["info"]["e"] == "24hrTicker"
    assert ticker["timestamp"] % 1000 == 0
    assert dec(ticker["last"]) == Decimal(truth["lastPrice"])
    assert dec(ticker["open"]) == Decimal(truth["openPrice"])
    assert dec(ticker["high"]) == Decimal(truth["highPrice"])
    assert dec(ticker["baseVolume"]) == Decimal(truth["volume"])
    assert dec(ticker["previousClose"]) == Decimal(truth["prevClosePrice"])
    assert ticker["info"]["n"] == truth["count"]
    assert ticker["bid"] < ticker["ask"]


async def test_watch_ticker_default_is_the_mini_ticker(
    running_sim: SimulatorHandle, pro: Any
) -> None:
    ticker = await pro.watch_ticker("ETH/USDT")
    truth = running_sim.model.ticker_24hr("ETHUSDT", at_ms=ticker["timestamp"])
    assert ticker["info"]["e"] == "24hrMiniTicker"
    assert dec(ticker["last"]) == Decimal(truth["lastPrice"])
    assert dec(ticker["quoteVolume"]) == Decimal(truth["quoteVolume"])


async def test_watch_ohlcv_closes_the_minute_as_rest_serves_it(
    running_sim: SimulatorHandle, pro: Any, running_clock: MarketClock
) -> None:
    candles = await pro.watch_ohlcv("BTC/USDT", "1m")
    opened = candles[-1][0]
    while candles[-1][0] == opened:  # until the next minute's first update
        candles = await pro.watch_ohlcv("BTC/USDT", "1m")
    closed = next(c for c in pro.ohlcvs["BTC/USDT"]["1m"] if c[0] == opened)
    row = running_sim.model.klines("BTCUSDT", "1m", start_ms=opened, limit=1)[0]
    assert row[0] == opened and candles[-1][0] == opened + MINUTE
    assert [dec(x) for x in closed[1:]] == [Decimal(x) for x in row[1:6]]


async def test_a_dropped_diff_is_caught_by_ccxt_and_a_fresh_watch_resyncs(
    running_sim: SimulatorHandle, pro: Any, running_clock: MarketClock
) -> None:
    book = await pro.watch_order_book("ETH/USDT")
    snapshot_id = book["nonce"]
    while book["nonce"] == snapshot_id:  # a diff past the snapshot: the next one is not in it
        book = await pro.watch_order_book("ETH/USDT")
    running_sim.set_faults(
        FaultPlan((FaultRule(FaultKind.DROP_FRAME, count=1, path="depth@100ms"),))
    )
    with pytest.raises(ccxt.ChecksumError):
        while True:
            book = await pro.watch_order_book("ETH/USDT")
    assert running_sim.stats.faults_injected == {"drop_frame": 1}
    book = await pro.watch_order_book("ETH/USDT")  # a new snapshot, the same diff stream
    assert running_sim.stats.requests_by_path["/api/v3/depth"] == 2
    running_clock.freeze()
    truth = running_sim.model.book("ETHUSDT")
    while book["nonce"] < truth.last_update_id:
        book = await pro.watch_order_book("ETH/USDT")
    depth = running_sim.model.depth("ETHUSDT", 50)
    assert [[dec(p), dec(q)] for p, q in book["bids"][:50]] == [
        [Decimal(p), Decimal(q)] for p, q in depth["bids"]
    ]


async def test_after_a_disconnect_ccxt_reconnects_and_rest_fills_the_gap(
    running_sim: SimulatorHandle, pro: Any
) -> None:
    before = await pro.watch_trades("BTC/USDT")
    running_sim.set_faults(FaultPlan((FaultRule(FaultKind.DISCONNECT, count=1, path="trade"),)))
    with pytest.raises(ccxt.NetworkError):
        while True:
            await pro.watch_trades("BTC/USDT")
    after = await pro.watch_trades("BTC/USDT")  # a new connection
    assert running_sim.stats.websocket["connections"] == 2
    last_seen, first_new = int(before[-1]["id"]), int(after[-1]["id"])
    pro.apiKey = "any"  # ccxt asks for one before calling historicalTrades
    filled = await pro.publicGetHistoricalTrades(
        {"symbol": "BTCUSDT", "fromId": last_seen + 1, "limit": first_new - last_seen}
    )
    assert [row["id"] for row in filled] == list(range(last_seen + 1, first_new + 1))
