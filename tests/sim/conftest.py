"""Fixtures for the simulator tests: a frozen-clock simulator and ccxt clients aimed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import ccxt.async_support as ccxt
import pytest

from ohmycoins.sim import SimulatorHandle, running_simulator

from .support import ManualClock, make_config, point_at

ExchangeFactory = Callable[..., Any]


@pytest.fixture
async def sim() -> AsyncIterator[SimulatorHandle]:
    async with running_simulator(make_config()) as handle:
        yield handle


@pytest.fixture
async def make_exchange() -> AsyncIterator[ExchangeFactory]:
    """Build ccxt binance clients aimed at a simulator; all are closed afterwards."""
    made: list[Any] = []

    def build(handle: SimulatorHandle, **options: Any) -> Any:
        exchange = ccxt.binance({"enableRateLimit": False, **options})
        exchange.timeout_on_exit = 0  # ccxt sleeps 250 ms in close() for TLS; plain HTTP here
        point_at(exchange, handle.base_url)
        made.append(exchange)
        return exchange

    yield build
    for exchange in made:
        await exchange.close()


@pytest.fixture
def exchange(sim: SimulatorHandle, make_exchange: ExchangeFactory) -> Any:
    return make_exchange(sim)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def live(clock: ManualClock) -> AsyncIterator[SimulatorHandle]:
    """A simulator whose market moves only with ``clock``, 20 events a second."""
    async with running_simulator(make_config(now_ms=clock, stream_rate=20.0)) as handle:
        yield handle


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
