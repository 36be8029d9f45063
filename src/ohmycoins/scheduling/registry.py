"""The collectors the scheduler knows: what each one is, how often it runs, how to run it.

A collector states its facts as data (name, ledger, source, schedule, priority) and
gives one async callable, `run(context) -> RunOutcome`, that performs one collection
end to end. The scheduler owns everything around that call: when, retries, circuit
breaker, quota, the run record. A collector raises the project's errors to report
failure (`TemporarySourceError` is retried, other `SourceError`s are not); it never
returns a failure value.

Settings (`[collectors.NAME]`) may override a collector's schedule, priority and
whether it is enabled; `Registry.configured(overrides)` applies them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import difflib
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from ohmycoins.errors import ConfigError
from ohmycoins.quality.scores import QualityScore
from ohmycoins.records import CollectorRun
from ohmycoins.scheduling.retry import Retry
from ohmycoins.scheduling.schedule import Schedule
from ohmycoins.settings import CollectorOverride
from ohmycoins.storage.database import Database

__all__ = [
    "LEDGERS",
    "Collector",
    "JobKind",
    "Ledger",
    "Registry",
    "RunContext",
    "RunFn",
    "RunOutcome",
]

Ledger = Literal["exchange", "glass", "human", "catalyst", "macro", "maintenance"]
LEDGERS: tuple[Ledger, ...] = ("exchange", "glass", "human", "catalyst", "macro", "maintenance")
"""The four ledgers of data (macro with glass), and `maintenance`: jobs over what is
stored (retention, backups, alerts) rather than a source."""

JobKind = Literal["run", "stream"]
"""A run is one leased slot that ends; a stream is long-lived: it holds its lease
(renewed) until its worker stops, it loses the lease, or it fails."""


@dataclass(frozen=True, slots=True)
class RunContext:
    """What one run of a collector is told by the scheduler.

    `due_ts` is the scheduled slot being run (epoch ms): a collector that works in
    periods can use it as the period's identity. `cursor` is the task's stored
    cursor; returning a new one in `RunOutcome.cursor` stores it with the run.
    `retry` is the scheduler's retry rule, for a run that retries its parts itself
    (see `retry.py`)."""

    task_id: str
    collector: str
    source: str
    due_ts: int
    cursor: str | None
    attempt: int
    db: Database
    retry: Retry = field(default_factory=Retry)
    stopping: asyncio.Event | None = None
    """For a stream: set when it must end (its worker stops or its lease was lost)."""


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What one successful (or partly successful) run did.

    `changed` is False when the source had nothing new; the scheduler then slows
    the collector down. `problem` marks a run that stored only part of what it
    should: its status is `partial`, which still counts as a success for the
    source's circuit breaker (the source answered). `retry_in_seconds` brings the next
    run forward when this one had nothing to work on yet (another collector fills its
    input), so a fresh install does not wait a whole interval for it."""

    records_written: int = 0
    records_quarantined: int = 0
    quality: QualityScore | None = None
    changed: bool = True
    cursor: str | None = None
    problem: str | None = None
    retry_in_seconds: float | None = None

    @property
    def status(self) -> Literal["ok", "partial"]:
        return "partial" if self.problem else "ok"

    def run_record(
        self,
        run_id: str,
        collector: str,
        started_ts: int,
        finished_ts: int,
        error: str | None = None,
    ) -> CollectorRun:
        """The one builder of a `collector_runs` row: this outcome's counts and quality;
        an `error` (the run failed, this outcome is empty) makes its status `error`,
        else a problem makes it `partial`."""
        quality = self.quality
        return CollectorRun(
            run_id=run_id,
            collector=collector,
            status="error" if error is not None else self.status,
            started_ts=started_ts,
            finished_ts=finished_ts,
            records_written=self.records_written,
            records_quarantined=self.records_quarantined,
            accuracy=quality.accuracy if quality else None,
            completeness=quality.completeness if quality else None,
            timeliness=quality.timeliness if quality else None,
            quality=quality.overall if quality else None,
            error=error if error is not None else self.problem,
        )


RunFn = Callable[[RunContext], Awaitable[RunOutcome]]


