"""Alert rules and the life of an alert: pure, from facts read elsewhere.

`conditions(facts, rules, now)` says what is wrong now, one `Condition` per rule and
subject (a collector, a source, a live stream, a disk). `step(states, conditions, now, cooldown)`
moves each alert along:

    (none|resolved) ── condition ──► firing   notice "firing"
    firing ── still, cool-down passed ──► firing   notice "repeat"
    firing ── condition gone ──► resolved   notice "resolved" (if its firing was sent)

A notice is only marked sent once delivered (`delivered`), so an undelivered firing
or resolved message is tried again at the next evaluation, never lost; a repeat
waits out the cool-down from the last delivered message.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from ohmycoins.settings import AlertSettings

__all__ = [
    "AlertState",
    "Condition",
    "Facts",
    "Notice",
    "StreamFacts",
    "TaskFacts",
    "conditions",
    "delivered",
    "step",
]

FAILED = "error"
"""The status of a run that failed (`collector_runs.status`, `collection_tasks.last_status`)."""
MINUTE_MS = 60_000
State = Literal["firing", "resolved"]
NoticeKind = Literal["firing", "repeat", "resolved"]


@dataclass(frozen=True, slots=True)
class TaskFacts:
    """One scheduled collector as the alert rules see it."""

    collector: str
    interval_ms: int | None
    """Its schedule's period (a cron's gap between two runs); None: unknown."""
    last_ok_ts: int | None
    """When its last successful (ok or partial) run finished."""
    last_status: str | None
    last_error: str | None
    last_quality: Decimal | None


@dataclass(frozen=True, slots=True)
class StreamFacts:
    """One live stream as the alert rules see it: its lease, and its latest report."""

    stream: str
    leased_since_ts: int | None
    """When the worker that holds its lease now claimed it; None: no worker holds it."""
    idle_since_ts: int | None
    """Not leased: since when (its lease released or lapsed)."""
    report: Mapping[str, Any] | None = None
    """Its latest report (`StreamStats.report`); None: none reached this process."""


@dataclass(frozen=True, slots=True)
class Facts:
    """What the rules judge, read at one moment."""

    tasks: Sequence[TaskFacts] = ()
    open_circuits: Sequence[tuple[str, int]] = ()
    """(source, opened_ts) of every open circuit."""
    quarantined_last_hour: int = 0
    disk_percent: float | None = None
    backup_task: str | None = None
    """The collector whose failure is a failed backup."""
    streams: Sequence[StreamFacts] = ()


@dataclass(frozen=True, slots=True)
class Condition:
    """One thing wrong now: a rule, what it is about, and what to say."""

    rule: str
    subject: str
    message: str


@dataclass(frozen=True, slots=True)
class AlertState:
    """One alert as stored: its state, and the last message delivered for it."""

    rule: str
    subject: str
    state: State
    message: str
    since_ts: int
    """When it started firing (this time)."""
    updated_ts: int
    resolved_ts: int | None = None
    notified: State | None = None
    """The state the last delivered message told; None: none delivered yet."""
    sent_ts: int | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.rule, self.subject)


@dataclass(frozen=True, slots=True)
class Notice:
    """A message to deliver about one alert."""

    kind: NoticeKind
    alert: AlertState

    @property
    def title(self) -> str:
        word = {"firing": "FIRING", "repeat": "STILL FIRING", "resolved": "RESOLVED"}[self.kind]
        return f"[ohmycoins] {word}: {self.alert.rule} {self.alert.subject}"


def conditions(facts: Facts, rules: AlertSettings, now: int) -> list[Condition]:
    """Every rule's conditions that hold at `now` (a rule at 0 is off)."""
    found: list[Condition] = []
    for task in facts.tasks:
        found += _task_conditions(task, facts.backup_task, rules, now)
    for stream in facts.streams:
        found += _stream_conditions(stream, rules, now)
    if rules.circuit_open_minutes > 0:
        limit = rules.circuit_open_minutes * MINUTE_MS
        found += [
            Condition(
                "circuit_open", source, f"{source}'s circuit open for {(now - at) // MINUTE_MS} min"
            )
            for source, at in facts.open_circuits
            if now - at >= limit
        ]
    spike = rules.quarantine_per_hour
    if spike > 0 and facts.quarantined_last_hour > spike:
        said = f"{facts.quarantined_last_hour} rows quarantined in the last hour (over {spike})"
        found.append(Condition("quarantine_spike", "all", said))
    used = facts.disk_percent
    if rules.disk_percent > 0 and used is not None and used > rules.disk_percent:
        said = f"disk of {rules.disk_path} {used:.1f}% full (over {rules.disk_percent:g}%)"
        found.append(Condition("disk_full", rules.disk_path, said))
    return found


