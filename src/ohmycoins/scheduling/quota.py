"""Monthly call quotas per source: count every call, never pass a quota, and when the
schedule would pass it, stretch the lowest priorities first.

Usage is counted in `source_usage` (source, month "YYYY-MM" in UTC, calls) for every
source, before each attempt, so a crash never hides a call. With a quota, the count
is a reservation: one conditional UPDATE adds the calls only if the total stays
within the quota, atomic across workers; a run that cannot reserve does not call.

Stretching keeps the rest of the month affordable instead of spending the quota
early and going dark: after each run the source's demand (calls per second of its
unpaused tasks at their intervals in force) is compared with its budget (calls left
divided by seconds left in the month). When demand exceeds budget, the lowest
priority level is stretched first, up to `max_stretch` times; then the next level;
if every level is at `max_stretch` and demand still exceeds budget, all are
stretched further alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, false, select

from ohmycoins.scheduling.leases import one_statement, read_connection
from ohmycoins.scheduling.registry import Collector
from ohmycoins.scheduling.schedule import period_seconds
from ohmycoins.storage.database import Database
from ohmycoins.storage.dialects import dialect_for
from ohmycoins.storage.tables import collection_tasks as tasks
from ohmycoins.storage.tables import source_usage as usage

__all__ = [
    "Demand",
    "QuotaView",
    "calls_used",
    "month_end_ms",
    "month_of",
    "plan_stretch",
    "quota_view",
    "reserve_calls",
    "usage_of",
]


def month_of(now_ms: int) -> str:
    """The quota month of a time: "YYYY-MM" in UTC."""
    return datetime.fromtimestamp(now_ms / 1000, UTC).strftime("%Y-%m")


def month_end_ms(now_ms: int) -> int:
    """The start of the next UTC month: when a spent quota is available again."""
    moment = datetime.fromtimestamp(now_ms / 1000, UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1000)


def reserve_calls(db: Database, source: str, calls: int, quota: int | None, now_ms: int) -> bool:
    """Count `calls` to `source` in this month. With a quota, count them only when the
    month's total stays within it; returns whether they were counted. One UPSERT (on
    MySQL, the row locked, then inserted or changed): the source's row is locked until
    the commit."""
    if calls <= 0:
        return True
    if quota is not None and calls > quota:
        return False
    month = month_of(now_ms)
    added = usage.c.calls + calls
    with one_statement(db) as conn:
        counted = db.backend.upsert_returning(
            conn,
            usage,
            {"source": source, "month": month, "calls": calls, "updated_ts": now_ms},
            ("source", "month"),
            {"calls": added, "updated_ts": now_ms},
            [usage.c.calls],
            where=(added <= quota) if quota is not None else None,
        )
        return counted is not None


def calls_used(conn: Connection, source: str, now_ms: int) -> int:
    """Calls counted to `source` in the month of `now_ms`."""
    used = conn.execute(
        select(usage.c.calls).where(usage.c.source == source, usage.c.month == month_of(now_ms))
    ).scalar()
    return int(used or 0)


def usage_of(db: Database, now_ms: int) -> dict[str, int]:
    """Calls per source in the month of `now_ms` (for health and `collectors list`)."""
    with read_connection(db) as conn:
        rows = conn.execute(
            select(usage.c.source, usage.c.calls).where(usage.c.month == month_of(now_ms))
        ).all()
    return {source: int(calls) for source, calls in rows}


@dataclass(frozen=True, slots=True)
class Demand:
    """One task's appetite: calls per second at its interval in force."""

    task_id: str
    priority: int
    calls_per_second: float


def plan_stretch(
    demands: Sequence[Demand], budget_per_second: float, max_stretch: float
) -> dict[str, float]:
    """The stretch (>= 1) of each task that fits the demands into the budget, lowest
    priority first (see the module docstring). `budget_per_second` must be > 0."""
    stretch = {d.task_id: 1.0 for d in demands}

    def total() -> float:
        return sum(d.calls_per_second / stretch[d.task_id] for d in demands)

    if total() <= budget_per_second:
        return stretch
    for priority in sorted({d.priority for d in demands}):
        level = [d for d in demands if d.priority == priority]
        level_rate = sum(d.calls_per_second for d in level)
        others = total() - level_rate
        room = budget_per_second - others
        factor = level_rate / room if room > 0 else float("inf")
        for d in level:
            stretch[d.task_id] = min(max(1.0, factor), max_stretch)
        if factor <= max_stretch:
            return stretch
    extra = total() / budget_per_second
    return {task_id: value * extra for task_id, value in stretch.items()}


@dataclass(frozen=True, slots=True)
class QuotaView:
    """A source's month as one of its tasks finishes: calls left, and that task's stretch."""

    remaining: int
    stretch: float


def quota_view(
    conn: Connection,
    collectors: Sequence[Collector],
    task_id: str,
    quota: int,
    now_ms: int,
    max_stretch: float,
) -> QuotaView:
    """The stretch of `task_id` so that its source's tasks (`collectors`) fit `quota`."""
    remaining = quota - calls_used(conn, collectors[0].source, now_ms)
    if remaining <= 0:
        return QuotaView(remaining, 1.0)
    seconds_left = max(1.0, (month_end_ms(now_ms) - now_ms) / 1000)
    plan = plan_stretch(_demands(conn, collectors, now_ms), remaining / seconds_left, max_stretch)
    return QuotaView(remaining, plan.get(task_id, 1.0))


def _demands(conn: Connection, collectors: Sequence[Collector], now_ms: int) -> list[Demand]:
    by_name = {c.name: c for c in collectors}
    rows = conn.execute(
        select(tasks.c.task_id, tasks.c.collector, tasks.c.interval_seconds, tasks.c.priority)
        .where(dialect_for(conn).among(tasks.c.collector, list(by_name)))
        .where(tasks.c.paused == false())
        .order_by(tasks.c.task_id)
    ).all()
    demands = []
    for task_id, name, interval, priority in rows:
        collector = by_name[name]
        in_force = float(interval) if interval is not None else None
        period = period_seconds(collector.schedule, now_ms, in_force)
        demands.append(Demand(task_id, priority, collector.calls_per_run / period))
    return demands