@dataclass(frozen=True, slots=True)
class Collector:
    """One collector: its facts and its run callable.

    Priority: a higher number runs first among due tasks and is slowed last when a
    quota is short. `calls_per_run` is the source calls one attempt costs, counted
    against the source's monthly quota."""

    name: str
    ledger: Ledger
    source: str
    schedule: Schedule
    run: RunFn
    priority: int = 5
    enabled: bool = True
    calls_per_run: int = 1
    disabled_reason: str | None = None
    """Why a collector is off by itself (`no API key`), shown in lists and health."""
    kind: JobKind = "run"
    """A `stream` runs until `RunContext.stopping` is set; its schedule says how soon
    it starts again after it ends."""

    def __post_init__(self) -> None:
        if not self.name or self.name != self.name.strip():
            raise ConfigError("collector.name", self.name, "must be a non-empty name")
        if self.ledger not in LEDGERS:
            raise ConfigError(f"collectors.{self.name}.ledger", self.ledger, f"not in {LEDGERS}")
        if self.calls_per_run < 0:
            raise ConfigError(f"collectors.{self.name}.calls_per_run", self.calls_per_run, "< 0")
        if self.disabled_reason is not None and self.enabled:
            raise ConfigError(f"collectors.{self.name}", self.disabled_reason, "set but enabled")

    @property
    def off_status(self) -> str | None:
        """How lists show a collector that is off: by itself (`disabled: no API key`) or
        by its settings, named; None when it is enabled."""
        if self.disabled_reason:
            return f"disabled: {self.disabled_reason}"
        return None if self.enabled else f"disabled: [collectors.{self.name}] enabled = false"

    def with_override(self, override: CollectorOverride) -> Collector:
        """This collector with a settings override applied."""
        changes: dict[str, object] = {}
        table = f"[collectors.{self.name}]"
        if override.cron is not None and override.interval_seconds is not None:
            raise ConfigError(table, override, "set either interval_seconds or cron")
        if override.cron is not None:
            try:
                changes["schedule"] = Schedule.at(override.cron)
            except ConfigError as exc:
                raise ConfigError(f"{table} cron", override.cron, exc.reason) from None
        if override.interval_seconds is not None:
            changes["schedule"] = Schedule.every(override.interval_seconds)
        if override.enabled is not None:
            changes["enabled"] = override.enabled
        if override.priority is not None:
            changes["priority"] = override.priority
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


class Registry:
    """The collectors of one process, by name. Task ids are collector names."""

    def __init__(self, collectors: Iterable[Collector] = ()) -> None:
        self._collectors: dict[str, Collector] = {}
        for collector in collectors:
            self.add(collector)

    def add(self, collector: Collector) -> None:
        """Register a collector; a second one with the same name is a configuration error."""
        if collector.name in self._collectors:
            raise ConfigError("collector.name", collector.name, "registered twice")
        self._collectors[collector.name] = collector

    def get(self, name: str) -> Collector | None:
        return self._collectors.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._collectors

    def __iter__(self) -> Iterator[Collector]:
        return iter(self._collectors.values())

    def __len__(self) -> int:
        return len(self._collectors)

    def enabled(self) -> list[Collector]:
        return [c for c in self._collectors.values() if c.enabled]

    def switched_off(self) -> list[Collector]:
        """Collectors off by themselves (`disabled_reason`: a keyed source without its key)."""
        return [c for c in self._collectors.values() if c.disabled_reason is not None]

    def names(self) -> list[str]:
        """Names of the enabled collectors: the tasks this process may run."""
        return [c.name for c in self.enabled()]

    def of_source(self, source: str) -> list[Collector]:
        """Every registered collector of one source (they share its breaker and quota)."""
        return [c for c in self._collectors.values() if c.source == source]

    def configured(self, overrides: Mapping[str, CollectorOverride]) -> Registry:
        """A copy with `[collectors.NAME]` settings applied; an unknown name is an error."""
        unknown = sorted(set(overrides) - set(self._collectors))
        if unknown:
            close = difflib.get_close_matches(unknown[0], list(self._collectors), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            table = overrides[unknown[0]].model_dump(exclude_none=True)
            raise ConfigError(f"[collectors.{unknown[0]}]", table, f"no such collector{hint}")
        return Registry(
            c.with_override(overrides[c.name]) if c.name in overrides else c
            for c in self._collectors.values()
        )
