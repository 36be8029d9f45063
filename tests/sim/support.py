"""Shared constants and helpers of the simulator tests."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from ohmycoins.sim import MarketModel, SimulatorConfig

NOW_MS = 1_760_000_123_456  # 2025-10-09T08:55:23.456Z, mid-minute on purpose
START_MS = 1_759_276_800_000  # 2025-10-01T00:00:00Z, the simulated listing
HOLE = (1_759_500_000_000, 1_759_501_800_000)  # a 30-minute maintenance window
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
MINUTE = 60_000


def point_at(exchange: Any, base_url: str) -> None:
    """Send every request ccxt would make to ``*.binance.com`` to ``base_url`` instead."""
    api = exchange.urls["api"]
    for name, url in api.items():
        if not isinstance(url, str):
            continue
        parts = urlsplit(url)
        if parts.hostname and parts.hostname.endswith("binance.com"):
            api[name] = base_url + parts.path


class FakeClock:
    """A settable clock in epoch seconds for the rate limiter."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def make_config(**overrides: Any) -> SimulatorConfig:
    """The test market: fixed clock, three symbols, one hole."""
    values: dict[str, Any] = {
        "seed": 7,
        "symbols": SYMBOLS,
        "start_ms": START_MS,
        "holes": (HOLE,),
        "now_ms": lambda: NOW_MS,
    }
    values.update(overrides)
    return SimulatorConfig(**values)


def make_model(**overrides: Any) -> MarketModel:
    return MarketModel.from_config(make_config(**overrides))


def minute_rows(model: MarketModel, symbol: str, start_ms: int, end_ms: int) -> list[list[Any]]:
    """All 1m rows opening in [start_ms, end_ms], paging like a client would."""
    rows: list[list[Any]] = []
    while True:
        page = model.klines(symbol, "1m", start_ms=start_ms, end_ms=end_ms, limit=1000)
        rows += page
        if len(page) < 1000:
            return rows
        start_ms = page[-1][0] + MINUTE


def decimals(row: list[Any]) -> list[Decimal]:
    """open, high, low, close, volume of a kline row as Decimals."""
    return [Decimal(value) for value in row[1:6]]


class MarketClock:
    """A market clock for the streams: it runs ``speed`` times faster than the wall
    clock from ``start_ms`` until frozen.  ``freeze`` stops it on the last millisecond
    of a second, so every diff-depth window up to then has been sent."""

    def __init__(self, start_ms: int = NOW_MS, speed: float = 1.0) -> None:
        self.start_ms = start_ms
        self.speed = speed
        self._t0 = time.monotonic()
        self.frozen: int | None = None

    def __call__(self) -> int:
        if self.frozen is not None:
            return self.frozen
        return self.start_ms + int((time.monotonic() - self._t0) * 1000 * self.speed)

    def freeze(self) -> int:
        self.frozen = self() // 1000 * 1000 + 999
        return self.frozen


class ManualClock:
    """A market clock that moves only when a test sets ``now``."""

    def __init__(self, now: int = NOW_MS) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now
