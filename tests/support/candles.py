"""Candles for tests: a seeded random walk with exact two-decimal prices, and what a
run of candles aggregates to, computed independently of the code under test."""

from __future__ import annotations

import random
from decimal import Decimal
from fractions import Fraction

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


def aggregate(parts: list[Candle]) -> tuple[Decimal, Decimal, Decimal, Decimal, Fraction]:
    """Open, high, low, close and exact volume of `parts` (in any order) as one candle."""
    ordered = sorted(parts, key=lambda c: c.ts)
    volume = sum((Fraction(c.volume) for c in ordered if c.volume is not None), Fraction(0))
    return (
        ordered[0].open,
        max(c.high for c in ordered),
        min(c.low for c in ordered),
        ordered[-1].close,
        volume,
    )
