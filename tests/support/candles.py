"""Candle series for feature tests: a seeded random walk with exact two-decimal prices."""

from __future__ import annotations

import random
from decimal import Decimal

from ohmycoins.records import Candle

MINUTE = 60_000
START = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def random_walk(
    n: int, *, seed: int = 7, symbol: str = "BTC/USDT", start: int = START, step: int = MINUTE,
    timeframe: str = "1m", exchange: str = "binance", volume: bool = True,
) -> list[Candle]:  # fmt: skip
    """`n` closed candles of a random walk around 100 (volume None when `volume` is False)."""
    rng = random.Random(seed)
    close = 10_000  # in cents
    candles = []
    for i in range(n):
        open_ = close
        close = max(100, open_ + rng.randint(-40, 40))
        high = max(open_, close) + rng.randint(0, 15)
        low = min(open_, close) - rng.randint(0, 15)
        amount = Decimal(rng.randint(1, 5000)) / 100 if volume else None
        prices = (Decimal(p) / 100 for p in (open_, high, low, close))
        candles.append(Candle(exchange, symbol, timeframe, start + i * step, *prices, amount))
    return candles
