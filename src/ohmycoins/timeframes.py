"""Candle timeframes: names like `1m` or `4h` and their length in milliseconds."""

from __future__ import annotations

import functools

_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


@functools.cache
def timeframe_ms(timeframe: str) -> int:
    """Length of a timeframe in milliseconds; ValueError for a malformed one."""
    amount, unit = timeframe[:-1], timeframe[-1:]
    if not amount.isdigit() or unit not in _UNIT_MS or int(amount) == 0:
        raise ValueError(f"unknown timeframe {timeframe!r}")
    return int(amount) * _UNIT_MS[unit]


def floor_ts(ts: int, timeframe: str) -> int:
    """Open time of the candle of `timeframe` that contains `ts`."""
    step = timeframe_ms(timeframe)
    return ts - ts % step
