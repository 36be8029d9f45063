"""Rate limiting: a token bucket per source, shared by every collector of that source.

`acquire(cost)` waits until `cost` units (requests, or request weight) fit in the
budget. `pause(seconds)` empties the bucket when a source says "slow down"
(429 + Retry-After), so no caller sends anything until the source allows it again.

`WeightWindow` enforces several `Limit`s at once (an exchange's request weight per
minute and per shorter window, its requests per 5 minutes), as the exchange publishes
them. `TokenBucket` and `WeightWindow` hold their budget in this process;
`ratelimit_redis.py` keeps the same budgets in Redis, for every worker at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class Limit:
    """One budget an exchange enforces: `limit` units per fixed, clock-aligned window of
    `window_s` seconds. The units are request weight, or requests when `per_request`
    (Binance's RAW_REQUESTS)."""

    limit: float
    window_s: float
    per_request: bool = False

    def units(self, cost: float) -> float:
        """What one request of weight `cost` spends of this limit."""
        return 1.0 if self.per_request else cost

    def __str__(self) -> str:
        return f"{self.limit:g} {'requests' if self.per_request else 'weight'}/{self.window_s:g}s"


def strictest(limits: Iterable[Limit]) -> tuple[Limit, ...]:
    """One limit per window length and unit, the lowest where several are given (a
    configured cap and the exchange's published limit), shortest window first."""
    best: dict[tuple[float, bool], Limit] = {}
    for limit in limits:
        if limit.limit <= 0 or limit.window_s <= 0:
            raise ValueError(f"a limit must be positive, got {limit}")
        key = (limit.window_s, limit.per_request)
        if key not in best or limit.limit < best[key].limit:
            best[key] = limit
    return tuple(sorted(best.values(), key=lambda limit: (limit.window_s, limit.per_request)))


class WindowCount:
    """What one limit has counted: its current window's id and units, and the units
    already charged to the next window (requests sent just before the boundary)."""

    __slots__ = ("ahead", "limit", "usable", "used", "window")

    def __init__(self, limit: Limit, safety: float) -> None:
        self.limit = limit
        self.usable = limit.limit * safety
        self.window = -1
        self.used = self.ahead = 0.0

    def roll(self, now: float) -> None:
        window = int(now // self.limit.window_s)
        if window != self.window:
            self.used = self.ahead if window == self.window + 1 else 0.0
            self.window, self.ahead = window, 0.0

    def fits(self, cost: float) -> bool:
        """Whether `cost` fits (a request bigger than the whole budget goes alone)."""
        return self.used <= 0 or self.used + self.limit.units(cost) <= self.usable

    def end(self) -> float:
        return (self.window + 1) * self.limit.window_s


class WeightWindow:
    """Request-weight budgets per fixed windows, as Binance counts them.

    Binance publishes its limits in `exchangeInfo` (request weight per minute, and
    sometimes a shorter window; requests per 5 minutes) and reports the weight used so
    far in each response (`X-MBX-USED-WEIGHT-1M`). A request is charged to every limit
    at once, or waits until all of them have room: we count our own requests, take the
    exchange's count when it is higher (another process shares the IP), and when the
    next request would not fit we wait for the next window plus a margin for clock
    skew. A request sent within that margin of a window's end is charged to the next
    window too, as the exchange may count it there. A 429 pauses every caller for
    Retry-After; a 418 (ban) makes every further `acquire` fail at once with
    `BannedError` until the ban expires.
    """

    def __init__(
        self,
        limit: float,
        window_s: float = 60.0,
        *,
        safety: float = 0.98,
        skew_margin_s: float = 0.25,
        caps: Iterable[Limit] = (),
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.safety = safety
        self.skew_margin_s = skew_margin_s
        self.caps = tuple(caps)
        """Configured limits that cap whatever the exchange publishes."""
        self._clock = clock
        self._sleep = sleep
        self._counts: list[WindowCount] = []
        self._weights: dict[float, WindowCount] = {}
        """The weight limits by window length, shortest first: looked up per answer."""
        self.set_limits([Limit(limit, window_s), *self.caps])
        self._paused_until = 0.0
        self.banned_until = 0.0
        self.spent = 0.0
        """Weight sent in total, for utilisation reports."""
        self.rate_limited = 0
        self.banned = 0
        self._lock = asyncio.Lock()

    @property
    def limits(self) -> tuple[Limit, ...]:
        """The limits in force, shortest window first."""
        return tuple(count.limit for count in self._counts)

    def set_limits(self, limits: Iterable[Limit]) -> bool:
        """Enforce `limits` (the strictest per window) from now on; what was counted in a
        window that stays is kept. True when the limits changed."""
        wanted = strictest(limits)
        if wanted == self.limits:
            return False
        kept = {(c.limit.window_s, c.limit.per_request): c for c in self._counts}
        counts = []
        for limit in wanted:
            count = WindowCount(limit, self.safety)
            old = kept.get((limit.window_s, limit.per_request))
            if old is not None:
                count.window, count.used, count.ahead = old.window, old.used, old.ahead
            counts.append(count)
        self._counts = counts
        self._weights = {c.limit.window_s: c for c in counts if not c.limit.per_request}
        return True

    def publish(self, limits: Iterable[Limit]) -> bool:
        """The exchange published its limits: they replace the assumed ones, capped by
        `caps`. True when the limits changed."""
        return self.set_limits([*limits, *self.caps])

    async def flush(self) -> None:
        """Wait until what this process learnt is shared (nothing to do in-process)."""

    def _count(self, window_s: float | None) -> WindowCount | None:
        """The weight limit of a window length; None: the longest weight window."""
        if window_s is None:
            return next(reversed(self._weights.values()), None)
        return self._weights.get(window_s)

    def _check_ban(self, now: float) -> None:
        """BannedError while the exchange's ban lasts."""
        if now < self.banned_until:
            raise BannedError(
                "rate limiter", "banned by the exchange", retry_after=self.banned_until - now
            )

    def _room_in(self, now: float, cost: float) -> float:
        """Seconds until `cost` fits in every limit (0: now), each rolled to `now`."""
        wait = 0.0
        for count in self._counts:
            count.roll(now)
            if not count.fits(cost):
                wait = max(wait, count.end() - now + self.skew_margin_s)
        return wait

    def _near_end(self, count: WindowCount, now: float) -> bool:
        return count.end() - now <= self.skew_margin_s

    def used(self, window_s: float | None = None) -> float:
        """Weight counted in the current window (default: the longest weight window)."""
        count = self._count(window_s)
        if count is None:
            return 0.0
        count.roll(self._clock())
        return count.used

    def paused_for(self) -> float:
        """Seconds the 429 pause still lasts (0 when there is none)."""
        return max(0.0, self._paused_until - self._clock())

    def banned_for(self) -> float:
        """Seconds the 418 ban still lasts (0 when there is none)."""
        return max(0.0, self.banned_until - self._clock())

    async def wait_out_ban(self) -> None:
        """Sleep until the exchange's ban has expired."""
        remaining = self.banned_for()
        if remaining > 0:
            await self._sleep(remaining)

    async def acquire(self, cost: float = 1.0) -> None:
        """Wait until `cost` fits in every limit; BannedError while banned."""
        async with self._lock:
            while True:
                now = self._clock()
                self._check_ban(now)
                wait = self._paused_until - now
                if wait <= 0:
                    wait = self._room_in(now, cost)
                if wait <= 0:
                    for count in self._counts:
                        units = count.limit.units(cost)
                        count.used += units
                        if self._near_end(count, now):
                            count.ahead += units
                    self.spent += cost
                    return
                await self._sleep(wait)

    def observe_used(self, weight: float, window_s: float | None = None) -> None:
        """The exchange's own count for the current window of `window_s` (a response
        header; default: the longest weight window). A window we do not enforce is
        ignored."""
        count = self._count(window_s)
        if count is not None:
            count.roll(self._clock())
            count.used = max(count.used, weight)

    def pause(self, seconds: float) -> None:
        """The exchange answered 429: nobody sends for `seconds`."""
        self.rate_limited += 1
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def ban(self, seconds: float) -> None:
        """The exchange answered 418: stop sending until the ban expires."""
        self.banned += 1
        self.banned_until = max(self.banned_until, self._clock() + seconds)
