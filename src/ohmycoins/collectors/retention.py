"""Retention: a maintenance collector that rolls detail up, then lets it go.

One run, for every table (candles per timeframe) with a retention period:

    cutoff = (now - period), floored to a UTC day (on a partitioned table, to the
             start of its month: partitions go whole)
    for each day before the cutoff holding rows:
        read the day's rows → roll them up (enrich.rollups) → upsert the rollups
    remove every row before the cutoff (monthly partitions dropped, or a DELETE)

Partitions for the coming months are created first. Cutoffs fall on day boundaries
and a day is rolled up whole, so every hour and day is rolled up from all the detail
stored for it; a second run finds nothing before the cutoff and changes nothing. A run
stopped between a day's rollups and the removal is safe to repeat: the same detail
gives the same rollups. A rollup never replaces a candle the exchange served, nor a
rollup holding more minutes or items (`records.Candle`, `upsert.replaces`).

`omc retention run --dry-run` goes through the same steps without writing: it counts
what would go and computes the rollups that would be written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from ohmycoins.collectors.collect import run_outcome
from ohmycoins.enrich import rollups
from ohmycoins.records import NewsItem, OrderBook, Record, SocialPost, Trade
from ohmycoins.scheduling.registry import Collector, RunContext, RunOutcome
from ohmycoins.scheduling.schedule import Schedule
from ohmycoins.settings import RETENTION_TABLES, Settings
from ohmycoins.storage import retention
from ohmycoins.storage.database import Database, write_transaction
from ohmycoins.storage.retention import Scope
from ohmycoins.storage.upsert import upsert_records
from ohmycoins.timeframes import DAY_MS, TIMEFRAMES, floor_ts, now_ms, timeframe_ms

NAME = "retention"
SOURCE = "database"
EVERY_HOUR = 3600.0
CANDLE_TARGETS = ("1h", "1d")
"""The timeframes finer candles are rolled up into."""

Rollup = Callable[[Sequence[Any]], Sequence[Record]]


@dataclass(frozen=True, slots=True)
class Retained:
    """What retention did (or, in a dry run, would do) to one scope."""

    key: str
    kept_ms: int
    cutoff: int
    rows: int
    partitions: tuple[str, ...] = ()
    rollups: dict[str, int] = field(default_factory=dict)
    """Rollup records written, by the setting of what they are (`candles_1h`)."""


@dataclass(frozen=True, slots=True)
class RetentionReport:
    retained: list[Retained]
    partitions_created: list[str]
    dry_run: bool

    @property
    def rows(self) -> int:
        return sum(r.rows for r in self.retained)

    @property
    def rollups(self) -> int:
        return sum(sum(r.rollups.values()) for r in self.retained)


DETAIL_FIRST = ("trades", "orderbooks", "news_items", "social_posts")
"""Tables rolled up into others: they go first, so that what they make (1m candles of
trades) is itself rolled up and kept by the same run."""


def scopes() -> list[Scope]:
    """Every retention setting's scope: the detail rolled up into others first, then
    candles per timeframe from the finest, then the other tables."""
    first = [Scope(table, table) for table in DETAIL_FIRST]
    candles = [Scope(f"candles_{tf}", "candles", tf) for tf in TIMEFRAMES]
    rest = [
        Scope(table, table)
        for table in RETENTION_TABLES
        if table != "candles" and table not in DETAIL_FIRST
    ]
    return first + candles + rest


def outlives(settings: Settings, target: str, source: str) -> bool:
    """Whether rows of `target` are kept longer than those of `source` (rolling up into
    a target that goes first would keep nothing)."""
    kept, detail = settings.kept_ms(target), settings.kept_ms(source)
    return kept is None or (detail is not None and kept > detail)


def rollups_of(settings: Settings, scope: Scope) -> dict[str, Rollup]:
    """The rollups made of a scope's rows before they go, by the setting of their target."""
    made: dict[str, Rollup] = {}
    if scope.timeframe is not None:
        step = timeframe_ms(scope.timeframe)
        for target in CANDLE_TARGETS:
            if timeframe_ms(target) > step:
                made[f"candles_{target}"] = _candles_into(target)
    elif scope.table == Trade.TABLE:
        made["candles_1m"] = rollups.trade_candles
        made["trade_stats"] = rollups.trade_stats
    elif scope.table == OrderBook.TABLE:
        made["book_stats"] = rollups.book_stats
    elif scope.table == NewsItem.TABLE:
        made["sentiment_daily"] = _sentiment("news")
    elif scope.table == SocialPost.TABLE:
        made["sentiment_daily"] = _sentiment("social")
    return {key: rollup for key, rollup in made.items() if outlives(settings, key, scope.key)}


