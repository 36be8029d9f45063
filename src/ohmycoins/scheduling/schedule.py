"""When a task runs next: interval and cron schedules, adaptive slow-down, quota stretch.

Pure functions over epoch milliseconds (UTC), the unit of the `collection_tasks`
columns, so every rule here is tested without a database or a real clock.

- An interval schedule counts from the slot that was due, not from when the run
  ended, so runs do not drift.
- A cron schedule fires at the cron expression's times (UTC).
- Missed slots never cause a burst. Slots that passed before a run started are
  covered by that run (it fetched the newest data) and skipped. Slots that passed
  while it ran are coalesced: the latest of them runs at once, as one catch-up.
- A collector whose data did not change slows down: its interval doubles, up to
  `max_slowdown` times its base, and returns to the base when the data changes.
- A quota stretch (>= 1) spreads runs out further when a source's monthly quota
  cannot afford the schedule (see `quota.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from croniter import croniter  # type: ignore[import-untyped]

from ohmycoins.errors import ConfigError

__all__ = [
    "Schedule",
    "adapted_interval",
    "cron_after",
    "cron_at_or_before",
    "cron_gap_ms",
    "first_due",
    "next_due",
    "period_seconds",
    "slowdown_of",
]


@dataclass(frozen=True, slots=True)
class Schedule:
    """Either every `interval_seconds`, or at the times of a `cron` expression (UTC)."""

    interval_seconds: float | None = None
    cron: str | None = None

    def __post_init__(self) -> None:
        if (self.interval_seconds is None) == (self.cron is None):
            raise ConfigError("schedule", self, "give either interval_seconds or cron")
        if self.interval_seconds is not None and not self.interval_seconds > 0:
            raise ConfigError("interval_seconds", self.interval_seconds, "must be > 0")
        if self.cron is not None and not croniter.is_valid(self.cron):
            raise ConfigError("cron", self.cron, "not a valid cron expression")

    @classmethod
    def every(cls, seconds: float) -> Schedule:
        return cls(interval_seconds=seconds)

    @classmethod
    def at(cls, cron: str) -> Schedule:
        return cls(cron=cron)

    def __str__(self) -> str:
        if self.cron is not None:
            return f"cron {self.cron}"
        return f"every {self.interval_seconds:g}s"


def first_due(schedule: Schedule, now_ms: int) -> int:
    """When a new task first runs: at once for an interval, at the next cron time for cron."""
    if schedule.cron is not None:
        return cron_after(schedule.cron, now_ms)
    return now_ms


def next_due(
    schedule: Schedule,
    due_ms: int,
    now_ms: int,
    *,
    started_ms: int | None = None,
    interval_seconds: float | None = None,
    stretch: float = 1.0,
) -> int:
    """The slot to run after slot `due_ms`, whose run started at `started_ms` (default:
    now) and ended at `now_ms`.

    The first slot after the start; or, when slots passed while the run lasted, the
    latest of them (due at once). `interval_seconds` is the interval in force (the
    base after adaptive slow-down); `stretch` spreads runs further apart for a quota."""
    started = now_ms if started_ms is None else started_ms
    stretch = max(1.0, stretch)
    if schedule.cron is not None:
        return _next_cron(schedule.cron, max(due_ms, started), now_ms, stretch)
    seconds = interval_seconds if interval_seconds is not None else schedule.interval_seconds
    assert seconds is not None  # an interval schedule always has one
    step = max(1, round(seconds * stretch * 1000))
    after_start = (started - due_ms) // step + 1 if started >= due_ms else 1
    passed_by_now = (now_ms - due_ms) // step if now_ms > due_ms else 0
    return due_ms + max(after_start, passed_by_now) * step


def _next_cron(expr: str, covered_ms: int, now_ms: int, stretch: float) -> int:
    """The cron slot after `covered_ms` (the later of slot and run start)."""
    if stretch > 1:
        gap = cron_gap_ms(expr, now_ms)
        return cron_after(expr, max(now_ms, covered_ms) + int((stretch - 1) * gap))
    latest = cron_at_or_before(expr, now_ms)
    return latest if latest > covered_ms else cron_after(expr, max(now_ms, covered_ms))


def cron_after(expr: str, after_ms: int) -> int:
    """The first time of a cron expression strictly after `after_ms` (UTC)."""
    start = datetime.fromtimestamp(after_ms / 1000, UTC)
    fire: datetime = croniter(expr, start).get_next(datetime)
    return int(fire.timestamp() * 1000)


def cron_at_or_before(expr: str, at_ms: int) -> int:
    """The latest time of a cron expression at or before `at_ms` (UTC)."""
    start = datetime.fromtimestamp((at_ms + 1) / 1000, UTC)
    fire: datetime = croniter(expr, start).get_prev(datetime)
    return int(fire.timestamp() * 1000)


def cron_gap_ms(expr: str, now_ms: int) -> int:
    """The gap between the cron expression's next two times: its period near `now_ms`."""
    first = cron_after(expr, now_ms)
    return cron_after(expr, first) - first


def period_seconds(schedule: Schedule, now_ms: int, interval_seconds: float | None = None) -> float:
    """Seconds between runs as scheduled now (for call projections)."""
    if schedule.cron is not None:
        return cron_gap_ms(schedule.cron, now_ms) / 1000
    seconds = interval_seconds if interval_seconds is not None else schedule.interval_seconds
    assert seconds is not None
    return seconds


def adapted_interval(current: float, base: float, *, changed: bool, max_slowdown: int) -> float:
    """The interval after a run: back to `base` when data changed, else doubled up to
    `max_slowdown` times the base."""
    if changed or max_slowdown <= 1:
        return base
    return min(current * 2, base * max_slowdown)


def slowdown_of(current: float, base: float, max_slowdown: int) -> int | None:
    """The adaptive factor (1, 2, 4, … up to `max_slowdown`) that makes `base` into
    `current`, or None when `current` is no such multiple (the base has changed)."""
    if base <= 0 or current <= 0:
        return None
    ratio = current / base
    if ratio > max(1, max_slowdown) * (1 + 1e-9):
        return None
    if math.isclose(ratio, max_slowdown, rel_tol=1e-9):
        return max_slowdown
    exponent = round(math.log2(ratio)) if ratio >= 1 else -1
    if exponent < 0 or not math.isclose(ratio, 2**exponent, rel_tol=1e-9):
        return None
    return int(2**exponent)
