"""Binance's IP request-weight limiter: a fixed window, a 429 warning, then a 418 ban.

Binance adds every request's weight to a counter that resets at each wall-clock minute
boundary and reports it in ``X-MBX-USED-WEIGHT-1M``.  A request that takes the counter
over the limit gets 429 with ``Retry-After`` (seconds until the window ends); a client
that sends anything else before then is banned with 418 for a while.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Admission:
    """The limiter's verdict on one request."""

    status: int
    used: int
    retry_after: int = 0
    banned_until: float = 0.0


class WeightLimiter:
    """Counts weight per fixed window and decides 200 / 429 / 418."""

    def __init__(
        self, limit: int, window_seconds: float, ban_seconds: float, clock: Callable[[], float]
    ) -> None:
        if limit < 1 or window_seconds <= 0 or ban_seconds <= 0:
            raise ValueError("limit, window_seconds and ban_seconds must be positive")
        self.limit = limit
        self.window_seconds = window_seconds
        self.ban_seconds = ban_seconds
        self._clock = clock
        self.reset()

    def reset(self) -> None:
        """Forget all weight, warnings and bans."""
        self._window = -1
        self._used = 0
        self._blocked_until = 0.0
        self._banned_until = 0.0

    def _roll(self, now: float) -> None:
        window = math.floor(now / self.window_seconds)
        if window != self._window:
            self._window = window
            self._used = 0

    def used(self) -> int:
        """Weight used in the current window."""
        self._roll(self._clock())
        return self._used

    def admit(self, weight: int) -> Admission:
        """Count ``weight`` (every request counts) and decide whether to serve it."""
        now = self._clock()
        self._roll(now)
        self._used += weight
        if now < self._banned_until:
            return Admission(
                418, self._used, _seconds(self._banned_until - now), self._banned_until
            )
        if now < self._blocked_until:
            self._banned_until = now + self.ban_seconds
            return Admission(418, self._used, _seconds(self.ban_seconds), self._banned_until)
        if self._used > self.limit:
            self._blocked_until = (self._window + 1) * self.window_seconds
            return Admission(429, self._used, _seconds(self._blocked_until - now))
        return Admission(200, self._used)


def _seconds(duration: float) -> int:
    return max(1, math.ceil(duration))
