"""Exchange snapshots and trades: tickers, L2 order books, and trades by id."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Connection

from ohmycoins.collectors.collect import collect
from ohmycoins.ingest import StoreResult
from ohmycoins.publish import Broker
from ohmycoins.records import Trade
from ohmycoins.sources.exchange import (
    ExchangeClient,
    parse_order_book,
    parse_tickers,
    parse_trades,
)
from ohmycoins.sources.parsing import Parsed
from ohmycoins.storage.cursors import SeriesKey, read_cursor, write_cursor
from ohmycoins.storage.database import Database

TRADE_ID_EXCHANGES = frozenset({"binance"})
"""Exchanges whose trade ids are sequential integers we can page by (`fromId`)."""


async def collect_tickers(
    client: ExchangeClient, db: Database, broker: Broker | None, symbols: list[str]
) -> StoreResult:
    """One ticker per symbol."""
    return await collect(
        db,
        broker,
        client.id,
        lambda: client.fetch_tickers(symbols),
        lambda raw, at: parse_tickers(client.id, raw, at),
    )


async def collect_order_book(
    client: ExchangeClient, db: Database, broker: Broker | None, symbol: str, depth: int = 100
) -> StoreResult:
    """One L2 snapshot of `depth` levels a side (the exchange may send fewer)."""
    return await collect(
        db,
        broker,
        client.id,
        lambda: client.fetch_order_book(symbol, depth),
        lambda raw, at: parse_order_book(client.id, symbol, raw, at),
    )


async def sync_trades(
    client: ExchangeClient,
    db: Database,
    broker: Broker | None,
    symbol: str,
    *,
    page_size: int = 1000,
    max_pages: int = 10,
) -> int:
    """Trades since the last stored one, page by page; returns how many were stored
    (inserted: a trade already stored is not counted again).

    With no cursor yet, the latest page establishes it. Trade ids page the series
    where the exchange has sequential ids (Binance), times elsewhere."""
    key = SeriesKey(client.id, "trades", symbol)
    stored = 0
    for _ in range(max_pages):
        with db.engine.connect() as conn:
            cursor_ts, cursor_id = read_cursor(conn, key)
        result = await collect(
            db,
            broker,
            client.id,
            functools.partial(_fetch_after, client, symbol, cursor_ts, cursor_id, page_size),
            lambda raw, _at: parse_trades(client.id, symbol, raw),
            then=lambda parsed, conn: _advance(conn, key, parsed),
        )
        stored += result.written
        received = result.written + result.unchanged + result.quarantined
        if cursor_id is None or received < page_size:
            break
    return stored


async def _fetch_after(
    client: ExchangeClient, symbol: str, ts: int | None, trade_id: str | None, limit: int
) -> list[dict[str, Any]]:
    if trade_id is not None and client.ccxt_id in TRADE_ID_EXCHANGES:
        return await client.fetch_trades(symbol, from_id=str(int(trade_id) + 1), limit=limit)
    return await client.fetch_trades(symbol, since=None if ts is None else ts + 1, limit=limit)


def _advance(conn: Connection, key: SeriesKey, parsed: Parsed[Trade]) -> None:
    if not parsed.records:
        return
    last = max(parsed.records, key=lambda t: (t.ts, _id_order(t.trade_id)))
    write_cursor(conn, key, last.ts, ts=last.ts, id=last.trade_id)


def _id_order(trade_id: str) -> tuple[int, str]:
    return (int(trade_id), "") if trade_id.isdigit() else (0, trade_id)
