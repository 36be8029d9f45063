"""Running a real `Stream` against a local stub until what a test waits for is stored,
and reading back the books it stored (shared by the stream conformance tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from ohmycoins.collectors.streams import Stream
from ohmycoins.records import OrderBook
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import RECORD_TABLES


async def run_stream_until(stream: Stream, done: Callable[[], bool], within_s: float = 120) -> None:
    """Run `stream` until `done()` (checked as it goes), then stop it and close its client."""
    stopping = asyncio.Event()
    job = asyncio.create_task(stream.run(stopping))
    try:
        async with asyncio.timeout(within_s):
            while not done():
                assert not job.done()
                await asyncio.sleep(0.05)
    finally:
        stopping.set()
        await job
        await stream.client.close()


def stored_levels(stored: Any) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(p), Decimal(q)) for p, q in stored]


def latest_books(db: Database) -> dict[str, Any]:
    """The newest stored book of each symbol (read as a test polls: only those rows)."""
    table = RECORD_TABLES[OrderBook]
    newest = (
        select(table.c.symbol, func.max(table.c.ts).label("ts")).group_by(table.c.symbol).subquery()
    )
    query = select(table).join(
        newest, (table.c.symbol == newest.c.symbol) & (table.c.ts == newest.c.ts)
    )
    with db.engine.connect() as conn:
        return {row.symbol: row for row in conn.execute(query)}


def assert_books_sorted_and_uncrossed(db: Database) -> int:
    """Every stored book has sorted sides and best bid below best ask; how many there are."""
    table = RECORD_TABLES[OrderBook]
    with db.engine.connect() as conn:
        rows = conn.execute(select(table)).all()
    for row in rows:
        bids, asks = stored_levels(row.bids), stored_levels(row.asks)
        assert [p for p, _ in bids] == sorted({p for p, _ in bids}, reverse=True)
        assert [p for p, _ in asks] == sorted({p for p, _ in asks})
        assert bids[0][0] < asks[0][0]
    return len(rows)
