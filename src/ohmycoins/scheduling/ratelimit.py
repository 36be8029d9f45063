"""Rate limiting: a token bucket per source, shared by every collector of that source.

`acquire(cost)` waits until `cost` units (requests, or request weight) fit in the
budget. `pause(seconds)` empties the bucket when a source says "slow down"
(429 + Retry-After), so no caller sends anything until the source allows it again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    """`capacity` units refilled at `rate_per_s`; in-process, safe for many tasks."""

    def __init__(
        self,
        rate_per_s: float,
        capacity: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError(f"rate must be > 0, got {rate_per_s}")
        self.rate_per_s = rate_per_s
        self.capacity = capacity if capacity is not None else max(1.0, rate_per_s)
        self._clock = clock
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
        missing = max(0.0, min(cost, self.capacity) - self._tokens)
        return max(pause, missing / self.rate_per_s)

    async def acquire(self, cost: float = 1.0) -> None:
        """Wait until `cost` units are available, then take them."""
        async with self._lock:
            delay = self.wait_time(cost)
            while delay > 0:  # the delay is computed from the budget, not polled
                await asyncio.sleep(delay)
                delay = self.wait_time(cost)
            self._tokens -= min(cost, self.capacity)

    def pause(self, seconds: float) -> None:
        """Send nothing for `seconds` (the source asked us to wait)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        self._tokens = 0.0
        self._updated = self._clock()
