"""What `omc run` collects out of the box, with no keys: the default collectors.

- every exchange of the universe (Binance by default): candles in each configured
  timeframe, tickers, L2 order books and trades of the universe's symbols;
- CoinGecko: the top-N markets every 5 minutes (refreshing the assets table) and
  OHLC history of BTC, ETH and the third-largest coin every hour;
- CoinSpot: all prices, and the books and trades of the universe's coins, every 5
  minutes.

Clients live in `Sources`, one per source for the whole process, so every collector
of a source spends the same rate budget.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sqlalchemy import select

from ohmycoins.collectors import (
    catalyst,
    coingecko,
    coinspot,
    defillama,
    glass,
    macro,
    network,
    news,
    social,
)
from ohmycoins.collectors.candles import CandleSync, SyncReport
from ohmycoins.collectors.collect import combined, outcome
from ohmycoins.collectors.market import collect_order_book, collect_tickers, sync_trades
from ohmycoins.collectors.news import Annotate
from ohmycoins.enrich.annotate import Annotator
from ohmycoins.enrich.sentiment import load_model
from ohmycoins.enrich.tagging import load_tagger
from ohmycoins.publish import Broker
from ohmycoins.quality.scores import QualityScore
from ohmycoins.records import Asset, NewsItem, SocialPost
from ohmycoins.scheduling.registry import Collector, Registry, RunContext, RunOutcome
from ohmycoins.scheduling.schedule import Schedule
from ohmycoins.settings import Settings, SourceSettings
from ohmycoins.sources.coingecko import CoinGecko
from ohmycoins.sources.coinspot import CoinSpot
from ohmycoins.sources.exchange import ExchangeClient
from ohmycoins.storage.database import Database
from ohmycoins.storage.reads.market import read_assets
from ohmycoins.storage.tables import RECORD_TABLES
from ohmycoins.timeframes import HOUR_MS, now_ms, timeframe_ms

SIM_EXCHANGE = "sim"
"""The id the demo's simulated exchange collects, stores and keeps its circuit under:
never a real exchange's (`binance`), so simulated rows cannot pass for real ones."""
HISTORY_CANDLES = 1000
"""How far back a series starts on its first run, in candles of its timeframe."""
OHLC_COINS = ("bitcoin", "ethereum")
"""CoinGecko ids whose history is always kept; the third-largest coin is added."""


class Closeable(Protocol):
    async def aclose(self) -> None: ...


C = TypeVar("C", bound=Closeable)


@dataclass
class Sources:
    """The clients of one process, created once and closed at exit."""

    settings: Settings
    db: Database
    broker: Broker | None
    offline: bool = False
    exchanges: dict[str, ExchangeClient] = field(default_factory=dict)
    coingecko: CoinGecko | None = None
    coinspot: CoinSpot | None = None
    opened: list[Closeable] = field(default_factory=list)

    @property
    def http_options(self) -> dict[str, Any]:
        """Keyword arguments for every HTTP source client of this process.

        The scheduler retries a failed run; an HTTP-level retry under it would multiply
        the attempts (4 x 4) and hold the run for a minute before its own backoff."""
        return {"redis_url": self.settings.redis_url, "attempts": 1}

    def keep(self, client: C) -> C:
        """Register a client to be closed with the others at exit; returns it."""
        self.opened.append(client)
        return client

    @classmethod
    def open(
        cls,
        settings: Settings,
        db: Database,
        broker: Broker | None,
        *,
        simulator_url: str | None = None,
    ) -> Sources:
        """Clients of every enabled source; with `simulator_url` (the demo), only the
        simulator, as the exchange `sim` (Binance's format), and no other source."""
        sources = cls(settings, db, broker, offline=simulator_url is not None)
        if simulator_url is not None:
            simulated = SourceSettings(url=simulator_url)
            sources.exchanges[SIM_EXCHANGE] = ExchangeClient(
                "binance", simulated, redis_url=settings.redis_url, name=SIM_EXCHANGE
            )
            return sources
        for exchange in settings.universe.exchanges:
            if settings.source(exchange).enabled:
                sources.exchanges[exchange] = ExchangeClient(
                    exchange, settings.source(exchange), redis_url=settings.redis_url
                )
        shared = sources.http_options
        if settings.source("coingecko").enabled:
            sources.coingecko = CoinGecko(settings.source("coingecko"), **shared)
        if settings.source("coinspot").enabled:
            sources.coinspot = CoinSpot(settings.source("coinspot"), **shared)
        return sources

    async def close(self) -> None:
        for client in self.exchanges.values():
            await client.close()
        for api in (self.coingecko, self.coinspot, *self.opened):
            if api is not None:
                await api.aclose()


