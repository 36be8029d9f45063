"""CoinGecko collections: the top-N universe with its market data, price history, and
coin detail (supply, development, community, consensus type)."""

from __future__ import annotations

from ohmycoins.collectors.collect import collect
from ohmycoins.ingest import StoreResult
from ohmycoins.publish import Broker
from ohmycoins.sources.coingecko import CoinGecko, parse_markets, parse_ohlc
from ohmycoins.storage.database import Database

SOURCE = "coingecko"


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
