"""Configuration of the exchange simulator, frozen so a run is described by one value."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ohmycoins.sim.faults import FaultPlan

DEFAULT_SYMBOLS: tuple[str, ...] = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
DEFAULT_START_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z, the simulated listing date


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything that determines what the simulator answers.

    ``holes`` are maintenance windows ``(start_ms, end_ms)``: minutes whose open time
    falls inside have no candles and no trades.  ``now_ms`` is the market clock (epoch
    ms, default: wall clock) and ``clock`` the rate limiter's (epoch seconds);
    ``ban_seconds`` None means twice the window.
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
    faults: FaultPlan = field(default_factory=FaultPlan)
    now_ms: Callable[[], int] | None = None
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        object.__setattr__(self, "symbols", tuple(self.symbols))
        object.__setattr__(self, "holes", tuple((int(a), int(b)) for a, b in self.holes))
        if not self.symbols:
            raise ValueError("at least one symbol is required")
        if self.latency_ms < 0 or self.latency_jitter_ms < 0:
            raise ValueError("latency must not be negative")

    @property
    def ban_duration(self) -> float:
        """Seconds an IP stays banned after ignoring a 429."""
        return self.ban_seconds if self.ban_seconds is not None else 2 * self.window_seconds
