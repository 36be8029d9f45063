"""Binance kline intervals as buckets of whole minutes.

Every interval the simulator serves is a union of 1m candles: fixed-width intervals are
aligned to the Unix epoch like Binance's (``1w`` starts on Monday 00:00 UTC) and ``1M``
follows calendar months.  Working in minute indices (``open_time_ms // 60_000``) keeps
the aggregation code free of millisecond arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MINUTE_MS = 60_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MONDAY_OFFSET = 4 * 1440  # 1970-01-05 was the first Monday after the epoch

_FIXED_MINUTES: dict[str, int] = {
    "1m": 1,
    "3m": 3,
    "5m": 5,
    "15m": 15,
    "30m": 30,
    "1h": 60,
    "2h": 120,
    "4h": 240,
    "6h": 360,
    "8h": 480,
    "12h": 720,
    "1d": 1440,
    "1w": 10080,
}


@dataclass(frozen=True)
class Interval:
    """A kline interval; ``minutes`` is 0 for the calendar month."""

    name: str
    minutes: int
    offset: int = 0

    def start(self, minute: int) -> int:
        """Start minute of the bucket that contains ``minute``."""
        if self.minutes == 0:
            when = _EPOCH + timedelta(minutes=minute)
            return _minute_of(when.year, when.month)
        return (minute - self.offset) // self.minutes * self.minutes + self.offset

    def next(self, start: int) -> int:
        """Start minute of the bucket after the one starting at ``start``."""
        if self.minutes == 0:
            when = _EPOCH + timedelta(minutes=start)
            year, month = (when.year + 1, 1) if when.month == 12 else (when.year, when.month + 1)
            return _minute_of(year, month)
        return start + self.minutes

    def previous(self, start: int) -> int:
        """Start minute of the bucket before the one starting at ``start``."""
        if self.minutes == 0:
            return self.start(start - 1)
        return start - self.minutes

    def first_at_or_after(self, minute: int) -> int:
        """Start minute of the first bucket whose start is not before ``minute``."""
        start = self.start(minute)
        return start if start == minute else self.next(start)


def _minute_of(year: int, month: int) -> int:
    delta = datetime(year, month, 1, tzinfo=UTC) - _EPOCH
    return int(delta.total_seconds()) // 60


def parse_interval(name: str) -> Interval:
    """Return the interval called ``name``; raise ``KeyError`` if Binance has none such here."""
    if name == "1M":
        return Interval(name, 0)
    minutes = _FIXED_MINUTES[name]
    return Interval(name, minutes, _MONDAY_OFFSET if name == "1w" else 0)
