"""CoinSpot collections over its public API v2: tickers, order books, completed trades.

ccxt's `coinspot` covers only public tickers (its books and trades need keys), so
CoinSpot's public endpoints have their own source module."""

from __future__ import annotations

from ohmycoins.collectors.collect import collect
from ohmycoins.ingest import StoreResult
from ohmycoins.publish import Broker
from ohmycoins.sources.coinspot import (
    CoinSpot,
    market_symbol,
    parse_completed_orders,
    parse_latest,
    parse_open_orders,
)
from ohmycoins.storage.database import Database

SOURCE = "coinspot"


async def collect_tickers(api: CoinSpot, db: Database, broker: Broker | None) -> StoreResult:
    """Latest prices of every coin CoinSpot lists."""
    return await collect(db, broker, SOURCE, api.fetch_latest, parse_latest)


async def collect_order_book(
    api: CoinSpot, db: Database, broker: Broker | None, coin: str, market: str = "AUD"
) -> StoreResult:
    """The open buy and sell orders of one coin, as an L2 snapshot."""
    symbol = market_symbol(coin, market)
    return await collect(
        db,
        broker,
        SOURCE,
        lambda: api.fetch_open_orders(coin, market),
        lambda raw, at: parse_open_orders(raw, symbol, at),
    )


async def collect_trades(
    api: CoinSpot, db: Database, broker: Broker | None, coin: str, market: str = "AUD"
) -> StoreResult:
    """Recently completed orders of one coin (stable ids, so re-polling adds no duplicate)."""
    symbol = market_symbol(coin, market)
    return await collect(
        db,
        broker,
        SOURCE,
        lambda: api.fetch_completed_orders(coin, market),
        lambda raw, _at: parse_completed_orders(raw, symbol),
    )
