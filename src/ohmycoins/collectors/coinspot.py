"""CoinSpot collections over its public API v2: tickers, order books, completed trades.

ccxt's `coinspot` covers only public tickers (its books and trades need keys), so
CoinSpot's public endpoints have their own source module."""

from __future__ import annotations

from ohmycoins.collectors.clients import Sources
from ohmycoins.collectors.collect import collect, collect_each, each_outcome, outcome
from ohmycoins.collectors.ingest import StoreResult
from ohmycoins.publish import Broker
from ohmycoins.scheduling.registry import Collector, RunContext, RunOutcome
from ohmycoins.scheduling.schedule import Schedule
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


def default_collectors(sources: Sources) -> list[Collector]:
    """All prices, and the books and trades of the universe's coins, every 5 minutes,
    when CoinSpot is open."""
    if sources.coinspot is None:
        return []
    return _coinspot_collectors(sources, sources.coinspot)


def _coinspot_collectors(sources: Sources, api: CoinSpot) -> list[Collector]:
    """All prices, and the order books and completed trades of the universe's coins."""
    coins = sorted({symbol.split("/")[0] for symbol in sources.settings.universe.symbols})

    async def tickers(_context: RunContext) -> RunOutcome:
        return outcome(await collect_tickers(api, sources.db, sources.broker))

    async def books(_context: RunContext) -> RunOutcome:
        report = await collect_each(
            coins, lambda c: collect_order_book(api, sources.db, sources.broker, c), "order book"
        )
        return each_outcome(report, len(coins))

    async def trades(_context: RunContext) -> RunOutcome:
        report = await collect_each(
            coins, lambda c: collect_trades(api, sources.db, sources.broker, c), "trade list"
        )
        return each_outcome(report)

    every_5_minutes = Schedule.every(300)
    return [
        Collector("coinspot_tickers", "exchange", "coinspot", every_5_minutes, tickers, priority=4),
        Collector(
            "coinspot_orderbooks",
            "exchange",
            "coinspot",
            every_5_minutes,
            books,
            priority=3,
            calls_per_run=len(coins),
        ),
        Collector(
            "coinspot_trades",
            "exchange",
            "coinspot",
            every_5_minutes,
            trades,
            priority=3,
            calls_per_run=len(coins),
        ),
    ]
