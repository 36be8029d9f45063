"""What `omc run` collects out of the box, with no keys: the default collectors.

- every exchange of the universe (Binance by default): candles in each configured
  timeframe, tickers, L2 order books and trades of the universe's symbols;
- a live stream (`[streams]`) of Binance's trades, books and tickers of the same
  symbols, held by one worker at a time;
- CoinGecko: the top-N markets every 5 minutes (refreshing the assets table) and
  OHLC history of BTC, ETH and the third-largest coin every hour;
- features: one job per candle series, run after each sync of its candles;
- CoinSpot: all prices, and the books and trades of the universe's coins, every 5
  minutes.

Each ledger module builds its own collectors from the open clients (`Sources`, in
`collectors.clients`); this module only says which modules, in which order.
"""

from __future__ import annotations

from ohmycoins.collectors import (
    alerting,
    backups,
    catalyst,
    coingecko,
    coinspot,
    defillama,
    features,
    glass,
    macro,
    market,
    network,
    news,
    retention,
    social,
    streams,
)
from ohmycoins.collectors.clients import Sources
from ohmycoins.scheduling.registry import Collector, Registry

_LEDGER_MODULES = (
    market, features, streams, coingecko, coinspot, defillama, network, glass, macro,
    catalyst,
)  # fmt: skip
"""Modules whose collectors need only the open `Sources`, in registration order."""


def registry_for(sources: Sources) -> Registry:
    """The default collectors with the settings' `[collectors.NAME]` overrides applied.
    The alerts watch the collectors this registry enables, once it is built."""
    built: list[Registry] = []
    collectors = default_collectors(sources)
    collectors += alerting.default_collectors(sources, lambda: built[0].enabled())
    registry = Registry(collectors).configured(sources.settings.collectors)
    built.append(registry)
    return registry


def default_collectors(sources: Sources) -> list[Collector]:
    """Every default collector of the sources that are open, and the backup."""
    collectors: list[Collector] = []
    for module in _LEDGER_MODULES:
        collectors += module.default_collectors(sources)
    annotate = news.annotator_for(sources.db, sources.settings.sentiment_model_path)
    collectors += news.default_collectors(sources, annotate)
    collectors += social.default_collectors(sources, annotate)
    collectors += backups.default_collectors(sources)
    collectors += retention.default_collectors(sources)
    return collectors