def _task_conditions(
    task: TaskFacts, backup_task: str | None, rules: AlertSettings, now: int
) -> Iterable[Condition]:
    name = task.collector
    if task.collector == backup_task and rules.backup_failed and task.last_status == FAILED:
        yield Condition("backup_failed", name, f"the last backup failed: {task.last_error}")
    if rules.stale_factor > 0 and task.interval_ms and task.last_ok_ts is not None:
        age = now - task.last_ok_ts
        if age > rules.stale_factor * task.interval_ms:
            said = (
                f"{name}'s data is {age // MINUTE_MS} min old, over {rules.stale_factor:g}x "
                f"its schedule of {task.interval_ms / MINUTE_MS:g} min"
            )
            yield Condition("stale", name, said)
    quality = task.last_quality
    if (
        rules.quality_below > 0
        and quality is not None
        and quality < Decimal(str(rules.quality_below))
    ):
        yield Condition(
            "quality", name, f"{name}'s last run scored {quality}, below {rules.quality_below:g}"
        )


def _stream_conditions(stream: StreamFacts, rules: AlertSettings, now: int) -> Iterable[Condition]:
    name = stream.stream
    quiet = _quiet_ms(stream, now)
    limit = rules.stream_quiet_seconds * 1000
    if limit > 0 and quiet is not None and quiet > limit:
        running = stream.leased_since_ts is not None
        what = "has received nothing" if running else "has not been running"
        said = f"{name} {what} for {quiet // 1000} s (over {rules.stream_quiet_seconds:g} s)"
        yield Condition("stream_stale", name, said)
    report = stream.report or {}
    window = int(rules.stream_resync_minutes * MINUTE_MS)
    recent = [ts for ts in report.get("resync_times") or () if now - ts <= window]
    if rules.stream_resyncs > 0 and len(recent) > rules.stream_resyncs:
        said = (
            f"{name} resynced its books {len(recent)} times in the last "
            f"{rules.stream_resync_minutes:g} min (over {rules.stream_resyncs})"
        )
        yield Condition("stream_resyncing", name, said)


def _quiet_ms(stream: StreamFacts, now: int) -> int | None:
    """How long the stream has been quiet: since its lease went, when no worker runs it;
    since its last message (or its start, or its claim, whichever is latest) when one
    does; None when that cannot be told (a running stream whose report did not reach
    this process)."""
    if stream.leased_since_ts is None:
        return None if stream.idle_since_ts is None else now - stream.idle_since_ts
    if stream.report is None:
        return None
    heard = [stream.leased_since_ts]
    heard += [stream.report.get(key) or 0 for key in ("last_message_ts", "started_ts")]
    return now - max(heard)


def step(
    states: Iterable[AlertState], now_conditions: Iterable[Condition], now: int, cooldown_ms: int
) -> tuple[list[AlertState], list[Notice]]:
    """The alerts changed by this evaluation, and the notices to deliver."""
    stored = {state.key: state for state in states}
    holding = {(c.rule, c.subject): c for c in now_conditions}
    changed: list[AlertState] = []
    notices: list[Notice] = []
    for key, condition in holding.items():
        state = stored.get(key)
        if state is None or state.state == "resolved":
            new = AlertState(*key, "firing", condition.message, now, now)
            changed.append(new)
            notices.append(Notice("firing", new))
            continue
        new = dataclasses.replace(state, message=condition.message, updated_ts=now)
        changed.append(new)
        if state.notified != "firing":
            notices.append(Notice("firing", new))
        elif state.sent_ts is not None and now - state.sent_ts >= cooldown_ms:
            notices.append(Notice("repeat", new))
    for key, state in stored.items():
        if key in holding:
            continue
        if state.state == "firing":
            new = dataclasses.replace(state, state="resolved", resolved_ts=now, updated_ts=now)
            changed.append(new)
            if state.notified == "firing":
                notices.append(Notice("resolved", new))
        elif state.notified == "firing":  # its resolved message is not delivered yet
            notices.append(Notice("resolved", state))
    return changed, notices


def delivered(notice: Notice, at: int) -> AlertState:
    """The alert once its notice is delivered."""
    told: State = "resolved" if notice.kind == "resolved" else "firing"
    return dataclasses.replace(notice.alert, notified=told, sent_ts=at)
