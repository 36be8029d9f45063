"""Exchange collections: candles in each configured timeframe, and snapshots and trades
(tickers, L2 order books, trades by id) of the universe's symbols, on every open
exchange."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Connection

from ohmycoins.collectors.candle_report import SyncReport, sync_outcome
from ohmycoins.collectors.candles import CandleSync
from ohmycoins.collectors.clients import Sources
from ohmycoins.collectors.collect import (
    collect,
    collect_each,
    each_outcome,
    outcome,
    run_outcome,
)
from ohmycoins.collectors.features import task_name
from ohmycoins.collectors.ingest import StoreResult
from ohmycoins.publish import Broker
from ohmycoins.records import Trade
from ohmycoins.scheduling.registry import Collector, RunContext, RunOutcome
from ohmycoins.scheduling.schedule import Schedule
from ohmycoins.scheduling.tasks import list_tasks, trigger
from ohmycoins.sources.exchange import (
    ExchangeClient,
    parse_order_book,
    parse_tickers,
    parse_trades,
)
from ohmycoins.sources.parsing import Parsed
from ohmycoins.storage.cursors import SeriesKey, read_cursor, write_cursor
from ohmycoins.storage.database import Database
from ohmycoins.storage.feature_stale import Series
from ohmycoins.timeframes import now_ms, timeframe_ms

HISTORY_CANDLES = 1000
"""How far back a series starts on its first run, in candles of its timeframe."""


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
    where the exchange pages by its sequential ids (Binance, Coinbase:
    `fetch_trades_from_id`), times elsewhere."""
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
            before_commit=lambda parsed, conn: _advance(conn, key, parsed),
        )
        stored += result.written
        received = result.written + result.unchanged + result.quarantined
        if cursor_id is None or received < page_size:
            break
    return stored


async def _fetch_after(
    client: ExchangeClient, symbol: str, ts: int | None, trade_id: str | None, limit: int
) -> list[dict[str, Any]]:
    if trade_id is not None and trade_id.isdigit() and client.pages_trade_ids:
        return await client.fetch_trades_from_id(symbol, int(trade_id) + 1, limit)
    return await client.fetch_trades(symbol, since=None if ts is None else ts + 1, limit=limit)


def _advance(conn: Connection, key: SeriesKey, parsed: Parsed[Trade]) -> None:
    if not parsed.records:
        return
    last = max(parsed.records, key=lambda t: (t.ts, _id_order(t.trade_id)))
    write_cursor(conn, key, last.ts, ts=last.ts, id=last.trade_id)


def _id_order(trade_id: str) -> tuple[int, str]:
    return (int(trade_id), "") if trade_id.isdigit() else (0, trade_id)


def default_collectors(sources: Sources) -> list[Collector]:
    """The candle, ticker, order book and trade collectors of every open exchange."""
    collectors: list[Collector] = []
    for client in sources.exchanges.values():
        collectors += _exchange_collectors(sources, client)
    return collectors


def _exchange_collectors(sources: Sources, client: ExchangeClient) -> list[Collector]:
    symbols = list(sources.settings.universe.symbols)
    snapshots: list[tuple[str, Snapshot, int]] = [
        ("tickers", _tickers, 7),
        ("orderbooks", _books, 5),
        ("trades", _trades, 6),
    ]
    collectors = [
        _candles(sources, client, timeframe, symbols)
        for timeframe in sources.settings.universe.timeframes
    ]
    for kind, action, priority in snapshots:
        run = _snapshot_run(sources, client, symbols, action)
        schedule = Schedule.every(60)
        collectors.append(
            Collector(f"{client.id}_{kind}", "exchange", client.id, schedule, run, priority)
        )
    return collectors


Snapshot = Callable[[Sources, ExchangeClient, list[str]], Awaitable[RunOutcome]]


def _snapshot_run(
    sources: Sources, client: ExchangeClient, symbols: list[str], action: Snapshot
) -> Callable[[RunContext], Awaitable[RunOutcome]]:
    async def run(_context: RunContext) -> RunOutcome:
        await client.load_markets()  # once per process: ccxt caches the markets
        return await action(sources, client, symbols)

    return run


def _candles(
    sources: Sources, client: ExchangeClient, timeframe: str, symbols: list[str]
) -> Collector:
    step = timeframe_ms(timeframe)

    async def run(context: RunContext) -> RunOutcome:
        """Each symbol's series in turn (`collect_each`), every page under the
        scheduler's retry rule (`context.retry`), never a second one."""
        await client.load_markets()
        sync = CandleSync(client, sources.db, broker=sources.broker, retry=context.retry)
        since = context.due_ts - HISTORY_CANDLES * step
        synced: list[Series] = []

        async def sync_one(symbol: str) -> SyncReport:
            report = await sync.sync(symbol, timeframe, since)
            if report.stored:
                synced.append(Series(client.id, symbol, timeframe))
            return report

        try:
            each = await collect_each(symbols, sync_one, "symbol")
        finally:  # the series that stored candles get their features, even after a ban
            await asyncio.to_thread(trigger_features, sources.db, synced)
        return sync_outcome(each.results, each.problem)

    priority = 8 if timeframe == "1m" else 6
    schedule = Schedule.every(max(60.0, step / 1000))
    return Collector(
        f"{client.id}_candles_{timeframe}", "exchange", client.id, schedule, run, priority=priority
    )


def trigger_features(db: Database, synced: list[Series]) -> None:
    """Make the feature jobs of the series that stored new candles due now (those that
    are registered: a job switched off by settings is left alone)."""
    names = [task_name(series) for series in synced]
    known = {task.task_id for task in list_tasks(db)}
    due = [name for name in names if name in known]
    if due:
        trigger(db, due, now_ms())


async def _tickers(sources: Sources, client: ExchangeClient, symbols: list[str]) -> RunOutcome:
    return outcome(await collect_tickers(client, sources.db, sources.broker, symbols), len(symbols))


async def _books(sources: Sources, client: ExchangeClient, symbols: list[str]) -> RunOutcome:
    report = await collect_each(
        symbols, lambda s: collect_order_book(client, sources.db, sources.broker, s), "order book"
    )
    return each_outcome(report, len(symbols))


async def _trades(sources: Sources, client: ExchangeClient, symbols: list[str]) -> RunOutcome:
    report = await collect_each(
        symbols, lambda s: sync_trades(client, sources.db, sources.broker, s), "symbol"
    )
    return run_outcome(sum(report.results), problem=report.problem)
