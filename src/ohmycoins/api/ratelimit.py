"""Request limits: a token bucket per API key, and one per client address.

Each key (or address) may make `per_minute` requests a minute, in bursts up to the same
number. Handlers run in a thread pool, so the buckets are guarded by a lock. With
several API replicas each enforces the limit on its own share of the traffic.

Memory stays bounded however many addresses call: a bucket left alone for a full
minute has refilled, which is the same as having none, so it is dropped; and past
`max_entries` buckets the least recently used goes first (under a flood of more
addresses than that a minute, an evicted address starts again with a full bucket).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

MAX_ENTRIES = 50_000
"""Buckets kept at most (about 200 bytes each)."""


class RateLimiter:
    """Token buckets by key; `acquire` says how long to wait when one is empty."""

    def __init__(
        self,
        per_minute: float,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be > 0")
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.refill_seconds = self.capacity / self.rate
        self.max_entries = max_entries
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Buckets held now."""
        return len(self._buckets)

    def acquire(self, key: str) -> float:
        """Take one request from `key`'s bucket: 0 when allowed, else seconds to wait."""
        now = self._clock()
        with self._lock:
            tokens, since = self._buckets.pop(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - since) * self.rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
            self._buckets[key] = (tokens - 1 if wait == 0 else tokens, now)
            self._evict(now)
            return wait

    def _evict(self, now: float) -> None:
        """Drop buckets that have refilled, oldest first, and any beyond `max_entries`.

        The buckets are in order of last use, so the scan stops at the first one still
        in use: amortized O(1) per request."""
        while self._buckets:
            key, (_tokens, since) = next(iter(self._buckets.items()))
            if now - since < self.refill_seconds and len(self._buckets) <= self.max_entries:
                return
            del self._buckets[key]

    @staticmethod
    def retry_after(wait: float) -> str:
        """The Retry-After header value (whole seconds, at least 1) for a wait."""
        return str(max(1, math.ceil(wait)))