def registry_for(sources: Sources) -> Registry:
    """The default collectors with the settings' `[collectors.NAME]` overrides applied."""
    return Registry(default_collectors(sources)).configured(sources.settings.collectors)


def default_collectors(sources: Sources) -> list[Collector]:
    """Every default collector of the sources that are open."""
    collectors: list[Collector] = []
    for client in sources.exchanges.values():
        collectors += _exchange_collectors(sources, client)
    if sources.coingecko is not None:
        collectors += _coingecko_collectors(sources, sources.coingecko)
    if sources.coinspot is not None:
        collectors += _coinspot_collectors(sources, sources.coinspot)
    for module in _LEDGER_MODULES:
        collectors += module.default_collectors(sources)
    annotate = _annotator(sources.db, sources.settings.sentiment_model_path)
    collectors += news.default_collectors(sources, annotate)
    collectors += social.default_collectors(sources, annotate)
    return collectors


TAGGER_REFRESH_MS = HOUR_MS
"""How often the tagger re-reads the asset universe (it changes with the top-N)."""


def _annotator(db: Database, model_path: str | None) -> Annotate:
    """Tags and sentiment for news and posts, with the universe re-read hourly."""
    annotator = Annotator(load_tagger(read_assets(db, active_only=True)), load_model(model_path))
    loaded = now_ms()

    def annotate(records: list[NewsItem | SocialPost]) -> list[NewsItem | SocialPost]:
        nonlocal loaded
        if now_ms() - loaded >= TAGGER_REFRESH_MS:
            annotator.refresh_tagger(read_assets(db, active_only=True))
            loaded = now_ms()
        return annotator(records)

    return annotate


_LEDGER_MODULES = (defillama, network, glass, macro, catalyst)
"""Modules of the other ledgers; each adds its collectors from the open `Sources`."""


def _exchange_collectors(sources: Sources, client: ExchangeClient) -> list[Collector]:
    symbols = list(sources.settings.universe.symbols)
    snapshots: list[tuple[str, Snapshot, int]] = [
        ("tickers", _tickers, 7),
        ("orderbooks", _books, 5),
        ("trades", _trades, 6),
    ]
    collectors = [
        _candles(sources, client, timeframe, symbols)
        for timeframe in sources.settings.universe.timeframes
    ]
    for kind, action, priority in snapshots:
        run = _snapshot_run(sources, client, symbols, action)
        schedule = Schedule.every(60)
        collectors.append(
            Collector(f"{client.id}_{kind}", "exchange", client.id, schedule, run, priority)
        )
    return collectors


Snapshot = Callable[[Sources, ExchangeClient, list[str]], Awaitable[RunOutcome]]


def _snapshot_run(
    sources: Sources, client: ExchangeClient, symbols: list[str], action: Snapshot
) -> Callable[[RunContext], Awaitable[RunOutcome]]:
    async def run(_context: RunContext) -> RunOutcome:
        await client.load_markets()  # once per process: ccxt caches the markets
        return await action(sources, client, symbols)

    return run


