"""The scheduler's knobs, in one frozen value passed to the worker (never global).

Defaults suit a live deployment; tests shrink the times. `policy_from_settings`
takes the per-source monthly quotas from the settings (`OMC_<SOURCE>_MONTHLY_QUOTA`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from ohmycoins.errors import ConfigError
from ohmycoins.settings import Settings

__all__ = [
    "CLOSED",
    "HALF_OPEN",
    "OPEN",
    "BreakerPolicy",
    "Policy",
    "policy_from_settings",
]


CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"
"""The states of a source's circuit breaker (see `breaker.py`)."""


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """A source's circuit opens after `threshold` consecutive failed runs; after
    `cooldown_seconds` one probe run may go; while it runs, the source's other tasks
    look again every `probe_recheck_seconds`."""

    threshold: int = 5
    cooldown_seconds: float = 300.0
    probe_recheck_seconds: float = 1.0

    @property
    def cooldown_ms(self) -> int:
        return int(self.cooldown_seconds * 1000)

    @property
    def recheck_ms(self) -> int:
        return int(self.probe_recheck_seconds * 1000)


@dataclass(frozen=True, slots=True)
class Policy:
    """How workers lease, retry, slow down and stretch.

    - lease: a claimed task is the worker's for `lease_seconds`, renewed every third
      of it while the run lasts; a dead worker's tasks are free again after it.
    - retries: up to `max_attempts` per run for temporary source errors, waiting
      exponentially from `backoff_initial_seconds` (plus as much jitter) up to
      `backoff_max_seconds`; a rate limit waits its Retry-After when that is no
      longer than `backoff_max_seconds`, else the run ends and the task waits it out.
    - adaptive: a collector reporting no change slows down to at most
      `max_slowdown` times its interval.
    - quota: `quotas` maps a source to its monthly call quota; when it cannot afford
      the schedule, the lowest priorities are stretched first, each level at most
      `max_stretch` times before the next level is touched.
    - loop: at most `max_concurrency` runs at once; an idle worker looks for due
      work at least every `idle_cap_seconds`; `stop()` waits `stop_timeout_seconds`
      for runs in flight before cancelling them.
    """

    lease_seconds: float = 60.0
    max_concurrency: int = 8
    max_attempts: int = 4
    backoff_initial_seconds: float = 1.0
    backoff_max_seconds: float = 60.0
    max_slowdown: int = 8
    max_stretch: float = 16.0
    quotas: Mapping[str, int] = field(default_factory=dict)
    breaker: BreakerPolicy = BreakerPolicy()
    idle_cap_seconds: float = 1.0
    stop_timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        positive = {
            "lease_seconds": self.lease_seconds,
            "max_concurrency": self.max_concurrency,
            "max_attempts": self.max_attempts,
            "max_slowdown": self.max_slowdown,
            "idle_cap_seconds": self.idle_cap_seconds,
            "breaker.threshold": self.breaker.threshold,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"scheduler.{name}", value, "must be > 0")
        if self.max_stretch < 1:
            raise ConfigError("scheduler.max_stretch", self.max_stretch, "must be >= 1")

    @property
    def lease_ms(self) -> int:
        return int(self.lease_seconds * 1000)


def policy_from_settings(settings: Settings, base: Policy | None = None) -> Policy:
    """`base` (the defaults when None) with the monthly quotas named in the settings."""
    quotas = {
        name: source.monthly_quota
        for name, source in settings.sources.items()
        if source.monthly_quota is not None
    }
    return dataclasses.replace(base or Policy(), quotas=quotas)
