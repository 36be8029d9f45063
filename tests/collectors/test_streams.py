"""The live stream against a local Binance speaking the real websocket format: trades
with holes filled over REST, books checked and resynced, candles stored only closed."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ohmycoins.collectors.streams import Stream, StreamSpec
from ohmycoins.publish import MemoryBroker
from ohmycoins.records import Candle, OrderBook, QuarantinedRecord, Ticker, Trade
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.capture import SUFFIX, CaptureWriter, read_events
from ohmycoins.sources.exchange_ws import ExchangeStream
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import RECORD_TABLES
from ohmycoins.timeframes import now_ms
from tests.support.binance_ws import (
    CLOSE,
    STALL,
    T0,
    BinanceStub,
    Garbage,
    WaitFor,
    agg_trade,
    binance_stub,
    diff,
    kline,
    snapshot,
    ticker,
)
from tests.support.polling import until

DEPTH = "btcusdt@depth@100ms"
TRADES = "btcusdt@aggTrade"
KLINE = "btcusdt@kline_1m"


def spec(*channels: str, **options: Any) -> StreamSpec:
    values: dict[str, Any] = {
        "exchange": "binance",
        "symbols": ("BTC/USDT",),
        "channels": channels,
        "batch_seconds": 0.05,
        "snapshot_seconds": 0.05,
        "stale_seconds": 5.0,
        "backoff_initial_seconds": 0.05,
        "depth": 10,
    }
    return StreamSpec(**{**values, **options})


@pytest.fixture
async def streams() -> AsyncIterator[Callable[..., Stream]]:
    made: list[ExchangeStream] = []

    def build(
        stub: BinanceStub, db: Database, stream_spec: StreamSpec, broker: Any = None
    ) -> Stream:
        client = ExchangeStream("binance", SourceSettings(url=stub.url, ws_url=stub.ws_url))
        made.append(client)
        return Stream(stream_spec, client, db, broker)

    yield build
    for client in made:
        await client.close()


async def run_until(stream: Stream, done: Callable[[], bool], limit: float = 20.0) -> Any:
    """Run the stream until `done()` holds (looked at after each stored batch)."""
    stopping = asyncio.Event()
    job = asyncio.create_task(stream.run(stopping))
    try:
        async with asyncio.timeout(limit):
            while not done():
                if job.done():
                    return await job
                await asyncio.sleep(0.02)
    finally:
        stopping.set()
    return await job


trades = RECORD_TABLES[Trade]
books = RECORD_TABLES[OrderBook]
candles = RECORD_TABLES[Candle]


def stored_ids(db: Database) -> list[int]:
    with db.engine.connect() as conn:
        return sorted(int(i) for i in conn.execute(select(trades.c.trade_id)).scalars())


async def test_trades_missed_while_down_are_fetched_by_id(sqlite_db: Database, streams) -> None:
    rest = [agg_trade(i) for i in range(1, 13)]
    scripts = {
        TRADES: [[*(agg_trade(i) for i in range(1, 5)), CLOSE], [agg_trade(9), agg_trade(10)]]
    }
    async with binance_stub(scripts, agg_trades=rest) as stub:
        stream = streams(stub, sqlite_db, spec("trades"))
        outcome = await run_until(stream, lambda: 10 in stored_ids(sqlite_db))
    assert stored_ids(sqlite_db) == list(range(1, 11))
    assert stream.stats.reconnects == 1
    assert stream.stats.filled == 4  # 5..8 over REST
    assert stub.requests["/api/v3/aggTrades"] >= 1
    assert outcome.records_written == 10


def stored_books(db: Database) -> list[Any]:
    with db.engine.connect() as conn:
        return conn.execute(select(books).order_by(books.c.ts)).all()


BIDS = [["99.00", "1"], ["98.00", "2"]]
ASKS = [["101.00", "1"], ["102.00", "2"]]


async def test_book_follows_diffs_from_the_snapshot(sqlite_db: Database, streams) -> None:
    """Buffered diffs older than the snapshot are dropped, the first one spanning
    lastUpdateId+1 applies, then each follows the last; a duplicate is ignored."""
    scripts = {
        DEPTH: [
            [
                diff(90, 95, bids=[["50.00", "9"]]),  # before the snapshot: dropped
                diff(96, 102, bids=[["99.50", "3"]]),  # spans 101: first applied
                WaitFor("/api/v3/depth"),
                diff(103, 104, asks=[["101.00", "0"]]),  # removes the best ask
                diff(103, 104, asks=[["100.50", "7"]]),  # a duplicate: ignored
                diff(105, 105, asks=[["100.80", "4"]]),
                STALL,
            ]
        ]
    }
    async with binance_stub(scripts, depth=[snapshot(100, BIDS, ASKS)]) as stub:
        stream = streams(stub, sqlite_db, spec("book"))
        await run_until(stream, lambda: best_ask(sqlite_db) == Decimal("100.80"))
    row = stored_books(sqlite_db)[-1]
    assert levels(row.bids) == [(Decimal("99.50"), 3), (Decimal("99"), 1), (Decimal("98"), 2)]
    assert levels(row.asks) == [(Decimal("100.80"), 4), (Decimal("102"), 2)]
    assert Decimal(row.spread) == Decimal("1.30")
    assert stream.stats.resyncs == 0


def levels(stored: Any) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(p), Decimal(a)) for p, a in stored]


def best_ask(db: Database) -> Decimal | None:
    rows = stored_books(db)
    return levels(rows[-1].asks)[0][0] if rows else None


@pytest.mark.parametrize(
    "fault",
    [
        diff(107, 108, bids=[["10.00", "1"]]),  # 105..106 never came: a gap
        diff(105, 105, bids=[["101.50", "1"]]),  # the best bid above the best ask
        diff(105, 105, asks=[["10.00", "1"]]),  # an ask far below the bids: crossed
    ],
    ids=["gap", "crossed-bid", "crossed-ask"],
)
async def test_a_broken_book_is_discarded_and_resynced(
    sqlite_db: Database, streams, fault: dict[str, Any]
) -> None:
    scripts = {
        DEPTH: [
            [
                diff(96, 102),
                WaitFor("/api/v3/depth"),
                diff(103, 104, asks=[["100.80", "4"]]),
                WaitFor("/sync/served"),
                fault,
                STALL,
            ],
            [
                diff(199, 201),
                WaitFor("/api/v3/depth", 2),
                diff(202, 202, bids=[["97.00", "5"]]),
                STALL,
            ],
        ]
    }
    fresh = snapshot(200, [["96.00", "1"]], [["103.00", "1"]])
    async with binance_stub(scripts, depth=[snapshot(100, BIDS, ASKS), fresh]) as stub:
        stream = streams(stub, sqlite_db, spec("book"))

        def served_then_resynced() -> bool:
            if best_ask(sqlite_db) == Decimal("100.80"):
                stub.signal("/sync/served")  # the first book was stored: break it now
            return best_ask(sqlite_db) == Decimal("103.00") and bids_of(sqlite_db)[0][0] == 97

        await run_until(stream, served_then_resynced)
    assert stream.stats.resyncs == 1
    assert stub.requests["/api/v3/depth"] == 2
    for row in stored_books(sqlite_db):  # never a book with the fault in it
        bids, asks = levels(row.bids), levels(row.asks)
        assert bids[0][0] < asks[0][0]
        assert Decimal("10.00") not in [p for p, _ in bids + asks]
        assert Decimal("101.50") not in [p for p, _ in bids]


async def test_resyncs_that_keep_failing_wait_longer_each_time(
    sqlite_db: Database, streams, tmp_path: Path
) -> None:
    crossing = diff(101, 101, bids=[["102.00", "1"]])  # above the best ask: crossed
    scripts = {
        DEPTH: [
            *([crossing, WaitFor("/api/v3/depth", n), STALL] for n in (1, 2, 3)),
            [
                diff(199, 201),
                WaitFor("/api/v3/depth", 4),
                diff(202, 202, bids=[["97.00", "5"]]),
                STALL,
            ],
        ]
    }
    fresh = snapshot(200, [["96.00", "1"]], [["103.00", "1"]])
    async with binance_stub(scripts, depth=[*[snapshot(100, BIDS, ASKS)] * 3, fresh]) as stub:
        stream = streams(stub, sqlite_db, spec("book"))
        stream.client.capture = CaptureWriter(tmp_path, stream.client.id)

        def synced_again() -> bool:
            return bool(stored_books(sqlite_db)) and bids_of(sqlite_db)[0][0] == 97

        await run_until(stream, synced_again)

    assert stream.stats.resyncs == 3
    assert stub.requests["/api/v3/depth"] == 4
    waits = [mark for mark in captured_marks(tmp_path) if mark.startswith("resync")]
    assert waits == ["resync BTC/USDT", "resync BTC/USDT"]  # the first resync was at once
    for row in stored_books(sqlite_db):  # never the crossed book
        assert levels(row.bids)[0][0] < levels(row.asks)[0][0]


def captured_marks(folder: Path) -> list[str]:
    """The names of the marks (timers fired, the start) a capture holds, in order."""
    events = read_events(sorted(folder.rglob(f"*{SUFFIX}")), [])
    return [event.line["mark"] for event in events if event.kind == "mark"]


def bids_of(db: Database) -> list[tuple[Decimal, Decimal]]:
    rows = stored_books(db)
    return levels(rows[-1].bids) if rows else []


MINUTE = 60_000


async def test_candles_are_stored_only_when_closed(sqlite_db: Database, streams) -> None:
    """The candle in progress is published with `final: false` and never stored; the
    one the exchange closes (`x`) is stored once, with its closing values."""
    scripts = {
        KLINE: [
            [
                kline(T0, "100.10", closed=False),
                kline(T0, "100.20", closed=False),
                kline(T0, "100.30", closed=True),
                kline(T0 + MINUTE, "100.40", closed=False),
                kline(T0 + MINUTE, "100.50", closed=False),
                STALL,
            ]
        ]
    }
    broker = MemoryBroker()
    seen: list[dict[str, Any]] = []
    async with (
        broker.subscribe("candles:binance:BTC/USDT:1m") as live,
        binance_stub(scripts) as stub,
    ):
        stream = streams(stub, sqlite_db, spec("candles"), broker)

        async def listen() -> None:
            async for message in live:
                seen.append(message)

        listener = asyncio.create_task(listen())
        await run_until(stream, lambda: any(m["ts"] == T0 + MINUTE for m in seen))
        listener.cancel()
    with sqlite_db.engine.connect() as conn:
        rows = conn.execute(select(candles)).all()
    assert [(r.ts, Decimal(r.close)) for r in rows] == [(T0, Decimal("100.30"))]
    finals = [(m["ts"], Decimal(m["close"]), m.get("final", True)) for m in seen]
    assert (T0, Decimal("100.30"), True) in finals
    in_progress = [f for t, _, f in finals if t == T0 + MINUTE]
    assert in_progress and not any(in_progress)


async def test_a_quiet_socket_is_reconnected(sqlite_db: Database, streams) -> None:
    """The watchdog recycles a socket that says nothing for longer than its gap, and the
    stream goes on from the new one."""
    scripts = {TRADES: [[agg_trade(1), STALL], [agg_trade(2), STALL]]}
    async with binance_stub(scripts, agg_trades=[agg_trade(1), agg_trade(2)]) as stub:
        stream = streams(stub, sqlite_db, spec("trades", stale_seconds=0.5))
        await run_until(stream, lambda: stored_ids(sqlite_db) == [1, 2])
    assert stream.stats.reconnects >= 1
    assert stream.stats.stale_seconds >= 0.5
    assert stub.subscribed[TRADES] >= 2


async def test_garbage_and_bad_rows_do_not_stop_the_stream(sqlite_db: Database, streams) -> None:
    """A frame that is not JSON is skipped; a trade with a negative price is quarantined
    with its reason; the trades around them are stored."""
    bad = {**agg_trade(2), "p": "-5"}
    scripts = {TRADES: [[agg_trade(1), Garbage("{not json"), bad, agg_trade(3), STALL]]}
    async with binance_stub(scripts, agg_trades=[agg_trade(i) for i in (1, 2, 3)]) as stub:
        stream = streams(stub, sqlite_db, spec("trades"))
        await run_until(stream, lambda: 3 in stored_ids(sqlite_db))
    assert stored_ids(sqlite_db) == [1, 3]
    assert stream.stats.quarantined == 1
    assert stream.client.garbled == 1
    assert stream.stats.reconnects == 0  # the socket lived on


async def test_tickers_are_stored_as_sent(sqlite_db: Database, streams) -> None:
    scripts = {
        "btcusdt@ticker": [[ticker("100.50", T0 + 5_000), ticker("100.70", T0 + 6_000), STALL]]
    }
    async with binance_stub(scripts) as stub:
        stream = streams(stub, sqlite_db, spec("ticker"))
        await run_until(stream, lambda: len(stored_tickers(sqlite_db)) == 2)
    rows = stored_tickers(sqlite_db)
    assert [(r.ts, Decimal(r.last), Decimal(r.bid), Decimal(r.ask)) for r in rows] == [
        (T0 + 5_000, Decimal("100.50"), Decimal("99.99"), Decimal("100.01")),
        (T0 + 6_000, Decimal("100.70"), Decimal("99.99"), Decimal("100.01")),
    ]


def stored_tickers(db: Database) -> list[Any]:
    table = RECORD_TABLES[Ticker]
    with db.engine.connect() as conn:
        return conn.execute(select(table).order_by(table.c.ts)).all()


async def test_trades_are_published_before_their_batch_commits(
    sqlite_db: Database, streams
) -> None:
    """While another writer holds the database, the batch cannot commit, yet the trades
    that pass the checks already reach subscribers; a trade that breaks a rule (a time
    a day ahead) is never published. Once the writer lets go, the batch commits: the
    valid trades stored, the other quarantined."""
    ahead = now_ms() + 86_400_000
    trades_script = [agg_trade(1), agg_trade(2), agg_trade(3, ts=ahead), agg_trade(4), STALL]
    broker = MemoryBroker()
    writer = sqlite3.connect(str(sqlite_db.engine.url.database), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # holds the write lock: the stream's commit waits
    seen: list[str] = []
    async with (
        broker.subscribe("trades:binance:BTC/USDT") as live,
        binance_stub({TRADES: [trades_script]}) as stub,
    ):
        stream = streams(stub, sqlite_db, spec("trades"), broker)
        stopping = asyncio.Event()
        job = asyncio.create_task(stream.run(stopping))
        async with asyncio.timeout(20):
            async for message in live:
                seen.append(message["trade_id"])
                if len(seen) == 3:
                    break
        assert stored_ids(sqlite_db) == []  # published, not yet committed
        writer.execute("ROLLBACK")
        writer.close()
        await until(lambda: stored_ids(sqlite_db) == [1, 2, 4], 20)
        stopping.set()
        await job
    assert seen == ["1", "2", "4"]
    with sqlite_db.engine.connect() as conn:
        reasons = conn.execute(select(RECORD_TABLES[QuarantinedRecord].c.rule)).scalars().all()
    assert len(reasons) == 1 and "future" in reasons[0]
