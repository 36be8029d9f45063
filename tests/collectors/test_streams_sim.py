"""The stream against the simulator's Binance websocket, each fault switched on while it
runs: the fault is detected (a resync, a reconnect or a skipped frame), no invalid book
is stored, and the stored trade ids stay consecutive with no duplicate."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from ohmycoins.collectors.streams import Stream, StreamSpec
from ohmycoins.records import OrderBook, Trade
from ohmycoins.settings import SourceSettings
from ohmycoins.sim import SimulatorConfig, SimulatorHandle, running_simulator
from ohmycoins.sim.faults import FaultPlan, FaultRule
from ohmycoins.sources.exchange_ws import ExchangeStream
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import RECORD_TABLES
from tests.support.polling import until

RATE = 20.0  # trades and book changes a second
WAIT = 60.0


@pytest.fixture
async def sim() -> AsyncIterator[SimulatorHandle]:
    config = SimulatorConfig(seed=7, symbols=("BTCUSDT",), stream_rate=RATE)
    async with running_simulator(config) as handle:
        yield handle


def spec() -> StreamSpec:
    return StreamSpec(
        "binance",
        ("BTC/USDT",),
        ("trades", "book"),
        depth=20,
        snapshot_seconds=0.1,
        batch_seconds=0.1,
        stale_seconds=1.5,
        backoff_initial_seconds=0.1,
    )


def trade_ids(db: Database) -> list[int]:
    table = RECORD_TABLES[Trade]
    with db.engine.connect() as conn:
        return [int(i) for i in conn.execute(select(table.c.trade_id)).scalars()]


def books(db: Database) -> list[Any]:
    table = RECORD_TABLES[OrderBook]
    with db.engine.connect() as conn:
        return conn.execute(select(table)).all()


def valid(row: Any) -> bool:
    bids = [Decimal(p) for p, _ in row.bids]
    asks = [Decimal(p) for p, _ in row.asks]
    ordered = bids == sorted(bids, reverse=True) and asks == sorted(asks)
    return ordered and len(set(bids)) == len(bids) and bids[0] < asks[0]


FAULTS = {
    "drop_frame": (FaultRule("drop_frame", count=1, path="depth@100ms"), "resyncs"),
    "reorder_frames": (FaultRule("reorder_frames", count=1, path="depth@100ms"), "resyncs"),
    "duplicate_frame": (FaultRule("duplicate_frame", count=2, path="depth@100ms"), None),
    "stall": (FaultRule("stall", count=1, path="aggTrade", seconds=5.0), "reconnects"),
    "disconnect": (FaultRule("disconnect", count=1, path="aggTrade"), "reconnects"),
    "garbage_frame": (FaultRule("garbage_frame", count=1, path="aggTrade"), "garbled"),
    "burst": (FaultRule("burst", count=1, path="depth@100ms", seconds=1.0), None),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_each_simulator_fault_is_survived(
    sqlite_db: Database, sim: SimulatorHandle, fault: str
) -> None:
    rule, detected = FAULTS[fault]
    client = ExchangeStream("binance", SourceSettings(url=sim.base_url, ws_url=sim.ws_url))
    stream = Stream(spec(), client, sqlite_db, None)
    stopping = asyncio.Event()
    job = asyncio.create_task(stream.run(stopping))
    try:
        await until(lambda: len(trade_ids(sqlite_db)) >= 10 and bool(books(sqlite_db)), WAIT)
        sim.set_faults(FaultPlan(rules=(rule,)))
        before = len(trade_ids(sqlite_db))

        def recovered() -> bool:
            assert not job.done(), job  # the stream outlives every fault
            return len(trade_ids(sqlite_db)) >= before + 60 and _count(stream, detected) >= 1

        await until(recovered, WAIT)
    finally:
        stopping.set()
        await job
        await client.close()
    ids = sorted(trade_ids(sqlite_db))
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # consecutive, no duplicate
    assert all(valid(row) for row in books(sqlite_db))
    if detected is not None:
        assert _count(stream, detected) >= 1


def _count(stream: Stream, what: str | None) -> int:
    if what is None:
        return 1
    if what == "garbled":
        return stream.client.garbled
    return int(getattr(stream.stats, what))
