"""Conformance: cryptofeed's real Kraken websocket recording (`book-1000` and `trade`,
ten pairs, 2021) replayed to the real stream path from a local websocket server, with
the recorded REST AssetPairs.

The recording is of Kraken's v1 feed; ccxt.pro speaks Kraken's v2 feed. The stub writes
each recorded v1 frame as the v2 frame that carries the same thing (same levels with
the same text, same order, same checksum; see `kraken_v2_frames`), so the data and the
checksums are Kraken's own and every part of our path runs as it does live.

Checked: every maintained book's CRC32 equals the recorded checksum (none fails, and
one is computed per book frame), no book is ever crossed or unsorted, the stored books
are the recorded ones (rebuilt here independently), a tampered frame discards the book
and resyncs it from a fresh snapshot. v1 trades carry no trade id: they are refused
(quarantined with the reason), never stored under an invented key.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ohmycoins.collectors.streams import Stream, StreamSpec
from ohmycoins.records import QuarantinedRecord, Trade
from ohmycoins.sources.exchange_ws import ExchangeStream
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import read_records
from ohmycoins.storage.tables import RECORD_TABLES
from tests.support.replay import Reply
from tests.support.stream_runs import (
    assert_books_sorted_and_uncrossed,
    latest_books,
    run_venue_stream,
    stored_levels,
)
from tests.support.venue_ws import (
    kraken_checksum,
    kraken_subscribed,
    kraken_v2_frames,
    kraken_v2_symbol,
    recorded_frames,
    recorded_rest,
)
from tests.support.ws_scripts import STALL

DEPTH = 10
BOOK = "book-1000"
ASSETS = {"error": [], "result": {}}
"""Kraken's /0/public/Assets answer shape (from its REST documentation; not recorded):
no asset details, which the markets do not need."""


def _recording(recordings: Path) -> tuple[bytes, list[Any], list[Any]]:
    folder = recordings / "cryptofeed"
    if not (folder / "KRAKEN.ws.50.0").is_file():
        pytest.skip(f"no cryptofeed Kraken recording in {folder}")
    pairs = recorded_rest(folder / "KRAKEN.0", "https://api.kraken.com/0/public/AssetPairs")
    book = list(recorded_frames(folder / "KRAKEN.ws.50.0"))
    trades = list(recorded_frames(folder / "KRAKEN.ws.48.0"))
    return pairs, book, trades


def _reference(frames: Sequence[Any]) -> dict[str, tuple[list[Any], list[Any]]]:
    """Each pair's final top levels by Kraken's v1 rules (an amount of 0 removes the
    level; the book is cut to the subscribed 1000 levels), every recorded update
    checksum checked against the book so rebuilt."""
    books: dict[str, dict[str, _Side]] = {}
    for frame in frames:
        if not isinstance(frame, list) or frame[-2] != BOOK:
            continue
        parts: dict[str, Any] = {}
        for part in frame[1:-2]:
            parts.update(part)
        pair = frame[-1]
        if "as" in parts:
            books[pair] = {"asks": _Side(descending=False), "bids": _Side(descending=True)}
        book = books[pair]
        for side, keys in (("asks", ("as", "a")), ("bids", ("bs", "b"))):
            for key in keys:
                for price, amount, *_ in parts.get(key, []):
                    book[side].set(price, amount)
            book[side].cut(1000)
        if "c" in parts:
            checksum = kraken_checksum(book["asks"].top(10), book["bids"].top(10))
            assert checksum == int(parts["c"]), pair
    return {
        kraken_v2_symbol(pair): (book["asks"].top(), book["bids"].top())
        for pair, book in books.items()
    }


class _Side:
    """One side of a rebuilt book: amounts by price text, prices kept in book order."""

    def __init__(self, *, descending: bool) -> None:
        self.sign = -1 if descending else 1
        self.amounts: dict[str, str] = {}
        self.order: list[tuple[Decimal, str]] = []

    def set(self, price: str, amount: str) -> None:
        key = (self.sign * Decimal(price), price)
        if price in self.amounts:
            del self.order[bisect.bisect_left(self.order, key)]
            del self.amounts[price]
        if Decimal(amount) != 0:
            bisect.insort(self.order, key)
            self.amounts[price] = amount

    def cut(self, depth: int) -> None:
        while len(self.order) > depth:
            del self.amounts[self.order.pop()[1]]

    def top(self, depth: int | None = None) -> list[tuple[str, str]]:
        return [(price, self.amounts[price]) for _, price in self.order[:depth]]


def _top(levels: list[Any]) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(p), Decimal(q)) for p, q in levels[:DEPTH]]


async def _replay(
    db: Database,
    pairs: bytes,
    scripts: Mapping[str, Sequence[Sequence[Any]]],
    expected: Mapping[str, tuple[list[Any], list[Any]]],
    channels: tuple[str, ...],
    done: Any = None,
) -> tuple[Stream, ExchangeStream, Any]:
    """Run a stream against the stubs until each expected book is stored (and `done`)."""
    spec = StreamSpec(
        "kraken",
        tuple(expected),
        channels,
        depth=DEPTH,
        book_levels=1000,
        snapshot_seconds=0.05,
        batch_seconds=0.05,
        stale_seconds=600,  # the recording ends: its quiet must not reconnect
    )

    def rebuilt(stream: Stream) -> bool:
        books = latest_books(db)
        return all(
            symbol in books
            and stored_levels(books[symbol].asks) == _top(asks)
            and stored_levels(books[symbol].bids) == _top(bids)
            for symbol, (asks, bids) in expected.items()
        ) and (done is None or done(stream))

    rest = {"/0/public/AssetPairs": Reply(pairs), "/0/public/Assets": ASSETS}
    return await run_venue_stream(db, spec, rest, kraken_subscribed, scripts, rebuilt)


async def test_recorded_kraken_book_and_trades_through_the_stream_path(
    recordings: Path, sqlite_db: Database
) -> None:
    pairs, book_frames, recorded_trades = _recording(recordings)
    expected = _reference(book_frames)
    keyed = {**kraken_v2_frames(book_frames), **kraken_v2_frames(recorded_trades)}
    scripts = {key: [[*frames, STALL]] for key, frames in keyed.items()}
    book_messages = sum(len(f) for k, f in keyed.items() if k.startswith(BOOK))
    trade_frames = [frame for key, fs in keyed.items() if key.startswith("trade") for frame in fs]
    trades = sum(len(frame["data"]) for frame in trade_frames)

    stream, client, stub = await _replay(
        sqlite_db,
        pairs,
        scripts,
        expected,
        ("trades", "book"),
        done=lambda s: s.stats.quarantined >= trades,
    )

    assert len(expected) == 10 and book_messages > 4000
    assert client.checksums == book_messages  # one per snapshot and update ...
    assert client.resyncs == 0 and stream.stats.resyncs == 0  # ... and every one matched
    assert stream.stats.reconnects == 0 and client.garbled == 0
    books_asked = [a["params"] for a in stub.asked if a.get("method") == "subscribe"]
    assert {p.get("depth") for p in books_asked if p["channel"] == "book"} == {1000}
    assert assert_books_sorted_and_uncrossed(sqlite_db) > 0
    with sqlite_db.engine.connect() as conn:
        stored_trades = conn.execute(select(func.count()).select_from(RECORD_TABLES[Trade]))
        assert stored_trades.scalar() == 0
    refused = read_records(sqlite_db, QuarantinedRecord)
    assert stream.stats.quarantined == trades > 0 and refused
    assert all(q.record_type == "Trade" and "id" in q.rule for q in refused)


async def test_a_tampered_kraken_frame_discards_the_book_and_resyncs(
    recordings: Path, sqlite_db: Database
) -> None:
    pairs, book_frames, _ = _recording(recordings)
    symbol = "XMR/USD"
    expected = {symbol: _reference(book_frames)[symbol]}
    frames = kraken_v2_frames(book_frames)[f"{BOOK}:{symbol}"]
    snapshot = dict(frames[0]["data"][0])
    best_ask = dict(snapshot["asks"][0])
    best_ask["qty"] += Decimal("0.00000001")  # one level corrupted on the way
    snapshot["asks"] = [best_ask, *snapshot["asks"][1:]]
    tampered = {**frames[0], "data": [snapshot]}
    scripts = {f"{BOOK}:{symbol}": [[tampered, STALL], [*frames, STALL]]}

    stream, client, stub = await _replay(sqlite_db, pairs, scripts, expected, ("book",))

    assert stub.subscribed[f"{BOOK}:{symbol}"] == 2  # resubscribed: a fresh snapshot
    assert client.resyncs == 1 and stream.stats.resyncs == 1
    assert client.checksums == 1 + len(frames) and client.garbled == 0
    assert_books_sorted_and_uncrossed(sqlite_db)
