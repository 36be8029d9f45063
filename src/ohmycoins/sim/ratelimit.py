"""Binance's IP limiter: fixed windows, a 429 warning, then a 418 ban.

Binance adds every request's weight (and, for ``RAW_REQUESTS``, the request itself) to
a counter per limit it publishes, reset at each clock-aligned window boundary, and
reports the weight of each request-weight window in ``X-MBX-USED-WEIGHT-<n><unit>``
(``-1M``, ``-10S``).  A request that takes any counter over its limit gets 429 with
``Retry-After`` (seconds until that window ends); a client that sends anything else
before then is banned with 418 for a while.  ``warn`` and ``ban`` answer 429 and 418
on purpose, for the fault plan, with the same consequences.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ohmycoins.sim.config import SimLimit
from ohmycoins.sim.exchange_info import interval


@dataclass(frozen=True)
class Admission:
    """The limiter's verdict on one request; ``limit`` names the limit a 429 broke."""

    status: int
    retry_after: int = 0
    banned_until: float = 0.0
    limit: SimLimit | None = None


class _Window:
    """One limit's counter in its current window."""

    def __init__(self, limit: SimLimit) -> None:
        self.limit = limit
        self.window = -1
        self.used = 0
        name, number = interval(limit.seconds)
        self.header = f"X-MBX-USED-WEIGHT-{number}{name[0]}"

    def roll(self, now: float) -> None:
        window = math.floor(now / self.limit.seconds)
        if window != self.window:
            self.window, self.used = window, 0

    def end(self) -> float:
        return (self.window + 1) * self.limit.seconds


class WeightLimiter:
    """Counts weight and requests per fixed window of every limit and decides 200 / 429
    / 418. The first limit is the main request-weight one (``X-MBX-USED-WEIGHT``), as
    ``SimulatorConfig.limits`` lists them."""

    def __init__(
        self, limits: Sequence[SimLimit], ban_seconds: float, clock: Callable[[], float]
    ) -> None:
        if not limits or ban_seconds <= 0:
            raise ValueError("a limit is required and ban_seconds must be positive")
        self.limits = tuple(limits)
        self.ban_seconds = ban_seconds
        self._clock = clock
        self.reset()

    def reset(self) -> None:
        """Forget all weight, warnings and bans."""
        self._windows = [_Window(limit) for limit in self.limits]
        self._blocked_until = 0.0
        self._banned_until = 0.0

    def _roll(self, now: float) -> None:
        for window in self._windows:
            window.roll(now)

    def used(self) -> int:
        """Weight used in the current window of the main limit."""
        self._roll(self._clock())
        return self._windows[0].used

    def used_headers(self) -> dict[str, str]:
        """``X-MBX-USED-WEIGHT`` and one ``X-MBX-USED-WEIGHT-<n><unit>`` per weight window."""
        self._roll(self._clock())
        headers = {"X-MBX-USED-WEIGHT": str(self._windows[0].used)}
        for window in self._windows:
            if window.limit.kind == "REQUEST_WEIGHT":
                headers.setdefault(window.header, str(window.used))
        return headers

    def admit(self, weight: int) -> Admission:
        """Count ``weight`` (every request counts) and decide whether to serve it."""
        now = self._clock()
        self._roll(now)
        for window in self._windows:
            window.used += weight if window.limit.kind == "REQUEST_WEIGHT" else 1
        if now < self._banned_until:
            return Admission(418, _seconds(self._banned_until - now), self._banned_until)
        if now < self._blocked_until:
            return self.ban(self.ban_seconds)
        over = [window for window in self._windows if window.used > window.limit.limit]
        if over:
            last = max(over, key=lambda window: window.end())
            self._blocked_until = last.end()
            return Admission(429, _seconds(last.end() - now), limit=last.limit)
        return Admission(200)

    def warn(self, seconds: float) -> Admission:
        """Answer 429 with ``Retry-After: seconds``; anything sent before then is banned."""
        now = self._clock()
        self._blocked_until = max(self._blocked_until, now + seconds)
        return Admission(429, _seconds(seconds))

    def ban(self, seconds: float) -> Admission:
        """Ban the client for ``seconds`` (418, with the ban's Retry-After)."""
        now = self._clock()
        self._banned_until = max(self._banned_until, now + seconds)
        remaining = self._banned_until - now
        return Admission(418, _seconds(remaining), self._banned_until)


def _seconds(duration: float) -> int:
    return max(1, math.ceil(duration))