def _candles(
    sources: Sources, client: ExchangeClient, timeframe: str, symbols: list[str]
) -> Collector:
    step = timeframe_ms(timeframe)
    sync = CandleSync(client, sources.db, broker=sources.broker)

    async def run(context: RunContext) -> RunOutcome:
        await client.load_markets()
        since = context.due_ts - HISTORY_CANDLES * step
        reports = [await sync.sync(symbol, timeframe, since) for symbol in symbols]
        return _candle_outcome(reports)

    priority = 8 if timeframe == "1m" else 6
    schedule = Schedule.every(max(60.0, step / 1000))
    return Collector(
        f"{client.id}_candles_{timeframe}", "exchange", client.id, schedule, run, priority=priority
    )


def _candle_outcome(reports: list[SyncReport]) -> RunOutcome:
    worst: QualityScore | None = min(
        (r.quality for r in reports if r.quality), key=lambda q: q.overall, default=None
    )
    failed = sum(r.failed_pages for r in reports)
    return RunOutcome(
        records_written=sum(r.stored for r in reports),
        records_quarantined=sum(r.quarantined for r in reports),
        quality=worst,
        changed=any(r.stored for r in reports),
        problem=f"{failed} page(s) failed" if failed else None,
    )


async def _tickers(sources: Sources, client: ExchangeClient, symbols: list[str]) -> RunOutcome:
    return outcome(await collect_tickers(client, sources.db, sources.broker, symbols), len(symbols))


async def _books(sources: Sources, client: ExchangeClient, symbols: list[str]) -> RunOutcome:
    results = [await collect_order_book(client, sources.db, sources.broker, s) for s in symbols]
    return outcome(combined(results), len(symbols))


async def _trades(sources: Sources, client: ExchangeClient, symbols: list[str]) -> RunOutcome:
    stored = sum([await sync_trades(client, sources.db, sources.broker, s) for s in symbols])
    return RunOutcome(records_written=stored, changed=stored > 0)


def _coingecko_collectors(sources: Sources, api: CoinGecko) -> list[Collector]:
    universe = sources.settings.universe

    async def markets(_context: RunContext) -> RunOutcome:
        result = await coingecko.collect_markets(
            api, sources.db, sources.broker, universe.quote_currency, universe.top_n
        )
        return outcome(result, 2 * universe.top_n)

    async def history(_context: RunContext) -> RunOutcome:
        results = []
        for coin_id, symbol in _ohlc_coins(sources.db):
            results.append(
                await coingecko.collect_ohlc(
                    api, sources.db, sources.broker, coin_id, symbol, universe.quote_currency, 1
                )
            )
        return outcome(combined(results), 0)

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
    assets = RECORD_TABLES[Asset]
    with db.engine.connect() as conn:
        known = dict(conn.execute(select(assets.c.asset_id, assets.c.symbol)).all())
        third = conn.execute(select(assets.c.asset_id).where(assets.c.rank == 3)).scalar()
    wanted = [*OHLC_COINS, *([third] if third and third not in OHLC_COINS else [])]
    fallback = {"bitcoin": "BTC", "ethereum": "ETH"}
    return [(coin, known.get(coin) or fallback.get(coin, coin.upper())) for coin in wanted]


def _coinspot_collectors(sources: Sources, api: CoinSpot) -> list[Collector]:
    """All prices, and the order books and completed trades of the universe's coins."""
    coins = sorted({symbol.split("/")[0] for symbol in sources.settings.universe.symbols})

    async def tickers(_context: RunContext) -> RunOutcome:
        return outcome(await coinspot.collect_tickers(api, sources.db, sources.broker))

    async def books(_context: RunContext) -> RunOutcome:
        results = [
            await coinspot.collect_order_book(api, sources.db, sources.broker, c) for c in coins
        ]
        return outcome(combined(results), len(coins))

    async def trades(_context: RunContext) -> RunOutcome:
        results = [await coinspot.collect_trades(api, sources.db, sources.broker, c) for c in coins]
        return outcome(combined(results))

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
