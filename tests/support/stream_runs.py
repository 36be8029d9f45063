"""Running a real `Stream` against a local stub until what a test waits for is stored,
and reading back the books it stored (shared by the stream conformance tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from ohmycoins.collectors.streams import Stream, StreamSpec
from ohmycoins.records import OrderBook
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.exchange_ws import ExchangeStream
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import RECORD_TABLES
from tests.support.replay import replay_server
from tests.support.venue_ws import VenueStub, venue_ws_stub
from tests.support.ws_scripts import Subscribed


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


async def run_venue_stream(
    db: Database,
    spec: StreamSpec,
    rest: Mapping[str, Any],
    subscribed: Subscribed,
    scripts: Mapping[str, Sequence[Sequence[Any]]],
    done: Callable[[Stream], bool],
) -> tuple[Stream, ExchangeStream, VenueStub]:
    """Run `spec` with the real client against `rest` (`replay_server`) and a
    `venue_ws_stub` playing `scripts`, until `done(stream)`."""
    async with replay_server(rest) as url:
        return await run_venue_stream_at(db, spec, url, subscribed, scripts, done)


async def run_venue_stream_at(
    db: Database,
    spec: StreamSpec,
    rest_url: str,
    subscribed: Subscribed,
    scripts: Mapping[str, Sequence[Sequence[Any]]],
    done: Callable[[Stream], bool],
) -> tuple[Stream, ExchangeStream, VenueStub]:
    """Run `spec` with the real client against the REST server at `rest_url` and a
    `venue_ws_stub` playing `scripts`, until `done(stream)`."""
    async with venue_ws_stub(subscribed, scripts) as stub:
        client = ExchangeStream(spec.exchange, SourceSettings(url=rest_url, ws_url=stub.ws_url))
        stream = Stream(spec, client, db, None)
        await run_stream_until(stream, lambda: done(stream))
    return stream, client, stub


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
