"""Candles: gap-free backfill and incremental sync of OHLCV series.

A series (exchange, symbol, timeframe) is cut into pages of `page_size` candle slots;
pages are fetched concurrently (the exchange client's weight budget paces them), each
page is checked and stored, and the series' cursor moves over the contiguous run of
stored pages in the same transaction as the data, so a kill at any moment resumes
without gaps. A final pass finds missing candles in the whole requested range,
refetches them once, and records what the exchange truly does not have as holes.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection, select
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from ohmycoins.errors import PayloadError, TemporarySourceError, Violation
from ohmycoins.ingest import store
from ohmycoins.publish import Broker, publish_records
from ohmycoins.quality.gaps import missing_ranges
from ohmycoins.quality.scores import QualityScore, score
from ohmycoins.records import Candle, CollectorRun
from ohmycoins.sources.exchange import ExchangeClient, parse_ohlcv
from ohmycoins.storage.cursors import (
    Hole,
    SeriesKey,
    read_cursor,
    read_holes,
    record_holes,
    write_cursor,
)
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import RECORD_TABLES
from ohmycoins.timeframes import now_ms, timeframe_ms

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""Called with (series name, candle slots done, candle slots in the range)."""

SETTLE_STEPS = 5
"""The newest candles may still be published late: holes are only recorded before them."""


@dataclass
class SyncReport:
    """What one sync of one series did."""

    series: str
    expected: int = 0
    stored: int = 0
    quarantined: int = 0
    refetched: int = 0
    holes: list[Hole] = field(default_factory=list)
    failed_pages: int = 0
    quality: QualityScore | None = None
    started_ts: int = 0
    finished_ts: int = 0

    @property
    def complete(self) -> bool:
        return self.failed_pages == 0


