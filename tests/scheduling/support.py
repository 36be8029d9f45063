"""Small factories for scheduler tests: a fake clock, collectors, and a stepper that
runs a worker on the fake clock from one due time to the next."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ohmycoins.scheduling.leases import next_claimable_ts
from ohmycoins.scheduling.policy import BreakerPolicy, Policy
from ohmycoins.scheduling.registry import Collector, Registry, RunContext, RunOutcome
from ohmycoins.scheduling.schedule import Schedule
from ohmycoins.scheduling.tasks import sync_tasks
from ohmycoins.scheduling.worker import Worker
from ohmycoins.storage.database import Database

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


class FakeClock:
    """Epoch milliseconds that move only when told to, or when someone sleeps."""

    def __init__(self, start_ms: int = T0) -> None:
        self.now = start_ms
        self.slept: list[float] = []

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += round(seconds * 1000)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)


class FakeTime:
    """Epoch seconds that move only when somebody sleeps (for the rate limiters)."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class Calls:
    """What a scripted collector saw: the contexts it ran with."""

    contexts: list[RunContext] = field(default_factory=list)

    @property
    def due(self) -> list[int]:
        return [c.due_ts for c in self.contexts]


def scripted(
    calls: Calls, *steps: RunOutcome | BaseException, default: RunOutcome | None = None
) -> Callable[[RunContext], Awaitable[RunOutcome]]:
    """A run callable that plays `steps` in order (raising exceptions), then `default`."""
    script = list(steps)

    async def run(context: RunContext) -> RunOutcome:
        calls.contexts.append(context)
        step = script.pop(0) if script else (default or RunOutcome())
        if isinstance(step, BaseException):
            raise step
        return step

    return run


def collector(
    name: str,
    run: Callable[[RunContext], Awaitable[RunOutcome]],
    *,
    every: float | None = 60.0,
    cron: str | None = None,
    source: str = "fake",
    priority: int = 5,
    calls_per_run: int = 1,
) -> Collector:
    schedule = Schedule.at(cron) if cron is not None else Schedule.every(every or 60.0)
    return Collector(
        name=name,
        ledger="exchange",
        source=source,
        schedule=schedule,
        run=run,
        priority=priority,
        calls_per_run=calls_per_run,
    )


def fast_policy(**changes: object) -> Policy:
    """A policy for tests: short lease, no real backoff, breaker after 3 failures."""
    values: dict[str, object] = {
        "lease_seconds": 30.0,
        "max_attempts": 3,
        "backoff_initial_seconds": 1.0,
        "backoff_max_seconds": 30.0,
        "breaker": BreakerPolicy(threshold=3, cooldown_seconds=60.0, probe_recheck_seconds=1.0),
        "idle_cap_seconds": 0.2,
        "stop_timeout_seconds": 5.0,
    }
    values.update(changes)
    return Policy(**values)  # type: ignore[arg-type]


def scheduled(db: Database, clock: FakeClock, *collectors: Collector) -> Registry:
    """A registry of these collectors with their tasks stored at the clock's time."""
    registry = Registry(collectors)
    sync_tasks(db, registry, clock())
    return registry


def fake_worker(db: Database, registry: Registry, clock: FakeClock, policy: Policy) -> Worker:
    return Worker(db, registry, policy, owner="test-worker", clock=clock, sleep=clock.sleep)


async def step_until(worker: Worker, clock: FakeClock, end_ms: int) -> int:
    """Run what is due, jump the clock to the next due time, repeat until `end_ms`.
    Returns how many tasks were claimed."""
    ran = 0
    while clock() < end_ms:
        ran += await worker.run_once()
        next_ts = next_claimable_ts(worker.db, worker.collectors)
        if next_ts is None or next_ts >= end_ms:
            clock.now = end_ms
        elif next_ts > clock():
            clock.now = next_ts
    return ran
