"""CoinGecko and CoinSpot collections end to end (fetch → parse → check → store →
publish) through their real HTTP path, against a local server replaying small bodies
written in the real shapes."""

from __future__ import annotations

from pathlib import Path

from ohmycoins.collectors import coingecko, coinspot
from ohmycoins.publish import MemoryBroker
from ohmycoins.records import Asset, MarketSnapshot, OrderBook, QuarantinedRecord, Ticker, Trade
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.coingecko import CoinGecko
from ohmycoins.sources.coinspot import CoinSpot
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import read_records
from tests.support.replay import Reply, replay_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


async def test_coingecko_markets_refresh_the_universe(sqlite_db: Database) -> None:
    routes = {"/coins/markets": Reply.file(FIXTURES / "coingecko" / "markets_usd.json")}
    async with (
        replay_server(routes) as url,
        CoinGecko(SourceSettings(url=url, rate_limit=6000)) as api,
    ):
        broker = MemoryBroker()
        result = await coingecko.collect_markets(api, sqlite_db, broker, "usd", 3)
        again = await coingecko.collect_markets(api, sqlite_db, None, "usd", 3)
    snapshots = read_records(sqlite_db, MarketSnapshot)
    assets = read_records(sqlite_db, Asset)
    assert result.written == len(snapshots) + len(assets) == again.written
    assert {a.asset_id for a in assets} >= {"bitcoin"}
    bitcoin = next(s for s in snapshots if s.asset_id == "bitcoin")
    assert str(bitcoin.price) == "64250.12" and bitcoin.rank == 1
    assert await broker.get_latest("market_snapshots") is not None


async def test_coinspot_book_trades_and_tickers(sqlite_db: Database) -> None:
    routes = {
        "/pubapi/v2/latest": Reply.file(FIXTURES / "coinspot" / "latest.json"),
        "/pubapi/v2/orders/open/BTC": Reply.file(FIXTURES / "coinspot" / "orders_open_btc.json"),
        "/pubapi/v2/orders/completed/BTC": Reply.file(
            FIXTURES / "coinspot" / "orders_completed_btc.json"
        ),
    }
    async with (
        replay_server(routes) as url,
        CoinSpot(SourceSettings(url=f"{url}/pubapi/v2")) as api,
    ):
        tickers = await coinspot.collect_tickers(api, sqlite_db, None)
        book = await coinspot.collect_order_book(api, sqlite_db, None, "BTC")
        trades = await coinspot.collect_trades(api, sqlite_db, None, "BTC")
        repeat = await coinspot.collect_trades(api, sqlite_db, None, "BTC")
    assert tickers.written == len(read_records(sqlite_db, Ticker)) > 0
    (stored_book,) = read_records(sqlite_db, OrderBook)
    assert stored_book.symbol == "BTC/AUD" and stored_book.bids[0][0] > stored_book.bids[-1][0]
    assert book.quarantined >= 1  # the fixture's `"amount": "lots"` order
    assert any("amount" in q.rule for q in read_records(sqlite_db, QuarantinedRecord))
    assert trades.written == len(read_records(sqlite_db, Trade)) > 0
    # the same trades again: none inserted, none counted as stored twice
    assert (repeat.written, repeat.unchanged) == (0, trades.written)
