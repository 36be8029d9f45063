"""Tickers, order books and trades from the simulator through ccxt's binance class, and
trades from a local Coinbase Exchange through ccxt's coinbaseexchange class."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal

from ohmycoins.collectors.market import collect_order_book, collect_tickers, sync_trades
from ohmycoins.publish import MemoryBroker
from ohmycoins.records import OrderBook, QuarantinedRecord, Ticker, Trade
from ohmycoins.settings import SourceSettings
from ohmycoins.sim import SimulatorHandle
from ohmycoins.sources.exchange import ExchangeClient
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import read_records
from ohmycoins.storage.reads.market import conflict_counts
from ohmycoins.storage.upsert import upsert
from tests.support.coinbase_rest import coinbase_rest, coinbase_trade

from .conftest import SYMBOLS


async def test_tickers_are_stored_and_published(
    sqlite_db: Database, sim: SimulatorHandle, make_client
) -> None:
    client = make_client(sim)
    await client.load_markets()
    broker = MemoryBroker()
    result = await collect_tickers(client, sqlite_db, broker, list(SYMBOLS))
    assert (result.written, result.quarantined) == (3, 0)
    stored = {t.symbol: t for t in read_records(sqlite_db, Ticker)}
    raw = sim.model.ticker_24hr("BTCUSDT")
    btc = stored["BTC/USDT"]
    assert btc.last == Decimal(raw["lastPrice"]) and btc.bid == Decimal(raw["bidPrice"])
    assert btc.base_volume_24h == Decimal(raw["volume"])
    assert btc.bid is not None and btc.ask is not None and btc.bid <= btc.ask
    latest = await broker.get_latest("tickers:binance:BTC/USDT")
    assert latest is not None and latest["last"] == str(btc.last)


async def test_order_book_with_derived_measures(
    sqlite_db: Database, sim: SimulatorHandle, make_client
) -> None:
    client = make_client(sim)
    await client.load_markets()
    result = await collect_order_book(client, sqlite_db, None, "ETH/USDT", depth=20)
    assert result.written == 1
    (book,) = read_records(sqlite_db, OrderBook)
    raw = sim.model.depth("ETHUSDT", 20)
    assert book.bids == tuple((Decimal(p), Decimal(a)) for p, a in raw["bids"])
    assert book.asks == tuple((Decimal(p), Decimal(a)) for p, a in raw["asks"])
    assert book.spread == Decimal(raw["asks"][0][0]) - Decimal(raw["bids"][0][0]) > 0
    assert book.mid is not None and -1 <= book.imbalance <= 1


async def test_trades_sync_by_id_without_gaps(
    sqlite_db: Database, sim: SimulatorHandle, make_client
) -> None:
    client = make_client(sim)
    await client.load_markets()
    first = await sync_trades(client, sqlite_db, None, "SOL/USDT", page_size=200)
    assert first == 200  # no cursor yet: the latest page sets it
    ids = [int(t.trade_id) for t in read_records(sqlite_db, Trade, symbol="SOL/USDT")]
    latest = max(ids)
    truth = sim.model.agg_trades("SOLUSDT", from_id=latest - 199, limit=200)
    assert sorted(ids) == [row["a"] for row in truth]
    again = await sync_trades(client, sqlite_db, None, "SOL/USDT", page_size=200)
    assert again == 0  # the market clock is frozen: nothing new
    stored = read_records(sqlite_db, Trade, symbol="SOL/USDT")
    assert all(t.side in ("buy", "sell") for t in stored)
    by_id = {int(t.trade_id): t for t in stored}
    for row in truth:
        trade = by_id[row["a"]]
        assert (trade.price, trade.amount, trade.ts) == (
            Decimal(row["p"]),
            Decimal(row["q"]),
            row["T"],
        )
        assert trade.side == ("sell" if row["m"] else "buy")


async def test_a_refetched_page_with_a_changed_trade(
    db: Database, sim: SimulatorHandle, make_client
) -> None:
    """Trades stored by an earlier fetch, one of them with another price than the
    exchange now sends: the page counts only the trades it inserted, the changed one is
    quarantined with both versions, and the stored trade is left as it was."""
    client = make_client(sim)
    await client.load_markets()
    latest = sim.model.agg_trades("BTCUSDT", limit=1)[0]["a"]
    page = sim.model.agg_trades("BTCUSDT", from_id=latest - 99, limit=100)
    same, changed = page[10], page[20]
    earlier = [
        Trade(
            "binance",
            "BTC/USDT",
            str(row["a"]),
            row["T"],
            Decimal(row["p"]),
            Decimal(row["q"]),
            "sell" if row["m"] else "buy",
        )
        for row in (same, changed)
    ]
    earlier[1] = dataclasses.replace(earlier[1], price=earlier[1].price + 1)
    upsert(db, earlier)
    stored = await sync_trades(client, db, None, "BTC/USDT", page_size=100)
    assert stored == 98  # the page of 100, less the two trades stored before
    assert len(read_records(db, Trade, symbol="BTC/USDT")) == 100
    [kept] = read_records(db, Trade, trade_id=str(changed["a"]))
    assert kept == earlier[1]  # the stored version stays
    [row] = read_records(db, QuarantinedRecord)
    assert row.rule.endswith(": conflicting_duplicate") and row.source == "binance"
    payload = json.loads(row.payload)
    assert payload["stored"]["price"] == str(earlier[1].price)
    assert payload["received"]["price"] == changed["p"]
    assert conflict_counts(db) == {("trades", "binance"): 1}


async def test_coinbase_trades_sync_by_id_paging_backwards(sqlite_db: Database) -> None:
    """Coinbase pages its trades newest first, older than `after`: each page of the trades
    after the stored one is asked for as the page below the id just past it."""
    rows = [coinbase_trade(i) for i in range(1, 1501)]
    async with coinbase_rest({"BTC-USD": rows}) as rest:
        client = ExchangeClient("coinbaseexchange", SourceSettings(url=rest.url))
        try:
            await client.load_markets()
            first = await sync_trades(client, sqlite_db, None, "BTC/USD")
            rows += [coinbase_trade(i) for i in range(1501, 3701)]
            more = await sync_trades(client, sqlite_db, None, "BTC/USD")
        finally:
            await client.close()
    assert (first, more) == (1000, 2200)  # the latest page sets the cursor; then the rest
    ids = sorted(int(t.trade_id) for t in read_records(sqlite_db, Trade, symbol="BTC/USD"))
    assert ids == list(range(501, 3701))
    assert rest.trade_queries == [
        {"limit": "1000"},
        {"after": "2501", "limit": "1000"},
        {"after": "3501", "limit": "1000"},
        {"after": "4501", "limit": "1000"},  # 3501..3700 of the newest page: the end
    ]
