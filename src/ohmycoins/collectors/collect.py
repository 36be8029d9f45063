"""One collection end to end: fetch → parse → check → store → publish.

This is the first function to read. Every snapshot collector (tickers, order books,
CoinGecko markets, later the other ledgers) is this function with its own fetch and
parse; series with cursors (candles, trades) add a cursor move in the same
transaction as the data.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection

from ohmycoins.collectors.ingest import StoreResult, store
from ohmycoins.errors import SourceError
from ohmycoins.publish import Broker, publish_records
from ohmycoins.quality.scores import score
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
    then: Callable[[Parsed[Any], Connection], None] | None = None,
    prepare: Callable[[Connection, Sequence[Record]], Sequence[Record]] | None = None,
) -> StoreResult:
    """Fetch raw data, parse it to records, store what is valid (quarantining the
    rest, with the rows the parser rejected), then publish what was stored.
    `prepare` and `then` run in the write transaction (see `ingest.store`)."""
    raw = await fetch()
    at = now_ms()
    parsed = parse(raw, at)
    records: list[Record] = parsed.records
    after = (lambda conn: then(parsed, conn)) if then is not None else None
    result = await asyncio.to_thread(
        store,
        db,
        records,
        source=source,
        quarantine=True,
        at_ms=at,
        rejected=parsed.violations,
        then=after,
        prepare=prepare,
    )
    if broker is not None:
        await publish_records(broker, result.stored)
    return result


@dataclass(frozen=True, slots=True)
class EachReport(Generic[Item, Result]):
    """One run over several items (feeds, subreddits): what each stored, and which
    failed and why."""

    results: list[Result]
    failures: dict[Item, SourceError]
    problem: str | None
    """What makes the run partial, every failed item named; None when none failed."""


async def collect_each(
    items: Sequence[Item],
    collect_one: Callable[[Item], Awaitable[Result]],
    noun: str,
    label: Callable[[Item], str] = str,
) -> EachReport[Item, Result]:
    """`collect_one` on every item in turn: an item that fails is logged and reported
    and the next one is read, so one bad item does not fail the others; only when every
    item fails is the first error raised."""
    results: list[Result] = []
    failures: dict[Item, SourceError] = {}
    for item in items:
        try:
            results.append(await collect_one(item))
        except SourceError as error:
            log.warning("%s %s failed: %s", noun, label(item), error)
            failures[item] = error
    if items and len(failures) == len(items):
        raise next(iter(failures.values()))
    problem = None
    if failures:
        failed = "; ".join(f"{label(item)}: {error}" for item, error in failures.items())
        problem = f"{len(failures)} of {len(items)} {noun}(s) failed: {failed}"
    return EachReport(results, failures, problem)


def combined(results: Sequence[StoreResult]) -> StoreResult:
    """The results of several stores of one run, as one."""
    return StoreResult(
        [r for result in results for r in result.stored],
        [v for result in results for v in result.violations],
    )


def outcome(
    result: StoreResult, expected: int | None = None, problem: str | None = None
) -> RunOutcome:
    """A run's outcome from what it stored. `expected`: how many records the run should
    have stored; by default every record the source sent (stored or quarantined)."""
    quality = score(
        valid=result.written,
        invalid=result.quarantined,
        present=result.written,
        expected=result.written + result.quarantined if expected is None else expected,
        lag_ms=0,
        stale_after_ms=1,
    )
    changed = result.written > 0
    return RunOutcome(result.written, result.quarantined, quality, changed, problem=problem)
