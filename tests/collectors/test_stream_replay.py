"""Raw capture and `omc replay`: a live run against the simulator's websocket, captured,
replays into an empty database as the same rows; pacing hands out the captured times;
a damaged file is one line and the rest replays; what a stalled storage spilled is
stored by a replay of the capture."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ohmycoins.collectors.replay import capture_files, replay
from ohmycoins.collectors.streams import Stream, StreamSpec
from ohmycoins.records import OrderBook, Ticker, Trade
from ohmycoins.settings import SourceSettings
from ohmycoins.sim import SimulatorConfig, SimulatorHandle, running_simulator
from ohmycoins.sources.capture import CaptureWriter
from ohmycoins.sources.exchange_ws import ExchangeStream
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import RECORD_TABLES
from tests.conftest import sqlite_url
from tests.support.captures import omc_replay, stream_rows
from tests.support.polling import until

WAIT = 60.0


@pytest.fixture
async def sim() -> AsyncIterator[SimulatorHandle]:
    config = SimulatorConfig(seed=11, symbols=("BTCUSDT",), stream_rate=20.0)
    async with running_simulator(config) as handle:
        yield handle


def spec(**options: Any) -> StreamSpec:
    values: dict[str, Any] = {
        "exchange": "binance",
        "symbols": ("BTC/USDT",),
        "channels": ("trades", "book", "ticker", "candles"),
        "depth": 10,
        "snapshot_seconds": 0.2,
        "batch_seconds": 0.1,
        "stale_seconds": 20.0,
    }
    return StreamSpec(**{**values, **options})


def count(db: Database, record: type) -> int:
    with db.engine.connect() as conn:
        return len(conn.execute(select(RECORD_TABLES[record])).all())


async def live_run(
    sim: SimulatorHandle, db: Database, capture: Path, enough: Any, **options: Any
) -> Stream:
    """A live stream with capture on, until `enough(db)` holds; then stopped."""
    client = ExchangeStream("binance", SourceSettings(url=sim.base_url, ws_url=sim.ws_url))
    client.capture = CaptureWriter(capture, client.id)
    stream = Stream(spec(**options), client, db, None)
    stopping = asyncio.Event()
    job = asyncio.create_task(stream.run(stopping))
    try:
        await until(lambda: enough(db, stream) or job.done(), WAIT)
    finally:
        stopping.set()
        await job
        await client.close()
    return stream


def plenty(db: Database, stream: Stream | None = None) -> bool:
    return count(db, Trade) >= 30 and count(db, OrderBook) >= 5 and count(db, Ticker) >= 3


async def test_replay_of_a_live_capture_stores_the_same_stream_rows(
    sqlite_db: Database, sim: SimulatorHandle, tmp_path: Path
) -> None:
    capture = tmp_path / "capture"
    await live_run(sim, sqlite_db, capture, plenty)
    replayed = tmp_path / "replayed"
    replayed.mkdir()
    url = sqlite_url(replayed)
    code, out, err = await omc_replay(str(capture), db_url=url)
    assert code == 0, err[-2000:]
    assert "replayed" in out
    live, again = stream_rows(sqlite_db), stream_rows(Database(url))
    assert len(live["trades"]) >= 30 and len(live["orderbooks"]) >= 5
    assert len(live["tickers"]) >= 3
    assert again == live


async def test_pacing_hands_out_the_captured_times(
    sqlite_db: Database, sim: SimulatorHandle, tmp_path: Path
) -> None:
    capture = tmp_path / "capture"
    await live_run(sim, sqlite_db, capture, lambda db, _: count(db, Trade) >= 10)
    fast = await replay([capture], Database(sqlite_url(_dir(tmp_path, "a"))), None)
    paced = await replay([capture], Database(sqlite_url(_dir(tmp_path, "b"))), None, speed=50.0)
    assert fast.feed.handed == sorted(fast.feed.handed) and len(fast.feed.handed) > 10
    assert paced.feed.handed == fast.feed.handed  # the same clock values, whatever the pace
    assert fast.feed.paced == []  # as fast as possible: no event waits
    first = paced.feed.handed[0]
    expected = [(t - first) / 1000 / 50.0 for t in paced.feed.handed[1:]]
    assert sorted(paced.feed.paced) == paced.feed.paced
    assert set(paced.feed.paced) <= {0.0, *expected}
    assert paced.feed.paced[-1] == expected[-1]


def _dir(tmp_path: Path, name: str) -> Path:
    (tmp_path / name).mkdir()
    db = Database(sqlite_url(tmp_path / name))
    db.upgrade()
    return tmp_path / name


async def test_a_damaged_file_is_one_line_and_the_rest_replays(
    sqlite_db: Database, sim: SimulatorHandle, tmp_path: Path
) -> None:
    capture = tmp_path / "capture"
    await live_run(sim, sqlite_db, capture, lambda db, _: count(db, Trade) >= 20)
    (tickers,) = [f for f in capture_files([capture]) if f.parent.name == "ticker"]
    tickers.write_bytes(tickers.read_bytes()[:-7])  # its last frame cut short
    replayed = _dir(tmp_path, "replayed")
    code, _, err = await omc_replay(str(capture), db_url=sqlite_url(replayed))
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and str(tickers) in lines[0], err
    assert stream_rows(Database(sqlite_url(replayed)))["trades"] == stream_rows(sqlite_db)["trades"]


async def test_records_spilled_while_storage_stalls_are_stored_by_a_replay(
    sqlite_db: Database, sim: SimulatorHandle, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    capture = tmp_path / "capture"
    lock = sqlite3.connect(str(tmp_path / "omc.db"))
    lock.execute("BEGIN EXCLUSIVE")  # another writer holds the database

    def spilling(db: Database, stream: Stream) -> bool:
        if stream.stats.spilled >= 3 and lock.in_transaction:
            lock.rollback()  # storage comes back
        return not lock.in_transaction and plenty(db)

    stream = await live_run(sim, sqlite_db, capture, spilling, queue_size=2)
    assert stream.stats.spilled >= 3
    assert "omc replay stores them" in caplog.text
    before = stream_rows(sqlite_db)
    fresh = _dir(tmp_path, "fresh")
    await replay([capture], Database(sqlite_url(fresh)), None)
    await replay([capture], sqlite_db, None)  # into the database that spilled
    after, complete = stream_rows(sqlite_db), stream_rows(Database(sqlite_url(fresh)))
    assert len(after["orderbooks"]) + len(after["tickers"]) > len(before["orderbooks"]) + len(
        before["tickers"]
    )
    assert after == complete
