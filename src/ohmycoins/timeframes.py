"""Time: the clock every layer reads (epoch milliseconds) and candle timeframes
(names like `1m` or `4h` and their length in milliseconds)."""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime, timedelta

TIMEFRAMES = ("1m", "5m", "15m", "30m", "1h", "4h", "1d")
"""The timeframes collected and served."""

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
MIN_TS = -2_208_988_800_000
"""1900-01-01T00:00:00Z, the earliest time a record may hold. Times before 1970 are
negative epoch ms and real (FRED series reach back to 1947); one before 1900 is a
unit mistake (seconds read as ms would be near 1970, not before 1900; a broken date
could be) rather than history any source here publishes."""

_UNIT_MS = {"s": 1_000, "m": 60_000, "h": HOUR_MS, "d": DAY_MS, "w": 7 * DAY_MS}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


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


def now_ms() -> int:
    """The current time in UTC epoch milliseconds."""
    return time.time_ns() // 1_000_000


def datetime_ms(moment: datetime) -> int:
    """Epoch milliseconds of a datetime (naive means UTC): exact, and floored before
    1970 too (a fraction of a millisecond is dropped)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _ONE_MS


def iso_date(ts_ms: int) -> str:
    """The UTC date of an epoch-ms time, as `YYYY-MM-DD`."""
    return datetime.fromtimestamp(ts_ms / 1000, UTC).date().isoformat()
