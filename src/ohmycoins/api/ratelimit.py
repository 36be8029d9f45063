"""Per-key request limits: a token bucket per API key, in this process.

Each key may make `per_minute` requests a minute, in bursts up to the same number.
Handlers run in a thread pool, so the buckets are guarded by a lock. With several
API replicas each enforces the limit on its own share of the traffic.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Token buckets by key; `acquire` says how long to wait when one is empty."""

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be > 0")
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """Take one request from `key`'s bucket: 0 when allowed, else seconds to wait."""
        now = self._clock()
        with self._lock:
            tokens, since = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - since) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate

    @staticmethod
    def retry_after(wait: float) -> str:
        """The Retry-After header value (whole seconds, at least 1) for a wait."""
        return str(max(1, math.ceil(wait)))