class CandleSync:
    """Backfill and sync candle series of one exchange into one database."""

    def __init__(
        self,
        client: ExchangeClient,
        db: Database,
        *,
        broker: Broker | None = None,
        page_size: int = 1000,
        pages_in_flight: int = 8,
        attempts: int = 5,
        backoff_s: float = 0.5,
        clock: Callable[[], int] = now_ms,
        on_progress: Progress | None = None,
    ) -> None:
        self.client = client
        self.db = db
        self.broker = broker
        self.page_size = page_size
        self.pages_in_flight = pages_in_flight
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.clock = clock
        self.on_progress = on_progress

    async def sync(
        self, symbol: str, timeframe: str, since: int, until: int | None = None
    ) -> SyncReport:
        """Make [since, until) of one series complete (until defaults to now)."""
        step = timeframe_ms(timeframe)
        key = SeriesKey(self.client.id, "candles", symbol, timeframe)
        name = f"{self.client.id}:{symbol}:{timeframe}"
        first = -(-since // step) * step
        end = min(until if until is not None else self.clock(), self.clock() + step)
        closed_end = min(end, self.clock() - self.clock() % step)
        report = SyncReport(name, expected=max(0, (closed_end - first) // step))
        started = self.clock()
        cursor_ts, _ = await asyncio.to_thread(self._read_cursor, key)
        resume = max(first, cursor_ts + step) if cursor_ts is not None else first
        if cursor_ts is None:
            resume = await self._first_listed(key, resume, end)
            first = max(first, min(resume, closed_end))
            report.expected = max(0, (closed_end - first) // step)
        await self._fetch_pages(key, report, resume, end, closed_end, first)
        if report.complete:
            await self._fill_gaps(key, report, first, closed_end)
        await self._finish(report, key, first, closed_end, started)
        return report

    async def _first_listed(self, key: SeriesKey, since: int, end: int) -> int:
        """The first open time at or after `since` the exchange has (`end` if none):
        a backfill from before a listing does not walk years of empty pages."""
        fetched = await self._fetch_page(key, since, end, limit=1)
        if fetched is None or fetched[1]:
            return since  # no clear answer: walk from the start rather than skip anything
        return fetched[0][0].ts if fetched[0] else end

    def _read_cursor(self, key: SeriesKey) -> tuple[int | None, str | None]:
        with self.db.engine.connect() as conn:
            return read_cursor(conn, key)

    async def _fetch_pages(
        self, key: SeriesKey, report: SyncReport, start: int, end: int, closed_end: int, first: int
    ) -> None:
        step = timeframe_ms(key.timeframe)
        span = self.page_size * step
        pages = [(s, min(s + span, end)) for s in range(start, end, span)]
        done: set[int] = set()
        frontier = [0]
        gate = asyncio.Semaphore(self.pages_in_flight)

        def advance(conn: Connection, index: int) -> None:
            done.add(index)
            while frontier[0] in done:
                frontier[0] += 1
            if frontier[0]:
                covered = min(pages[frontier[0] - 1][1], closed_end) - step
                if covered >= first:
                    write_cursor(conn, key, self.clock(), ts=covered)

        async def one(index: int, page: tuple[int, int]) -> None:
            async with gate:  # held until stored: fetched pages never pile up in memory
                fetched = await self._fetch_page(key, *page)
                if fetched is None:
                    report.failed_pages += 1
                    return
                await self._store(key, report, *fetched, then=lambda conn: advance(conn, index))
            self._progress(
                report, (min(page[1], closed_end) - start) // step, start, closed_end, step
            )

        await asyncio.gather(*(one(i, page) for i, page in enumerate(pages)))

    async def _fetch_page(
        self, key: SeriesKey, since: int, until: int, limit: int | None = None
    ) -> tuple[list[Candle], list[Violation]] | None:
        """Candles of [since, until) and the rows rejected while parsing them; None when
        every try failed."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.backoff_s, max=30),
            retry=retry_if_exception_type((TemporarySourceError, PayloadError)),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    rows = await self.client.fetch_ohlcv(
                        key.symbol, key.timeframe, since, until - 1, limit or self.page_size
                    )
        except (TemporarySourceError, PayloadError) as exc:
            log.warning(
                "%s: page %d..%d failed after %d tries: %s",
                key.symbol,
                since,
                until,
                self.attempts,
                exc,
            )
            return None
        parsed = parse_ohlcv(key.source, key.symbol, key.timeframe, rows)
        candles, conflicts = split_conflicting_duplicates(parsed.records)
        return candles, [*parsed.violations, *conflicts]

    async def _store(
        self,
        key: SeriesKey,
        report: SyncReport,
        candles: list[Candle],
        rejected: list[Violation],
        *,
        then: Callable[[Connection], None] | None = None,
    ) -> None:
        """Check and store one page on the event loop itself: a writer thread would
        fight the parsing for the GIL (sqlite3 retakes it for every row), which cost
        more than the few milliseconds the loop is held (bench/backfill.py)."""
        result = store(
            self.db,
            candles,
            source=key.source,
            quarantine=True,
            at_ms=self.clock(),
            rejected=rejected,
            then=then,
        )
        report.stored += result.written
        report.quarantined += result.quarantined
        if self.broker is not None:
            fresh_from = self.clock() - 2 * timeframe_ms(key.timeframe)
            await publish_records(
                self.broker,
                [c for c in result.stored if isinstance(c, Candle) and c.ts >= fresh_from],
            )

    def _progress(
        self, report: SyncReport, done: int, start: int, closed_end: int, step: int
    ) -> None:
        if self.on_progress is not None:
            self.on_progress(report.series, done, max(0, (closed_end - start) // step))

    async def _fill_gaps(
        self, key: SeriesKey, report: SyncReport, first: int, closed_end: int
    ) -> None:
        """Refetch missing candles once; what is still missing is a hole of the exchange."""
        step = timeframe_ms(key.timeframe)
        missing = await asyncio.to_thread(self._missing, key, first, closed_end)
        for low, high in missing:
            for since in range(low, high + step, self.page_size * step):
                until = min(since + self.page_size * step, high + step)
                fetched = await self._fetch_page(key, since, until)
                if fetched:
                    wanted = [c for c in fetched[0] if since <= c.ts < until]
                    await self._store(key, report, wanted, fetched[1])
                    report.refetched += len(wanted)
        settled = closed_end - SETTLE_STEPS * step
        still = await asyncio.to_thread(self._missing, key, first, settled)
        report.holes = [
            Hole(key.source, key.symbol, key.timeframe, low, high, (high - low) // step + 1)
            for low, high in still
        ]
        if report.holes:
            await asyncio.to_thread(self._record_holes, report.holes)

    def _missing(self, key: SeriesKey, first: int, end: int) -> list[tuple[int, int]]:
        table = RECORD_TABLES[Candle]
        with self.db.engine.connect() as conn:
            present = conn.execute(
                select(table.c.ts).where(
                    table.c.exchange == key.source,
                    table.c.symbol == key.symbol,
                    table.c.timeframe == key.timeframe,
                    table.c.ts >= first,
                    table.c.ts < end,
                )
            ).scalars()
            known = [
                (h.start_ts, h.end_ts)
                for h in read_holes(conn, key.source, key.symbol, key.timeframe)
            ]
            return missing_ranges(present, first, end, timeframe_ms(key.timeframe), known)

    def _record_holes(self, holes: list[Hole]) -> None:
        with self.db.engine.begin() as conn:
            record_holes(conn, holes, self.clock())

    async def _finish(
        self, report: SyncReport, key: SeriesKey, first: int, closed_end: int, started: int
    ) -> None:
        step = timeframe_ms(key.timeframe)
        missing = await asyncio.to_thread(self._missing, key, first, closed_end)
        absent = sum((high - low) // step + 1 for low, high in missing)
        newest_missing = bool(missing) and missing[-1][1] == closed_end - step
        report.quality = score(
            valid=report.stored,
            invalid=report.quarantined,
            present=report.expected - absent,
            expected=report.expected,
            lag_ms=step if newest_missing else 0,
            stale_after_ms=10 * step,
        )
        report.started_ts, report.finished_ts = started, self.clock()


def run_record(report: SyncReport) -> CollectorRun:
    """The `collector_runs` row of a sync made outside the scheduler (a backfill)."""
    quality = report.quality
    return CollectorRun(
        run_id=uuid.uuid4().hex,
        collector=f"backfill:{report.series}",
        status="ok" if report.complete else "partial",
        started_ts=report.started_ts,
        finished_ts=report.finished_ts,
        records_written=report.stored,
        records_quarantined=report.quarantined,
        accuracy=quality.accuracy if quality else None,
        completeness=quality.completeness if quality else None,
        timeliness=quality.timeliness if quality else None,
        quality=quality.overall if quality else None,
        error=None if report.complete else f"{report.failed_pages} page(s) failed",
    )


def split_conflicting_duplicates(candles: list[Candle]) -> tuple[list[Candle], list[Violation]]:
    """Drop exact repeats; candles sharing an open time with different values are all
    rejected (we cannot tell which is right; the gap pass refetches them)."""
    if len({candle.ts for candle in candles}) == len(candles):
        return candles, []
    by_ts: dict[int, list[Candle]] = {}
    for candle in candles:
        by_ts.setdefault(candle.ts, []).append(candle)
    kept: list[Candle] = []
    rejected: list[Violation] = []
    for ts, group in by_ts.items():
        if all(c == group[0] for c in group):
            kept.append(group[0])
        else:
            rule = "duplicate open time with different values in one page"
            rejected += [Violation("Candle", "ts", ts, rule, c) for c in group]
    return kept, rejected
