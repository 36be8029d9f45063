"""A frozen-clock exchange simulator and clients of the real ccxt code aimed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest

from ohmycoins.records import Candle
from ohmycoins.scheduling.policy import Policy
from ohmycoins.scheduling.retry import Retry
from ohmycoins.settings import SourceSettings
from ohmycoins.sim import SimulatorConfig, SimulatorHandle, running_simulator
from ohmycoins.sources.exchange import ExchangeClient

MINUTE = 60_000
NOW_MS = 1_760_000_123_456  # mid-minute on purpose
LISTED_MS = 1_759_276_800_000  # 2025-10-01T00:00:00Z
SINCE_MS = 1_759_708_800_000  # 2025-10-06T00:00:00Z: three days and a bit before NOW
HOLE = (1_759_800_000_000, 1_759_801_800_000)  # a 30-minute maintenance window
SYMBOLS = {"BTC/USDT": "BTCUSDT", "ETH/USDT": "ETHUSDT", "SOL/USDT": "SOLUSDT"}


def sim_config(**overrides: Any) -> SimulatorConfig:
    values: dict[str, Any] = {
        "seed": 11,
        "symbols": tuple(SYMBOLS.values()),
        "start_ms": LISTED_MS,
        "holes": (HOLE,),
        "now_ms": lambda: NOW_MS,
    }
    return SimulatorConfig(**{**values, **overrides})


def now() -> int:
    return NOW_MS


def retries(attempts: int = 4) -> Retry:
    """The scheduler's retry rule with `attempts` and a 10 ms backoff: a test waits little."""
    return Retry(Policy(max_attempts=attempts, backoff_initial_seconds=0.01))


@pytest.fixture
async def sim() -> AsyncIterator[SimulatorHandle]:
    async with running_simulator(sim_config()) as handle:
        yield handle


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., ExchangeClient]]:
    made: list[ExchangeClient] = []

    def build(handle: SimulatorHandle, **options: Any) -> ExchangeClient:
        client = ExchangeClient("binance", SourceSettings(url=handle.base_url), **options)
        made.append(client)
        return client

    yield build
    for client in made:
        await client.close()


def truth(
    handle: SimulatorHandle, symbol: str, timeframe: str, since: int, until: int
) -> list[Candle]:
    """The simulator's own candles with open time in [since, until), as records."""
    rows: list[list[Any]] = []
    start = since
    while start < until:
        page = handle.model.klines(
            SYMBOLS[symbol], timeframe, start_ms=start, end_ms=until - 1, limit=1000
        )
        if not page:
            break
        rows += page
        start = page[-1][0] + 1
    return [
        Candle(
            "binance", symbol, timeframe, row[0], *(Decimal(v) for v in row[1:5]), Decimal(row[5])
        )
        for row in rows
    ]