def _candles_into(timeframe: str) -> Rollup:
    return lambda candles: rollups.candle_rollups(candles, timeframe)


def _sentiment(kind: str) -> Rollup:
    return lambda items: rollups.sentiment_daily(kind, items)


async def run_retention(
    db: Database, settings: Settings, *, dry_run: bool = False, now: int | None = None
) -> RetentionReport:
    """One retention run over every scope (see the module docstring)."""
    at = now_ms() if now is None else now
    return await asyncio.to_thread(retain, db, settings, at, dry_run)


def retain(db: Database, settings: Settings, now: int, dry_run: bool) -> RetentionReport:
    created: list[str] = []
    if not dry_run:
        with write_transaction(db, "creating partitions") as conn:
            created = retention.ensure_partitions(conn, now)
    retained = []
    for scope in scopes():
        kept = settings.kept_ms(scope.key)
        if kept is not None:
            retained.append(_retain_scope(db, settings, scope, kept, now, dry_run))
    return RetentionReport(retained, created, dry_run)


def _retain_scope(
    db: Database, settings: Settings, scope: Scope, kept: int, now: int, dry_run: bool
) -> Retained:
    """Roll up the scope's rows before its cutoff, then remove them."""
    with db.engine.connect() as conn:
        cutoff = retention.cutoff_of(conn, scope, floor_ts(now - kept, "1d"))
    written = _roll_up(db, scope, rollups_of(settings, scope), cutoff, dry_run)
    if dry_run:
        with db.engine.connect() as conn:
            rows = retention.count_before(conn, scope, cutoff)
            partitions = tuple(retention.partitions_before(conn, scope, cutoff))
        return Retained(scope.key, kept, cutoff, rows, partitions, written)
    with write_transaction(db, f"retention of {scope.key}") as conn:
        expired = retention.expire(conn, scope, cutoff)
    return Retained(scope.key, kept, cutoff, expired.rows, expired.partitions, written)


def _roll_up(
    db: Database, scope: Scope, made: dict[str, Rollup], cutoff: int, dry_run: bool
) -> dict[str, int]:
    """Each day before the cutoff holding rows, read whole and rolled up (one
    transaction a day); returns the rollup records made, by their setting."""
    written = dict.fromkeys(made, 0)
    since: int | None = None
    while made:
        with _day(db, scope, dry_run) as conn:
            first = retention.first_before(conn, scope, since, cutoff)
            if first is None:
                break
            start = floor_ts(first, "1d")
            since = start + DAY_MS
            rows = retention.rows_between(conn, scope, start, since)
            for key, rollup in made.items():
                records = rollup(rows)
                written[key] += len(records)
                if not dry_run:
                    upsert_records(conn, records)
    return written


def _day(db: Database, scope: Scope, dry_run: bool) -> AbstractContextManager[Connection]:
    """A day's transaction: a write one, or for a dry run a connection that reads."""
    if dry_run:
        return db.engine.connect()
    return write_transaction(db, f"rolling up {scope.key}")


def default_collectors(db: Database, settings: Settings) -> list[Collector]:
    """The retention job, hourly: its cutoffs move a day at a time, partitions a month."""

    async def run(_context: RunContext) -> RunOutcome:
        report = await run_retention(db, settings)
        return run_outcome(report.rollups + report.rows)

    schedule = Schedule.every(EVERY_HOUR)
    return [Collector(NAME, "maintenance", SOURCE, schedule, run, priority=1, calls_per_run=0)]
