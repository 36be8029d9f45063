"""The clients of one process (`Sources`): one per source, created once and closed at
exit, so every collector of a source spends the same rate budget. Each ledger module's
`default_collectors(sources)` builds its collectors from the clients that are open.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from ohmycoins.publish import Broker
from ohmycoins.settings import Settings, SourceSettings
from ohmycoins.sources.coingecko import CoinGecko
from ohmycoins.sources.coinspot import CoinSpot
from ohmycoins.sources.exchange import ExchangeClient
from ohmycoins.storage.database import Database

SIM_EXCHANGE = "sim"
"""The id the demo's simulated exchange collects, stores and keeps its circuit under:
never a real exchange's (`binance`), so simulated rows cannot pass for real ones."""


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
    simulator_url: str | None = None
    """The demo's simulator (REST at this URL, its websocket at `/ws`)."""
    stream_stats: dict[str, Any] = field(default_factory=dict)
    """The live streams' counters by stream name (`collectors.streams.StreamStats`)."""

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
        sources = cls(
            settings, db, broker, offline=simulator_url is not None, simulator_url=simulator_url
        )
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
