"""The live stream against a local Binance speaking the real websocket format: trades
with holes filled over REST, books checked and resynced, candles stored only closed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from ohmycoins.collectors.streams import Stream, StreamSpec
from ohmycoins.publish import MemoryBroker
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.exchange_ws import ExchangeStream
from ohmycoins.storage.database import Database
from ohmycoins.records import Candle, OrderBook, Trade
from ohmycoins.storage.tables import RECORD_TABLES
from tests.support.binance_ws import (
    CLOSE,
    STALL,
    T0,
    BinanceStub,
    Garbage,
    WaitFor,
    agg_trade,
    binance_stub,
    diff,
    kline,
    snapshot,
    ticker,
)

DEPTH = "btcusdt@depth@100ms"
TRADES = "btcusdt@aggTrade"
KLINE = "btcusdt@kline_1m"


def spec(*channels: str, **options: Any) -> StreamSpec:
    values: dict[str, Any] = {
        "exchange": "binance",
        "symbols": ("BTC/USDT",),
        "channels": channels,
        "batch_seconds": 0.05,
        "snapshot_seconds": 0.05,
        "stale_seconds": 5.0,
        "backoff_initial_seconds": 0.05,
        "depth": 10,
    }
    return StreamSpec(**{**values, **options})


@pytest.fixture
async def streams() -> AsyncIterator[Callable[..., Stream]]:
    made: list[ExchangeStream] = []

    def build(stub: BinanceStub, db: Database, stream_spec: StreamSpec, broker: Any = None) -> Stream:
        client = ExchangeStream("binance", SourceSettings(url=stub.url, ws_url=stub.ws_url))
        made.append(client)
        return Stream(stream_spec, client, db, broker)

    yield build
    for client in made:
        await client.close()


async def run_until(stream: Stream, done: Callable[[], bool], limit: float = 20.0) -> Any:
    """Run the stream until `done()` holds (looked at after each stored batch)."""
    stopping = asyncio.Event()
    job = asyncio.create_task(stream.run(stopping))
    try:
        async with asyncio.timeout(limit):
            while not done():
                if job.done():
                    return await job
                await asyncio.sleep(0.02)
    finally:
        stopping.set()
    return await job


trades = RECORD_TABLES[Trade]
books = RECORD_TABLES[OrderBook]
candles = RECORD_TABLES[Candle]


def stored_ids(db: Database) -> list[int]:
    with db.engine.connect() as conn:
        return sorted(int(i) for i in conn.execute(select(trades.c.trade_id)).scalars())


async def test_trades_missed_while_down_are_fetched_by_id(sqlite_db: Database, streams) -> None:
    rest = [agg_trade(i) for i in range(1, 13)]
    scripts = {TRADES: [[*(agg_trade(i) for i in range(1, 5)), CLOSE], [agg_trade(9), agg_trade(10)]]}
    async with binance_stub(scripts, agg_trades=rest) as stub:
        stream = streams(stub, sqlite_db, spec("trades"))
        outcome = await run_until(stream, lambda: 10 in stored_ids(sqlite_db))
    assert stored_ids(sqlite_db) == list(range(1, 11))
    assert stream.stats.reconnects == 1
    assert stream.stats.filled == 4  # 5..8 over REST
    assert stub.requests["/api/v3/aggTrades"] >= 1
    assert outcome.records_written == 10
