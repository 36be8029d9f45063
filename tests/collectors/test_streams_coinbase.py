"""The live stream against a local Coinbase Exchange (the `ws-feed` `matches` channel and
the REST trades endpoint, paged backwards by `after`): trade ids missed while a socket
was down are fetched over REST, so stream and REST converge on one row per trade id."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import select

from ohmycoins.collectors.streams import Stream, StreamSpec
from ohmycoins.records import Trade
from ohmycoins.storage.cursors import SeriesKey, read_cursor
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import RECORD_TABLES
from tests.support.coinbase_rest import coinbase_match, coinbase_rest, coinbase_trade, maker_side
from tests.support.stream_runs import run_venue_stream_at
from tests.support.venue_ws import coinbase_subscribed
from tests.support.ws_scripts import CLOSE, STALL

MATCHES = "matches:BTC-USD"
SPEC = StreamSpec(
    "coinbaseexchange",
    ("BTC/USD",),
    ("trades",),
    batch_seconds=0.05,
    stale_seconds=30.0,
    backoff_initial_seconds=0.05,
)

trades = RECORD_TABLES[Trade]


def stored(db: Database) -> list[tuple[int, str]]:
    """Every stored trade row's (id, side), in id order (a repeated id shows twice)."""
    with db.engine.connect() as conn:
        rows = conn.execute(select(trades.c.trade_id, trades.c.side)).all()
    return sorted((int(trade_id), side) for trade_id, side in rows)


def stored_ids(db: Database) -> list[int]:
    return [trade_id for trade_id, _ in stored(db)]


def down_between(last_before: int, first_after: int, last: int) -> dict[str, Any]:
    """Matches 1..`last_before`, the socket closed, then `first_after`..`last` after the
    reconnect."""
    before = [coinbase_match(i) for i in range(1, last_before + 1)]
    after = [coinbase_match(i) for i in range(first_after, last + 1)]
    return {MATCHES: [[*before, CLOSE], [*after, STALL]]}


async def run(
    db: Database, rest_url: str, scripts: dict[str, Any], last: int, spec: StreamSpec = SPEC
) -> Stream:
    stream, _, _ = await run_venue_stream_at(
        db, spec, rest_url, coinbase_subscribed, scripts, lambda _: last in stored_ids(db)
    )
    return stream


async def test_a_hole_in_coinbase_matches_is_filled_over_rest(sqlite_db: Database) -> None:
    rest_trades = [coinbase_trade(i) for i in range(1, 13)]
    async with coinbase_rest({"BTC-USD": rest_trades}) as rest:
        stream = await run(sqlite_db, rest.url, down_between(5, 9, 12), 12)

    taker = {"buy": "sell", "sell": "buy"}
    # ids 1..12 once each; streamed and fetched rows alike carry the taker's side
    assert stored(sqlite_db) == [(i, taker[maker_side(i)]) for i in range(1, 13)]
    assert stream.stats.filled == 3  # 6..8 over REST
    assert stream.stats.reconnects == 1
    assert rest.trade_queries == [{"after": "9", "limit": "3"}]  # just the missing ids


async def test_a_hole_larger_than_a_page_is_fetched_page_by_page(sqlite_db: Database) -> None:
    rest_trades = [coinbase_trade(i) for i in range(1, 2606)]
    async with coinbase_rest({"BTC-USD": rest_trades}) as rest:
        stream = await run(sqlite_db, rest.url, down_between(2, 2601, 2605), 2605)

    assert stored_ids(sqlite_db) == list(range(1, 2606))
    assert stream.stats.filled == 2598  # 3..2600
    assert rest.trade_queries == [
        {"after": "1003", "limit": "1000"},
        {"after": "2003", "limit": "1000"},
        {"after": "2601", "limit": "598"},
    ]


async def test_a_long_hole_is_stored_a_chunk_at_a_time(sqlite_db: Database) -> None:
    rest_trades = [coinbase_trade(i) for i in range(1, 2606)]
    seen: list[tuple[int, str | None]] = []  # stored rows and the cursor, as each page is asked

    def look() -> None:
        with sqlite_db.engine.connect() as conn:
            _, cursor = read_cursor(conn, SeriesKey("coinbaseexchange", "trades", "BTC/USD"))
        seen.append((len(stored_ids(sqlite_db)), cursor))

    one_page = dataclasses.replace(SPEC, fill_chunk=1000)
    async with coinbase_rest({"BTC-USD": rest_trades}, on_trades_request=look) as rest:
        stream = await run(sqlite_db, rest.url, down_between(2, 2601, 2605), 2605, one_page)

    assert stored_ids(sqlite_db) == list(range(1, 2606))
    assert stream.stats.filled == 2598
    assert len(rest.trade_queries) == 3  # 3..1002, 1003..2002, 2003..2600
    before, cursor = seen[0]
    assert cursor in (None, "2")  # ids 1 and 2 came before the close, maybe their batch
    # each chunk was stored, the cursor with it, before the next was asked for
    assert seen[1:] == [(before + 1000, "1002"), (before + 2000, "2002")]


@pytest.mark.parametrize(
    "rest_trades",
    [[], [coinbase_trade(i) for i in range(1, 6)]],
    ids=["no trades", "only older trades"],
)
async def test_a_page_without_the_missing_ids_ends_the_fill(
    sqlite_db: Database, rest_trades: Sequence[dict[str, Any]]
) -> None:
    async with coinbase_rest({"BTC-USD": rest_trades}) as rest:
        stream = await run(sqlite_db, rest.url, down_between(5, 9, 12), 12)

    assert stored_ids(sqlite_db) == [1, 2, 3, 4, 5, 9, 10, 11, 12]
    assert stream.stats.filled == 0
    assert rest.trade_queries == [{"after": "9", "limit": "3"}]  # asked once, not again


async def test_frames_dropped_in_two_places_are_all_fetched(sqlite_db: Database) -> None:
    rest_trades = [coinbase_trade(i) for i in range(1, 11)]
    played = [coinbase_match(i) for i in (1, 2, 3, 6, 9, 10)]  # one socket: 4, 5, 7, 8 lost
    async with coinbase_rest({"BTC-USD": rest_trades}) as rest:
        stream = await run(sqlite_db, rest.url, {MATCHES: [[*played, STALL]]}, 10)

    assert stored_ids(sqlite_db) == list(range(1, 11))
    assert stream.stats.filled == 4
    assert stream.client.sequence_breaks == 2  # each gap seen as the frames came
    # 4..8 in one request when the six frames share a batch, else 4..5 then 7..8
    assert rest.trade_queries in (
        [{"after": "9", "limit": "5"}],
        [{"after": "6", "limit": "2"}, {"after": "9", "limit": "2"}],
    )
