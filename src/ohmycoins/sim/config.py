"""Configuration of the exchange simulator, frozen so a run is described by one value."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ohmycoins.sim.faults import FaultPlan

DEFAULT_SYMBOLS: tuple[str, ...] = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
DEFAULT_START_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z, the simulated listing date
LIMIT_TYPES = ("REQUEST_WEIGHT", "RAW_REQUESTS")


@dataclass(frozen=True)
class SimLimit:
    """One IP limit the simulator publishes in ``exchangeInfo`` and enforces: ``limit``
    request weight (``REQUEST_WEIGHT``) or requests (``RAW_REQUESTS``) per fixed window
    of ``seconds``, aligned to the clock as Binance's are."""

    kind: str
    limit: int
    seconds: float

    def __post_init__(self) -> None:
        if self.kind not in LIMIT_TYPES:
            raise ValueError(f"limit type must be one of {LIMIT_TYPES}, got {self.kind!r}")
        if self.limit < 1 or self.seconds <= 0:
            raise ValueError(f"limit and seconds must be positive, got {self}")


DEFAULT_MORE_LIMITS = (SimLimit("RAW_REQUESTS", 61_000, 300),)


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything that determines what the simulator answers.

    ``holes`` are maintenance windows ``(start_ms, end_ms)``: minutes whose open time
    falls inside have no candles and no trades.  ``now_ms`` is the market clock (epoch
    ms, default: wall clock) and ``clock`` the rate limiter's (epoch seconds);
    ``ban_seconds`` None means twice the window.  The budget is ``weight_limit`` per
    ``window_seconds`` plus ``more_limits`` (e.g. a shorter request-weight window), all
    published in ``exchangeInfo`` and all enforced.

    The websocket streams: ``stream_rate`` is messages a second per stream (every
    symbol trades that often and its book changes that often; None keeps each symbol's
    own trade pace and 10 book changes a second).  A connection is pinged every
    ``ws_ping_seconds``, closed after ``ws_max_seconds`` (Binance: 24 hours) or when the
    client sends more than ``ws_incoming_limit`` messages in a second, and holds at most
    ``ws_max_streams`` streams.  Streams look at the market clock every
    ``stream_poll_seconds`` of wall time and send what happened since.
    """

    seed: int = 42
    symbols: Sequence[str] = DEFAULT_SYMBOLS
    start_ms: int = DEFAULT_START_MS
    holes: Sequence[tuple[int, int]] = ()
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    weight_limit: int = 6000
    window_seconds: float = 60.0
    ban_seconds: float | None = None
    more_limits: Sequence[SimLimit] = DEFAULT_MORE_LIMITS
    faults: FaultPlan = field(default_factory=FaultPlan)
    now_ms: Callable[[], int] | None = None
    clock: Callable[[], float] = time.time
    stream_rate: float | None = None
    ws_ping_seconds: float = 20.0
    ws_max_seconds: float = 86_400.0
    ws_incoming_limit: int = 5
    ws_max_streams: int = 1024
    stream_poll_seconds: float = 0.01

    def __post_init__(self) -> None:
        object.__setattr__(self, "symbols", tuple(self.symbols))
        object.__setattr__(self, "holes", tuple((int(a), int(b)) for a, b in self.holes))
        object.__setattr__(self, "more_limits", tuple(self.more_limits))
        if not self.symbols:
            raise ValueError("at least one symbol is required")
        if self.latency_ms < 0 or self.latency_jitter_ms < 0:
            raise ValueError("latency must not be negative")
        if min(self.ws_ping_seconds, self.ws_max_seconds, self.stream_poll_seconds) <= 0:
            raise ValueError("websocket timings must be positive")
        if self.ws_incoming_limit < 1 or self.ws_max_streams < 1:
            raise ValueError("websocket limits must be positive")

    @property
    def limits(self) -> tuple[SimLimit, ...]:
        """Every limit in force, the main request-weight window first."""
        main = SimLimit("REQUEST_WEIGHT", self.weight_limit, self.window_seconds)
        return (main, *self.more_limits)

    @property
    def ban_duration(self) -> float:
        """Seconds an IP stays banned after ignoring a 429."""
        return self.ban_seconds if self.ban_seconds is not None else 2 * self.window_seconds
