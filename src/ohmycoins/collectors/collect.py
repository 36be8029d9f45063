"""One collection end to end: fetch → parse → check → store → publish.

This is the first module to read. Every collector is `collect` with its own fetch and
parse; series with cursors (trades, candles) add a cursor move in the same
transaction as the data (`before_commit`). Candle pages fetch and parse by
themselves (each page retried under the scheduler's one retry rule, a page that
still fails kept as missing candles, `candles.py`) and then take the same
`store_and_publish` step. A live stream takes the same step in the other order,
publish first (`check_and_publish` as each message comes, then `store_published` for
its micro-batch): subscribers see a record as soon as it passes the checks, not once
its batch commits. A run over several items (feeds, coins, symbols, series)
is `collect_each`: a ban or a 429 stops the run, any other failure is reported and
the other items are still collected; `outcome`/`run_outcome` build what the run
reports to the scheduler. A derived job (features) is `derive`: read what is
stored → compute → write.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection

from ohmycoins.collectors.ingest import StoreResult, store, store_checked
from ohmycoins.errors import BannedError, RateLimitedError, SourceError
from ohmycoins.publish import Broker, publish_in_progress, publish_records
from ohmycoins.quality.rules import split_valid
from ohmycoins.quality.scores import QualityScore, score
from ohmycoins.records import Record
from ohmycoins.scheduling.registry import RunOutcome
from ohmycoins.sources.parsing import Parsed
from ohmycoins.storage.database import Database
from ohmycoins.timeframes import now_ms

log = logging.getLogger(__name__)

NO_KEY = "no API key"
"""Why a keyed source's collectors are off (`Collector.disabled_reason`)."""

Raw = TypeVar("Raw")
Item = TypeVar("Item")
Result = TypeVar("Result")


async def collect(
    db: Database,
    broker: Broker | None,
    source: str,
    fetch: Callable[[], Awaitable[Raw]],
    parse: Callable[[Raw, int], Parsed[Any]],
    *,
    before_store: Callable[[Connection, Sequence[Record]], Sequence[Record]] | None = None,
    before_commit: Callable[[Parsed[Any], Connection], None] | None = None,
) -> StoreResult:
    """Fetch raw data, parse it to records, store what is valid (quarantining the
    rest, with the rows the parser rejected), then publish what was stored.

    Both hooks run in the write transaction (see `ingest.store`): `before_store` may
    rewrite the records from what is stored (catalyst ids); `before_commit` writes what
    must commit with the data (a cursor)."""
    raw = await fetch()
    at = now_ms()
    parsed = parse(raw, at)
    return await store_and_publish(
        db,
        broker,
        source,
        parsed,
        at,
        before_store=before_store,
        before_commit=functools.partial(before_commit, parsed) if before_commit else None,
    )


async def store_and_publish(
    db: Database,
    broker: Broker | None,
    source: str,
    parsed: Parsed[Any],
    at: int,
    *,
    before_store: Callable[[Connection, Sequence[Record]], Sequence[Record]] | None = None,
    before_commit: Callable[[Connection], None] | None = None,
    published: Callable[[Record], bool] | None = None,
) -> StoreResult:
    """The one store-and-publish step every collection and stream ends with: store the
    valid records of `parsed` (quarantining the rest, with the rows the parser
    rejected) in a writer thread, then publish what was stored, or only what
    `published` accepts (a backfill publishes no history). A collector that fetches and
    parses by itself (a candle page) calls it directly; a live stream publishes first
    instead (`check_and_publish`, then `store_published`)."""
    result = await asyncio.to_thread(
        store,
        db,
        parsed.records,
        source=source,
        quarantine=True,
        at_ms=at,
        rejected=parsed.violations,
        before_store=before_store,
        before_commit=before_commit,
    )
    if broker is not None:
        stored = result.stored if published is None else filter(published, result.stored)
        await publish_records(broker, stored)
    return result


async def check_and_publish(
    broker: Broker | None,
    parsed: Parsed[Any],
    at: int,
    *,
    in_progress: Sequence[Record] = (),
) -> Parsed[Any]:
    """Publish first, the order of a live stream: check the records of `parsed` now and
    publish the valid ones at once (with `in_progress` records, flagged not final), before
    they are stored. Returns what `store_published` then commits: the valid records, and
    the violations (the parser's and the checks').

    The order is the stream's choice, not the rule: a record is published whether or
    not its batch then commits. A commit that fails is retried with the same records,
    and the upsert is idempotent (natural keys), so a subscriber may see a record that
    is stored a little later, or see one twice (a trade received again after a
    reconnect, which the store keeps once), but never one that broke a rule."""
    valid, broken = split_valid(parsed.records, at)
    if broker is not None:
        await publish_records(broker, valid)
        if in_progress:
            await publish_in_progress(broker, in_progress)
    return Parsed(valid, [*parsed.violations, *broken])


