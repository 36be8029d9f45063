"""One collection end to end: fetch → parse → check → store → publish.

This is the first function to read. Every snapshot collector (tickers, order books,
CoinGecko markets, later the other ledgers) is this function with its own fetch and
parse; series with cursors (candles, trades) add a cursor move in the same
transaction as the data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import Connection

from ohmycoins.ingest import StoreResult, store
from ohmycoins.publish import Broker, publish_records
from ohmycoins.records import Record
from ohmycoins.sources.parsing import Parsed
from ohmycoins.storage.database import Database
from ohmycoins.timeframes import now_ms

Raw = TypeVar("Raw")


async def collect(
    db: Database,
    broker: Broker | None,
    source: str,
    fetch: Callable[[], Awaitable[Raw]],
    parse: Callable[[Raw, int], Parsed[Any]],
    *,
    then: Callable[[Parsed[Any], Connection], None] | None = None,
) -> StoreResult:
    """Fetch raw data, parse it to records, store what is valid (quarantining the
    rest, with the rows the parser rejected), then publish what was stored."""
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
    )
    if broker is not None:
        await publish_records(broker, result.stored)
    return result
