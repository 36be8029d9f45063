"""CoinGecko collections: the top-N universe with its market data, price history, and
coin detail (supply, development, community, consensus type)."""

from __future__ import annotations

import math

from ohmycoins.collectors.clients import Sources
from ohmycoins.collectors.collect import collect, collect_each, each_outcome, outcome
from ohmycoins.collectors.ingest import StoreResult
from ohmycoins.publish import Broker
from ohmycoins.scheduling.registry import Collector, RunContext, RunOutcome
from ohmycoins.scheduling.schedule import Schedule
from ohmycoins.sources.coingecko import CoinGecko, parse_markets, parse_ohlc
from ohmycoins.storage.database import Database
from ohmycoins.storage.reads.market import read_assets

SOURCE = "coingecko"
OHLC_COINS = ("bitcoin", "ethereum")
"""CoinGecko ids whose history is always kept; the third-largest coin is added."""


async def collect_markets(
    api: CoinGecko, db: Database, broker: Broker | None, vs_currency: str, top_n: int
) -> StoreResult:
    """Snapshots of the top `top_n` coins by market cap; refreshes the assets table
    (ids, names, ranks) from the same answer."""
    return await collect(
        db,
        broker,
        SOURCE,
        lambda: api.fetch_markets(vs_currency, top_n),
        lambda raw, at: parse_markets(raw, vs_currency, at),
    )


async def collect_ohlc(
    api: CoinGecko,
    db: Database,
    broker: Broker | None,
    coin_id: str,
    symbol: str,
    vs_currency: str,
    days: int,
) -> StoreResult:
    """CoinGecko's OHLC candles of one coin (exchange `coingecko`, no volume)."""
    return await collect(
        db,
        broker,
        SOURCE,
        lambda: api.fetch_ohlc(coin_id, vs_currency, days),
        lambda raw, _at: parse_ohlc(raw, symbol, vs_currency, days),
    )


def default_collectors(sources: Sources) -> list[Collector]:
    """The top-N markets every 5 minutes (refreshing the assets table) and OHLC history
    of BTC, ETH and the third-largest coin every hour, when CoinGecko is open."""
    if sources.coingecko is None:
        return []
    return _coingecko_collectors(sources, sources.coingecko)


def _coingecko_collectors(sources: Sources, api: CoinGecko) -> list[Collector]:
    universe = sources.settings.universe

    async def markets(_context: RunContext) -> RunOutcome:
        result = await collect_markets(
            api, sources.db, sources.broker, universe.quote_currency, universe.top_n
        )
        return outcome(result, 2 * universe.top_n)

    async def history(_context: RunContext) -> RunOutcome:
        async def one(coin: tuple[str, str]) -> StoreResult:
            coin_id, symbol = coin
            return await collect_ohlc(
                api, sources.db, sources.broker, coin_id, symbol, universe.quote_currency, 1
            )

        coins = _ohlc_coins(sources.db)
        report = await collect_each(coins, one, "coin", lambda coin: coin[0])
        return each_outcome(report, 0)

    pages = math.ceil(universe.top_n / 250)
    return [
        Collector(
            "coingecko_markets",
            "exchange",
            "coingecko",
            Schedule.every(300),
            markets,
            priority=7,
            calls_per_run=pages,
        ),
        Collector(
            "coingecko_ohlc",
            "exchange",
            "coingecko",
            Schedule.every(3600),
            history,
            priority=4,
            calls_per_run=len(OHLC_COINS) + 1,
        ),
    ]


def _ohlc_coins(db: Database) -> list[tuple[str, str]]:
    """BTC, ETH and the third-largest coin by rank, as (CoinGecko id, symbol)."""
    assets = read_assets(db)
    known = {asset.asset_id: asset.symbol for asset in assets}
    third = next((asset.asset_id for asset in assets if asset.rank == 3), None)
    wanted = [*OHLC_COINS, *([third] if third and third not in OHLC_COINS else [])]
    fallback = {"bitcoin": "BTC", "ethereum": "ETH"}
    return [(coin, known.get(coin) or fallback.get(coin, coin.upper())) for coin in wanted]
