"""Conformance: cryptofeed's real Binance websocket recording (depth diffs, aggTrade,
kline) replayed to the real stream path from a local websocket server, with the
recorded REST depth snapshots and exchangeInfo. The sequence rules hold on the recording
(no resync), no book is ever crossed or unsorted, and the stored book is the recorded
snapshot with every later diff applied, computed here independently. Captured as it
streams, the recording replays with `omc replay` into an empty database as the same rows."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ohmycoins.collectors.streams import Stream, StreamSpec
from ohmycoins.records import Candle, Trade
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.capture import CaptureWriter
from ohmycoins.sources.exchange_ws import ExchangeStream
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import RECORD_TABLES
from tests.conftest import sqlite_url
from tests.support.binance_ws import STALL, apply_diff, binance_stub
from tests.support.captures import omc_replay, stream_rows
from tests.support.stream_runs import (
    assert_books_sorted_and_uncrossed,
    latest_books,
    run_stream_until,
    stored_levels,
)

SYMBOLS = {"NKNUSDT": "NKN/USDT", "BLZETH": "BLZ/ETH", "LRCBTC": "LRC/BTC", "RUNEEUR": "RUNE/EUR"}
DEPTH = 10


def _timed(line: str) -> Any:
    """A cryptofeed line: `<receive time>: <json>` (after `<url> -> ` for REST)."""
    return json.loads(line.split(": ", 1)[1])


def _recorded(recordings: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, list[Any]]]:
    folder = recordings / "cryptofeed"
    if not (folder / "BINANCE.ws.1.0").is_file():
        pytest.skip(f"no cryptofeed Binance recording in {folder}")
    info = next(
        _timed(line)
        for line in (folder / "BINANCE.0").read_text().splitlines()
        if line.startswith("https://api.binance.com/api/v3/exchangeInfo")
    )
    snapshots = {
        line.split("symbol=")[1].split("&")[0]: _timed(line)
        for line in (folder / "BINANCE.http.0.0").read_text().splitlines()
        if "/api/v3/depth?" in line
    }
    frames: dict[str, list[Any]] = defaultdict(list)
    for line in filter(None, (folder / "BINANCE.ws.1.0").read_text().splitlines()[1:]):
        message = _timed(line)
        frames[message["stream"]].append(message["data"])
    return info, snapshots, frames


def _reference(snapshot: dict[str, Any], diffs: list[dict[str, Any]]) -> tuple[list, list]:
    """The book Binance's rules give: the snapshot, then each diff with u > lastUpdateId."""
    sides = {side: {Decimal(p): Decimal(q) for p, q in snapshot[side]} for side in ("bids", "asks")}
    for diff in diffs:
        if diff["u"] > snapshot["lastUpdateId"]:
            apply_diff(sides, diff)
    bids = sorted(sides["bids"].items(), reverse=True)[:DEPTH]
    asks = sorted(sides["asks"].items())[:DEPTH]
    return bids, asks


async def test_recorded_binance_streams_through_the_stream_path(
    recordings: Path, sqlite_db: Database
) -> None:
    stream, trades, frames = await _stream_recording(recordings, sqlite_db, None)
    assert stream.stats.resyncs == 0 and stream.stats.reconnects == 0
    assert_books_sorted_and_uncrossed(sqlite_db)  # every stored book, never crossed
    with sqlite_db.engine.connect() as conn:
        stored_trades = conn.execute(select(RECORD_TABLES[Trade])).all()
        stored_candles = conn.execute(select(RECORD_TABLES[Candle])).all()
    assert sorted(int(t.trade_id) for t in stored_trades) == sorted(int(t["a"]) for t in trades)
    closed = [k for name, data in frames.items() if "kline" in name for k in data if k["k"]["x"]]
    assert len(stored_candles) == len(closed)  # only closed klines are stored


async def test_a_capture_of_the_recording_replays_as_the_same_rows(
    recordings: Path, sqlite_db: Database, tmp_path: Path
) -> None:
    capture = tmp_path / "capture"
    await _stream_recording(recordings, sqlite_db, capture)
    replayed = tmp_path / "replayed"
    replayed.mkdir()
    code, _, err = await omc_replay(str(capture), db_url=sqlite_url(replayed))
    assert code == 0, err[-2000:]
    live, again = stream_rows(sqlite_db), stream_rows(Database(sqlite_url(replayed)))
    assert live["trades"] and live["orderbooks"]
    assert again == live
    books = latest_books(Database(sqlite_url(replayed)))
    for symbol, (bids, asks) in _expected_books(recordings).items():
        book = books[symbol]
        assert (stored_levels(book.bids), stored_levels(book.asks)) == (bids, asks)


def _expected_books(recordings: Path) -> dict[str, tuple[list, list]]:
    _, snapshots, frames = _recorded(recordings)
    return {
        SYMBOLS[symbol]: _reference(snapshots[symbol], frames[f"{symbol.lower()}@depth@100ms"])
        for symbol in SYMBOLS
    }


async def _stream_recording(
    recordings: Path, db: Database, capture: Path | None
) -> tuple[Stream, list[Any], dict[str, list[Any]]]:
    """The recording through the live stream path (captured into `capture` if given)
    until every book is the reference book; the stream, the trades and the frames."""
    info, snapshots, frames = _recorded(recordings)
    scripts = {name: [[*data, STALL]] for name, data in frames.items()}
    trades = [t for name, data in frames.items() if name.endswith("@aggTrade") for t in data]
    expected = _expected_books(recordings)
    depth = {symbol: [snapshot] for symbol, snapshot in snapshots.items()}
    async with binance_stub(scripts, depth=depth, exchange_info=info, agg_trades=trades) as stub:
        client = ExchangeStream("binance", SourceSettings(url=stub.url, ws_url=stub.ws_url))
        if capture is not None:
            client.capture = CaptureWriter(capture, client.id)
        spec = StreamSpec(
            "binance",
            tuple(SYMBOLS.values()),
            ("trades", "book", "candles"),
            depth=DEPTH,
            snapshot_seconds=0.05,
            batch_seconds=0.05,
            stale_seconds=60,
        )
        stream = Stream(spec, client, db, None)

        def rebuilt() -> bool:
            books = latest_books(db)
            return all(
                symbol in books
                and (stored_levels(books[symbol].bids), stored_levels(books[symbol].asks))
                == expected[symbol]
                for symbol in expected
            )

        await run_stream_until(stream, rebuilt, within_s=60)
    return stream, trades, frames