async def store_published(
    db: Database,
    source: str,
    checked: Parsed[Any],
    at: int,
    *,
    before_commit: Callable[[Connection], None] | None = None,
    after_commit: Callable[[], None] | None = None,
) -> StoreResult:
    """Commit what `check_and_publish` checked and published (a stream's micro-batch),
    in a writer thread, quarantining the violations; the records are not checked
    again. `before_commit` runs in the write transaction (a cursor); `after_commit` once
    it has committed (a stream's commit lag)."""
    result = await asyncio.to_thread(
        store_checked,
        db,
        checked.records,
        checked.violations,
        source=source,
        at_ms=at,
        before_commit=before_commit,
    )
    if after_commit is not None:
        after_commit()
    return result


async def derive(
    read: Callable[[], Raw],
    compute: Callable[[Raw], Result],
    write: Callable[[Result], int],
) -> int:
    """A derived job (features, rollups): read what is stored, compute from it (pure),
    write the result; each step off the event loop. Returns the rows written."""
    stored = await asyncio.to_thread(read)
    computed = await asyncio.to_thread(compute, stored)
    return await asyncio.to_thread(write, computed)


@dataclass(frozen=True, slots=True)
class EachReport(Generic[Item, Result]):
    """One run over several items (feeds, subreddits, protocols, series, calls): what
    each stored, and which failed and why."""

    results: list[Result]
    failures: list[tuple[Item, SourceError]]
    problem: str | None
    """What makes the run partial, every failed item named; None when none failed."""


STOPS_THE_RUN = (BannedError, RateLimitedError)
"""Errors that end a run over several items at once: every further call would fail
the same way, and a ban grows with each call. They reach the runner, whose breaker
and quota see them."""


async def collect_each(
    items: Sequence[Item],
    collect_one: Callable[[Item], Awaitable[Result]],
    noun: str,
    label: Callable[[Item], str] = str,
) -> EachReport[Item, Result]:
    """`collect_one` on every item in turn. A ban or a rate limit (`STOPS_THE_RUN`) is
    raised at once; any other source error is logged and reported, and the next item is
    read, so one bad item does not fail the others. When every item fails, the first
    error is raised."""
    results: list[Result] = []
    failures: list[tuple[Item, SourceError]] = []
    for item in items:
        try:
            results.append(await collect_one(item))
        except STOPS_THE_RUN:
            raise
        except SourceError as error:
            log.warning("%s %s failed: %s", noun, label(item), error)
            failures.append((item, error))
    if items and len(failures) == len(items):
        raise failures[0][1]
    failed = [f"{label(item)}: {error}" for item, error in failures]
    return EachReport(results, failures, partial(failed, len(items), noun))


def partial(failed: Sequence[str], total: int, noun: str) -> str | None:
    """The `problem` of a run where the `failed` of `total` items failed (each named
    with its error); None when none failed."""
    if not failed:
        return None
    return f"{len(failed)} of {total} {noun}(s) failed: {'; '.join(failed)}"


def combined(results: Sequence[StoreResult]) -> StoreResult:
    """The results of several stores of one run, as one."""
    return StoreResult(
        [r for result in results for r in result.stored],
        [v for result in results for v in result.violations],
    )


def outcome(
    result: StoreResult,
    expected: int | None = None,
    problem: str | None = None,
    *,
    cursor: str | None = None,
) -> RunOutcome:
    """A run's outcome from what it stored, with its quality score. `expected`: how
    many records the run should have stored; by default every record the source sent
    (stored or quarantined)."""
    quality = score(
        valid=result.written,
        invalid=result.quarantined,
        present=result.written,
        expected=result.written + result.quarantined if expected is None else expected,
        lag_ms=0,
        stale_after_ms=1,
    )
    return run_outcome(result.written, result.quarantined, quality, problem, cursor=cursor)


def each_outcome(report: EachReport[Any, StoreResult], expected: int | None = None) -> RunOutcome:
    """The outcome of a run over several items that are each one collection
    (`collect_each`): what they stored together, partial when some failed (`expected`
    as in `outcome`)."""
    return outcome(combined(report.results), expected, report.problem)


def run_outcome(
    written: int,
    quarantined: int = 0,
    quality: QualityScore | None = None,
    problem: str | None = None,
    *,
    cursor: str | None = None,
    changed: bool | None = None,
    retry_in_seconds: float | None = None,
) -> RunOutcome:
    """The one place a collector's `RunOutcome` is built: the run changed something
    when it wrote a record (`changed=True`: a maintenance job, kept to its schedule
    whatever it found); a `problem` makes it partial; `retry_in_seconds` asks for the
    next run sooner than the schedule (the run's input was not there yet)."""
    touched = written > 0 if changed is None else changed
    return RunOutcome(written, quarantined, quality, touched, cursor, problem, retry_in_seconds)
