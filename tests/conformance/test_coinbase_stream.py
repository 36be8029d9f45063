"""Conformance: cryptofeed's real Coinbase recording (the Exchange `ws-feed`: `level2`
and `matches`, ten products, 2021) replayed as recorded to the real stream path from a
local websocket server (ccxt.pro's `coinbaseexchange`), with the recorded REST products.

Checked: the sequence rules hold on the recording (each product's `sequence` rises, its
match trade ids follow one another), no book is ever crossed or unsorted, the stored
books are the recorded snapshot with every later `l2update` applied (rebuilt here
independently), every match is stored once by its trade id; a dropped match frame is
seen as a gap (counted) and fetched over REST by id, and a repeated one is dropped
(counted).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ohmycoins.collectors.streams import Stream, StreamSpec
from ohmycoins.records import Trade
from ohmycoins.sources.exchange_ws import ExchangeStream
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import RECORD_TABLES
from tests.support.replay import Reply
from tests.support.stream_runs import (
    assert_books_sorted_and_uncrossed,
    latest_books,
    run_venue_stream,
    stored_levels,
)
from tests.support.venue_ws import (
    coinbase_keyed,
    coinbase_subscribed,
    recorded_frames,
    recorded_rest,
)
from tests.support.ws_scripts import STALL

DEPTH = 10
CURRENCIES: list[Any] = []
"""Coinbase's /currencies answer shape (from its REST documentation; not recorded): no
currency details, which the markets do not need."""


def _recording(recordings: Path) -> tuple[bytes, dict[str, list[dict[str, Any]]]]:
    folder = recordings / "cryptofeed"
    if not (folder / "COINBASE.ws.28.0").is_file():
        pytest.skip(f"no cryptofeed Coinbase recording in {folder}")
    products = recorded_rest(folder / "COINBASE.0", "https://api.pro.coinbase.com/products")
    return products, coinbase_keyed(list(recorded_frames(folder / "COINBASE.ws.28.0")))


def _symbol(product: str) -> str:
    return product.replace("-", "/")


def _reference(frames: Sequence[Mapping[str, Any]]) -> tuple[list[Any], list[Any]]:
    """The book by Coinbase's level2 rules: the snapshot, then each change (size 0
    removes the level, any other sets it); its top levels."""
    sides: dict[str, dict[Decimal, Decimal]] = {"bids": {}, "asks": {}}
    for frame in frames:
        if frame["type"] == "snapshot":
            for side in sides:
                sides[side] = {Decimal(p): Decimal(q) for p, q in frame[side]}
            continue
        for change, price, size in frame["changes"]:
            side = sides["bids" if change == "buy" else "asks"]
            if Decimal(size) == 0:
                side.pop(Decimal(price), None)
            else:
                side[Decimal(price)] = Decimal(size)
    bids = sorted(sides["bids"].items(), reverse=True)[:DEPTH]
    asks = sorted(sides["asks"].items())[:DEPTH]
    return bids, asks


def _stored_trade_ids(db: Database) -> list[int]:
    with db.engine.connect() as conn:
        rows = conn.execute(select(RECORD_TABLES[Trade])).all()
    return sorted(int(row.trade_id) for row in rows)


async def _replay(
    db: Database,
    products: bytes,
    scripts: Mapping[str, Sequence[Sequence[Any]]],
    symbols: Sequence[str],
    channels: tuple[str, ...],
    done: Callable[[], bool],
    trades: Mapping[str, Any] | None = None,
) -> tuple[Stream, ExchangeStream]:
    """Replay `scripts` to the stream; REST serves the recorded products (and `trades`,
    routes of the trades endpoint)."""
    spec = StreamSpec(
        "coinbaseexchange",
        tuple(symbols),
        channels,
        depth=DEPTH,
        snapshot_seconds=0.05,
        batch_seconds=0.05,
        stale_seconds=600,  # the recording ends: its quiet must not reconnect
    )
    rest = {"/products": Reply(products), "/currencies": CURRENCIES, **(trades or {})}
    stream, client, _ = await run_venue_stream(
        db, spec, rest, coinbase_subscribed, scripts, lambda _: done()
    )
    return stream, client


async def test_recorded_coinbase_level2_and_matches_through_the_stream_path(
    recordings: Path, sqlite_db: Database
) -> None:
    products, keyed = _recording(recordings)
    books = {key.split(":")[1]: frames for key, frames in keyed.items() if key[:7] == "level2:"}
    expected = {_symbol(product): _reference(frames) for product, frames in books.items()}
    matches = [f for k, fs in keyed.items() if k.startswith("matches:") for f in fs]
    match_ids = sorted(m["trade_id"] for m in matches if m["type"] == "match")
    # without credentials the book is asked of `level2_batch`, whose messages are those
    # of the recorded `level2` (open to all in 2021), batched
    scripts = {key.replace("level2:", "level2_batch:"): [[*f, STALL]] for key, f in keyed.items()}

    def rebuilt() -> bool:
        stored = latest_books(sqlite_db)
        return _stored_trade_ids(sqlite_db) == match_ids and all(
            symbol in stored
            and (stored_levels(stored[symbol].bids), stored_levels(stored[symbol].asks))
            == expected[symbol]
            for symbol in expected
        )

    stream, client = await _replay(
        sqlite_db, products, scripts, list(expected), ("trades", "book"), rebuilt
    )

    assert len(expected) == 10 and len(match_ids) > 90
    assert client.sequence_breaks == 0  # the recording keeps every sequence rule
    assert stream.stats.resyncs == 0 and stream.stats.reconnects == 0
    assert client.garbled == 0
    assert {"trades", "book"} <= set(stream.stats.last_by_channel)
    assert assert_books_sorted_and_uncrossed(sqlite_db) > 0  # every stored book, never crossed


async def test_a_dropped_coinbase_match_is_fetched_and_a_repeated_one_dropped(
    recordings: Path, sqlite_db: Database
) -> None:
    products, keyed = _recording(recordings)
    key, frames = max(
        ((k, fs) for k, fs in keyed.items() if k.startswith("matches:")), key=lambda kf: len(kf[1])
    )
    assert len(frames) >= 5
    dropped = frames[2]
    assert dropped["type"] == "match"
    played = [*frames[:2], *frames[3:], frames[3]]  # one match missing, one sent twice
    wanted = sorted(f["trade_id"] for f in frames if f["type"] == "match")
    # Coinbase's REST answer for the missing id: the page older than the id after it
    path = f"/products/{key[8:]}/trades?after={dropped['trade_id'] + 1}&limit=1"
    fields = ("time", "trade_id", "price", "size", "side")
    trades = {path: [{name: dropped[name] for name in fields}]}

    def stored() -> bool:
        return _stored_trade_ids(sqlite_db) == wanted

    stream, client = await _replay(
        sqlite_db,
        products,
        {key: [[*played, STALL]]},
        [_symbol(key[8:])],
        ("trades",),
        stored,
        trades,
    )

    assert client.sequence_breaks == 2  # the gap, and the repeat (dropped)
    assert stream.stats.filled == 1  # the dropped match, over REST
    assert stream.stats.reconnects == 0
