"""Candles: gap-free backfill and incremental sync of OHLCV series.

A series (exchange, symbol, timeframe) is cut into pages of `page_size` candle slots;
pages are fetched concurrently (the exchange client's weight budget paces them), each
under the scheduler's one retry rule (`scheduling.retry`; a backfill builds it from the
same policy), and each takes collect's store-and-publish step. The series' cursor
moves over the contiguous run of stored pages in the same transaction as the data,
so a kill at any moment resumes without gaps. A page still failing after its retries
is left missing, for later syncs. A final pass refetches the other candles not stored
(and the missing ones of earlier syncs that are due), then judges each one still
absent a hole of the exchange or missing (`candle_gaps`). The range never starts
before the series' listing, asked of the exchange once and recorded, so two identical
syncs store the same. What a sync reports is `candle_report`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection

from ohmycoins.collectors.candle_gaps import (
    SETTLE_STEPS,
    Evidence,
    covered,
    hole_due,
    judge,
)
from ohmycoins.collectors.candle_report import SyncReport
from ohmycoins.collectors.collect import store_and_publish
from ohmycoins.collectors.ingest import StoreResult
from ohmycoins.errors import PayloadError, TemporarySourceError, Violation
from ohmycoins.publish import Broker
from ohmycoins.quality.gaps import (
    Span,
    intersect_spans,
    merge_spans,
    missing_ranges,
    subtract_spans,
)
from ohmycoins.records import Candle, Record
from ohmycoins.scheduling.retry import Retry
from ohmycoins.sources.exchange import ExchangeClient, parse_ohlcv
from ohmycoins.sources.parsing import Parsed
from ohmycoins.storage.cursors import (
    Hole,
    Missing,
    SeriesKey,
    forget_holes,
    read_cursor,
    read_holes,
    read_listing,
    read_missing,
    record_holes,
    replace_missing,
    write_cursor,
    write_listing,
)
from ohmycoins.storage.database import Database
from ohmycoins.storage.reads.market import candle_times
from ohmycoins.timeframes import now_ms, timeframe_ms

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""Called with (series name, candle slots done, candle slots in the range)."""

