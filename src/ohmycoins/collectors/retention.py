"""Retention: a maintenance collector that rolls detail up, then lets it go.

One run, for every table (candles per timeframe) with a retention period (and then
the raw stream capture's hourly files, by `[retention] capture`):

    cutoff = (now - period), floored to a UTC day (on a partitioned table, to the
             start of its month: partitions go whole)
    for each market (exchange, symbol), each week before the cutoff holding rows:
        read its rows → roll them up (enrich.rollups) → upsert the rollups
    remove every row before the cutoff (monthly partitions dropped, or a DELETE)

Partitions for the coming months are created first. Cutoffs fall on day boundaries
and a day is rolled up whole, so every hour and day is rolled up from all the detail
stored for it; a second run finds nothing before the cutoff and changes nothing. A run
stopped between a day's rollups and the removal is safe to repeat: the same detail
gives the same rollups. A rollup never replaces a candle the exchange served, nor a
rollup holding more minutes or items (`records.Candle`, `upsert.replaces`).

`omc retention run --dry-run` goes through the same steps in one transaction rolled
back at the end: the rollups are written there (a scope sees those of the scopes before
it, as trades' 1m candles are rolled up by the 1m candles' retention), and what would
go is counted rather than removed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from ohmycoins.collectors.clients import Sources
from ohmycoins.collectors.collect import run_outcome
from ohmycoins.enrich import rollups
from ohmycoins.records import NewsItem, OrderBook, Record, SocialPost, Trade
from ohmycoins.scheduling.registry import Collector, RunContext, RunOutcome
from ohmycoins.scheduling.schedule import Schedule
from ohmycoins.settings import CAPTURE_RETENTION, RETENTION_TABLES, Settings
from ohmycoins.sources.capture import expire_captures
from ohmycoins.storage import retention
from ohmycoins.storage.database import Database, rolled_back, write_transaction
from ohmycoins.storage.retention import Scope
from ohmycoins.storage.upsert import upsert_records
from ohmycoins.timeframes import DAY_MS, TIMEFRAMES, floor_ts, now_ms, timeframe_ms

NAME = "retention"
SOURCE = "database"
EVERY_HOUR = 3600.0
CANDLE_TARGETS = ("1h", "1d")
"""The timeframes finer candles are rolled up into."""
WINDOW_DAYS = 7
"""Days of one market read and rolled up in one transaction (whole days: the cutoff
falls on a day, so the last window ends on it)."""

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
    unit: str = "rows"
    """What `rows` counts: rows, or the raw capture's files."""


@dataclass(frozen=True, slots=True)
class RetentionReport:
    retained: list[Retained]
    partitions_created: list[str]
    dry_run: bool

    @property
    def rows(self) -> int:
        """Rows removed (the capture's files are counted apart, in their `Retained`)."""
        return sum(r.rows for r in self.retained if r.unit == "rows")

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
    if dry_run:
        with rolled_back(db, "retention dry run") as conn:
            return _retain(_Steps(db, conn), settings, now)
    return _retain(_Steps(db, None), settings, now)


def _retain(steps: _Steps, settings: Settings, now: int) -> RetentionReport:
    created = steps.ensure_partitions(now)
    retained = []
    for scope in scopes():
        kept = settings.kept_ms(scope.key)
        if kept is not None:
            retained.append(_retain_scope(steps, settings, scope, kept, now))
    created += steps.ensure_partitions(now)  # rollups the default partition caught, moved
    captured = settings.kept_ms(CAPTURE_RETENTION)
    if captured is not None:
        retained.append(_retain_capture(settings, captured, now, steps.dry_run))
    return RetentionReport(retained, created, steps.dry_run)


def _retain_capture(settings: Settings, kept: int, now: int, dry_run: bool) -> Retained:
    """The raw stream capture's hourly files older than the cutoff (not rolled up: what
    it held is in the tables)."""
    cutoff = floor_ts(now - kept, "1h")
    files = expire_captures(settings.streams.capture_dir, cutoff, dry_run=dry_run)
    return Retained(CAPTURE_RETENTION, kept, cutoff, files, unit="files")


@dataclass(frozen=True, slots=True)
class _Steps:
    """Where each step runs: its own transaction; or, for a dry run, all of them in one
    transaction rolled back at the end (the rollups of one scope are then seen by the
    next, as in a real run), with rows counted instead of removed."""

    db: Database
    dry_run_conn: Connection | None

    @property
    def dry_run(self) -> bool:
        return self.dry_run_conn is not None

    @contextmanager
    def step(self, what: str) -> Iterator[Connection]:
        if self.dry_run_conn is not None:
            yield self.dry_run_conn
            return
        with write_transaction(self.db, what) as conn:
            yield conn

    def ensure_partitions(self, now: int) -> list[str]:
        with self.step("creating partitions") as conn:
            return retention.ensure_partitions(conn, now)


def _retain_scope(steps: _Steps, settings: Settings, scope: Scope, kept: int, now: int) -> Retained:
    """Roll up the scope's rows before its cutoff, then remove them."""
    with steps.step(f"retention of {scope.key}") as conn:
        cutoff = retention.cutoff_of(conn, scope, floor_ts(now - kept, "1d"))
    written = _roll_up(steps, scope, rollups_of(settings, scope), cutoff)
    with steps.step(f"retention of {scope.key}") as conn:
        if steps.dry_run:
            rows = retention.count_before(conn, scope, cutoff)
            partitions = tuple(retention.partitions_before(conn, scope, cutoff))
            return Retained(scope.key, kept, cutoff, rows, partitions, written)
        expired = retention.expire(conn, scope, cutoff)
    return Retained(scope.key, kept, cutoff, expired.rows, expired.partitions, written)


def _roll_up(steps: _Steps, scope: Scope, made: dict[str, Rollup], cutoff: int) -> dict[str, int]:
    """Each market's rows before the cutoff, whole days at a time (one transaction a
    window), rolled up; returns the rollup records written, by their setting."""
    written = dict.fromkeys(made, 0)
    if not made:
        return written
    with steps.step(f"rolling up {scope.key}") as conn:
        parts = retention.markets(conn, scope, cutoff)
    for part in parts:
        since: int | None = None
        while True:
            with steps.step(f"rolling up {scope.key}") as conn:
                first = retention.first_before(conn, part, since, cutoff)
                if first is None:
                    break
                start = floor_ts(first, "1d")
                since = min(start + WINDOW_DAYS * DAY_MS, cutoff)
                rows = retention.rows_between(conn, part, start, since)
                for key, rollup in made.items():
                    records = rollup(rows)
                    written[key] += len(records)
                    upsert_records(conn, records)
    return written


def default_collectors(sources: Sources) -> list[Collector]:
    """The retention job, hourly: its cutoffs move a day at a time, partitions a month.
    None in demo mode (the simulated data is minutes old)."""
    if sources.offline:
        return []
    db, settings = sources.db, sources.settings

    async def run(_context: RunContext) -> RunOutcome:
        """Its run record counts the rollups written and the rows removed as written: a
        run that did neither changed nothing, and the schedule slows down."""
        report = await run_retention(db, settings)
        return run_outcome(report.rollups + report.rows)

    schedule = Schedule.every(EVERY_HOUR)
    return [Collector(NAME, "maintenance", SOURCE, schedule, run, priority=1, calls_per_run=0)]
