"""Rate limiting: a token bucket per source, shared by every collector of that source.

`acquire(cost)` waits until `cost` units (requests, or request weight) fit in the
budget. `pause(seconds)` empties the bucket when a source says "slow down"
(429 + Retry-After), so no caller sends anything until the source allows it again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from ohmycoins.errors import BannedError


class TokenBucket:
    """`capacity` units refilled at `rate_per_s`; in-process, safe for many tasks."""

    def __init__(
        self,
        rate_per_s: float,
        capacity: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError(f"rate must be > 0, got {rate_per_s}")
        self.rate_per_s = rate_per_s
        self.capacity = capacity if capacity is not None else max(1.0, rate_per_s)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._updated = clock()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    @classmethod
    def per_minute(cls, limit: float, *, burst_seconds: float = 1.0) -> TokenBucket:
        """A bucket for a budget stated per minute, allowing `burst_seconds` of burst."""
        rate = limit / 60
        return cls(rate, capacity=max(1.0, rate * burst_seconds))

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate_per_s)
        self._updated = now

    def wait_time(self, cost: float = 1.0) -> float:
        """Seconds until `cost` units would be available (0 when they are now)."""
        self._refill()
        pause = max(0.0, self._paused_until - self._clock())
        missing = min(cost, self.capacity) - self._tokens
        if missing <= 1e-9:  # float rounding of the refill must not leave a sliver to wait for
            missing = 0.0
        return max(pause, missing / self.rate_per_s)

    async def acquire(self, cost: float = 1.0) -> None:
        """Wait until `cost` units are available, then take them."""
        async with self._lock:
            delay = self.wait_time(cost)
            while delay > 0:  # the delay is computed from the budget, not polled
                await self._sleep(delay)
                delay = self.wait_time(cost)
            self._tokens = max(0.0, self._tokens - min(cost, self.capacity))

    def pause(self, seconds: float) -> None:
        """Send nothing for `seconds` (the source asked us to wait)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        self._tokens = 0.0
        self._updated = self._clock()


class WeightWindow:
    """A request-weight budget per fixed window, as Binance counts it.

    Binance allows `limit` weight per clock-aligned minute and reports the weight used
    so far in each response (`X-MBX-USED-WEIGHT-1M`). We count our own requests,
    take the exchange's count when it is higher (another process shares the IP), and
    when the next request would not fit we wait for the next window plus a margin
    for clock skew. A 429 pauses every caller for Retry-After; a 418 (ban) makes
    every further `acquire` fail at once with `BannedError` until the ban expires.
    """

    def __init__(
        self,
        limit: float,
        window_s: float = 60.0,
        *,
        safety: float = 0.98,
        skew_margin_s: float = 0.25,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.usable = limit * safety
        self.skew_margin_s = skew_margin_s
        self._clock = clock
        self._sleep = sleep
        self._window = self._current_window()
        self._used = 0.0
        self._paused_until = 0.0
        self.banned_until = 0.0
        self.spent = 0.0
        """Weight sent in total, for utilisation reports."""
        self.rate_limited = 0
        self.banned = 0
        self._lock = asyncio.Lock()

    def _current_window(self) -> int:
        return int(self._clock() // self.window_s)

    def _roll(self) -> None:
        window = self._current_window()
        if window != self._window:
            self._window, self._used = window, 0.0

    def used(self) -> float:
        """Weight counted in the current window."""
        self._roll()
        return self._used

    async def acquire(self, cost: float = 1.0) -> None:
        """Wait until `cost` fits in the budget; BannedError while banned."""
        async with self._lock:
            while True:
                now = self._clock()
                if now < self.banned_until:
                    raise BannedError(
                        "rate limiter",
                        "banned by the exchange",
                        retry_after=self.banned_until - now,
                    )
                self._roll()
                wait = self._paused_until - now
                if wait <= 0 and self._used + cost <= self.usable:
                    self._used += cost
                    self.spent += cost
                    return
                if wait <= 0:
                    wait = (self._window + 1) * self.window_s - now + self.skew_margin_s
                await self._sleep(wait)

    def observe_used(self, weight: float) -> None:
        """The exchange's own count for the current window (a response header)."""
        self._roll()
        self._used = max(self._used, weight)

    def pause(self, seconds: float) -> None:
        """The exchange answered 429: nobody sends for `seconds`."""
        self.rate_limited += 1
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def ban(self, seconds: float) -> None:
        """The exchange answered 418: stop sending until the ban expires."""
        self.banned += 1
        self.banned_until = max(self.banned_until, self._clock() + seconds)