T = TypeVar("T")


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
        retry: Retry | None = None,
        clock: Callable[[], int] = now_ms,
        on_progress: Progress | None = None,
    ) -> None:
        """`retry`: the rule each page is fetched under (the scheduler's, from the run's
        context; a backfill's own from the workers' `Policy`); a page still failing
        after it is left to the gap pass and later syncs, never to another retry."""
        self.client = client
        self.db = db
        self.broker = broker
        self.page_size = page_size
        self.pages_in_flight = pages_in_flight
        self.retry = retry or Retry()
        self.clock = clock
        self.on_progress = on_progress

    async def sync(
        self, symbol: str, timeframe: str, since: int, until: int | None = None
    ) -> SyncReport:
        """Make [since, until) of one series complete (until defaults to now)."""
        step = timeframe_ms(timeframe)
        key = SeriesKey(self.client.id, "candles", symbol, timeframe)
        started = self.clock()
        end = min(until if until is not None else started, started + step)
        closed_end = min(end, started - started % step)
        listed = await self._listing(key, end)
        first = max(-(-since // step) * step, listed if listed is not None else since)
        report = SyncReport(f"{key.source}:{symbol}:{timeframe}")
        report.expected = max(0, (closed_end - first) // step)
        cursor_ts, _ = await asyncio.to_thread(self._in_transaction, read_cursor, key)
        resume = max(first, cursor_ts + step) if cursor_ts is not None else first
        seen = Evidence()
        await self._fetch_pages(key, report, resume, end, closed_end, first, seen)
        missing = await self._verify(key, report, (first, closed_end), listed, seen)
        report.finish(step, (first, closed_end - step), missing, (started, self.clock()))
        return report

    async def _listing(self, key: SeriesKey, end: int) -> int | None:
        """The open time of the series' first candle, asked of the exchange once and
        recorded: `end` while it has none yet, None when it gives no clear answer (the
        range then starts where asked, skipping nothing)."""
        listed = await asyncio.to_thread(self._in_transaction, read_listing, key)
        if listed is not None:
            return listed
        fetched = await self._fetch_page(key, 0, end, limit=1)
        if fetched is None or fetched.violations:
            return None
        if not fetched.records:
            return end
        first = fetched.records[0].ts
        await asyncio.to_thread(self._in_transaction, write_listing, key, first, self.clock())
        return first

    def _in_transaction(self, action: Callable[..., T], *args: Any) -> T:
        """`action(conn, *args)` in one transaction of its own (run in a thread)."""
        with self.db.engine.begin() as conn:
            return action(conn, *args)

    async def _fetch_pages(
        self,
        key: SeriesKey,
        report: SyncReport,
        start: int,
        end: int,
        closed_end: int,
        first: int,
        seen: Evidence,
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
                through = min(pages[frontier[0] - 1][1], closed_end) - step
                if through >= first:
                    write_cursor(conn, key, self.clock(), ts=through)

        async def one(index: int, page: tuple[int, int]) -> None:
            async with gate:  # held until stored: fetched pages never pile up in memory
                fetched = await self._fetch_page(key, *page)
                if fetched is None:
                    report.failed_pages += 1
                    seen.failed.append((page[0], (page[1] - 1) // step * step))
                    return
                stored = await self._store(
                    key, report, fetched, before_commit=lambda conn: advance(conn, index)
                )
                if not stored.violations:
                    seen.clean.append(covered(*page, step, fetched.records, self.page_size))
            self._progress(
                report, (min(page[1], closed_end) - start) // step, start, closed_end, step
            )

        await asyncio.gather(*(one(i, page) for i, page in enumerate(pages)))

    async def _fetch_page(
        self, key: SeriesKey, since: int, until: int, limit: int | None = None
    ) -> Parsed[Candle] | None:
        """Candles of [since, until) and the rows rejected while parsing them; None when
        the page still failed after the retry rule. A malformed page is asked again
        too: an exchange's market data does not change between two asks, a cut
        transfer does."""
        try:
            rows = await self.retry.call(
                lambda: self.client.fetch_ohlcv(
                    key.symbol, key.timeframe, since, until - 1, limit or self.page_size
                ),
                also=(PayloadError,),
            )
        except (TemporarySourceError, PayloadError) as exc:
            log.warning(
                "%s: page %d..%d failed (%s): %s", key.symbol, since, until, self.retry, exc
            )
            return None
        parsed = parse_ohlcv(key.source, key.symbol, key.timeframe, rows)
        candles, conflicts = split_conflicting_duplicates(parsed.records)
        return Parsed(candles, [*parsed.violations, *conflicts])

    async def _store(
        self,
        key: SeriesKey,
        report: SyncReport,
        page: Parsed[Candle],
        *,
        before_commit: Callable[[Connection], None] | None = None,
    ) -> StoreResult:
        """Check, store and publish one page (`collect.store_and_publish`); only the
        newest candles are published, never the history a backfill stores."""
        fresh_from = self.clock() - 2 * timeframe_ms(key.timeframe)

        def fresh(record: Record) -> bool:
            return isinstance(record, Candle) and record.ts >= fresh_from

        result = await store_and_publish(
            self.db,
            self.broker,
            key.source,
            page,
            self.clock(),
            before_commit=before_commit,
            published=fresh,
        )
        report.stored += result.written
        report.quarantined += result.quarantined
        return result

    def _progress(
        self, report: SyncReport, done: int, start: int, closed_end: int, step: int
    ) -> None:
        if self.on_progress is not None:
            self.on_progress(report.series, done, max(0, (closed_end - start) // step))

    async def _verify(
        self,
        key: SeriesKey,
        report: SyncReport,
        span: tuple[int, int],
        listed: int | None,
        seen: Evidence,
    ) -> list[Missing]:
        """Refetch the candles of [first, closed_end) not stored, with the series'
        missing ones that are due and its holes to verify again, then judge each one
        still absent (`candle_gaps.judge`). Without a known listing no hole is proven:
        the absent candles could be the time before it."""
        first, closed_end = span
        step, now = timeframe_ms(key.timeframe), self.clock()
        old, holes = await asyncio.to_thread(self._gap_state, key)
        due = [hole for hole in holes if hole_due(hole, now, step)]
        rechecks = [(hole.start_ts, hole.end_ts) for hole in due]
        kept = [(h.start_ts, h.end_ts) for h in holes if h not in due]
        asked = [(first, closed_end - step)] if closed_end > first else []
        universe = merge_spans([*asked, *((m.start_ts, m.end_ts) for m in old), *rechecks], step)
        if listed is not None and universe:  # nothing is expected before the listing
            universe = intersect_spans(universe, [(listed, universe[-1][1])], step)
        absent = subtract_spans(await self._absent(key, universe), kept, step)
        waiting = [(m.start_ts, m.end_ts) for m in old if m.next_try_ts > now]
        wanted = subtract_spans(absent, [*waiting, *seen.failed], step)
        second, fine = await self._refetch(key, report, wanted)
        absent = await self._still_absent(key, absent, wanted)
        again = intersect_spans(absent, second, step) if fine else []
        unsure = subtract_spans(again, seen.clean + rechecks, step)
        third, _ = await self._refetch(key, report, unsure)
        absent = await self._still_absent(key, absent, unsure)
        twice = merge_spans([*intersect_spans(second, seen.clean + rechecks, step), *third], step)
        settled = now - now % step - (SETTLE_STEPS + 1) * step  # the newest settled candle
        verdict = judge(key, absent, twice, due, old, settled if listed is not None else None, now)
        report.holes = verdict.holes
        holes, missing = [*verdict.holes, *verdict.rechecked], verdict.missing
        await asyncio.to_thread(self._record_gaps, key, [h.start_ts for h in due], holes, missing)
        return missing

    async def _refetch(
        self, key: SeriesKey, report: SyncReport, spans: list[Span]
    ) -> tuple[list[Span], bool]:
        """Fetch the candles of `spans` again, page by page: the spans well-formed answers
        covered, and whether every fetch answered (the first that fails ends the pass:
        what is left stays missing for a later sync)."""
        step, seen = timeframe_ms(key.timeframe), list[Span]()
        for low, high in spans:
            for since in range(low, high + step, self.page_size * step):
                until = min(since + self.page_size * step, high + step)
                fetched = await self._fetch_page(key, since, until)
                if fetched is None:
                    report.failed_pages += 1
                    return seen, False
                wanted = [c for c in fetched.records if since <= c.ts < until]
                stored = await self._store(key, report, Parsed(wanted, fetched.violations))
                report.refetched += stored.written
                if not stored.violations:
                    seen.append(covered(since, until, step, fetched.records, self.page_size))
        return seen, True

    async def _absent(self, key: SeriesKey, spans: list[Span]) -> list[Span]:
        """The open times of `spans` with no stored candle."""
        if not spans:  # the usual case after a healthy sync: no thread, no connection
            return []
        return await asyncio.to_thread(self._read_absent, key, spans)

    async def _still_absent(
        self, key: SeriesKey, absent: list[Span], asked: list[Span]
    ) -> list[Span]:
        """`absent` once the candles of `asked` were fetched again: only those are read."""
        step = timeframe_ms(key.timeframe)
        again = await self._absent(key, intersect_spans(absent, asked, step))
        return merge_spans([*subtract_spans(absent, asked, step), *again], step)

    def _read_absent(self, key: SeriesKey, spans: list[Span]) -> list[Span]:
        step = timeframe_ms(key.timeframe)
        found = candle_times(self.db, key.source, key.symbol, key.timeframe, spans)
        absent: list[Span] = []
        for (low, high), present in zip(spans, found, strict=True):
            absent += missing_ranges(present, low, high + step, step)
        return absent

    def _gap_state(self, key: SeriesKey) -> tuple[list[Missing], list[Hole]]:
        with self.db.engine.connect() as conn:
            holes = read_holes(conn, key.source, key.symbol, key.timeframe)
            return read_missing(conn, key), holes

    def _record_gaps(
        self, key: SeriesKey, rechecked: list[int], holes: list[Hole], missing: list[Missing]
    ) -> None:
        with self.db.engine.begin() as conn:
            forget_holes(conn, key, rechecked)
            record_holes(conn, holes)
            replace_missing(conn, key, missing)


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
