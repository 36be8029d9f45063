"""Exchange data: candles, trades, latest tickers and order books."""

from __future__ import annotations

from fastapi import APIRouter, Response

from ohmycoins.api.deps import (
    Cursor,
    DbDep,
    End,
    Exchange,
    Format,
    Limit,
    OptionalExchange,
    OptionalSymbol,
    Order,
    Start,
    Symbol,
    Timeframe,
    check_range,
)
from ohmycoins.api.encode import (
    PAGED_RESPONSES,
    column_kinds,
    cursor_key,
    cursor_ts,
    encode_cursor,
    json_page_response,
    json_response,
    orderbook_row,
    row_of,
    tuples_response,
)
from ohmycoins.api.schemas import CandlePage, OrderBookOut, TickerOut, TradePage
from ohmycoins.records import Candle, Ticker, Trade, field_names
from ohmycoins.storage import ranges, reads

router = APIRouter(tags=["market"])

CANDLE_COLUMNS = field_names(Candle)
TRADE_COLUMNS = field_names(Trade)
TICKER_COLUMNS = field_names(Ticker)
CANDLE_KINDS = column_kinds(Candle)
TRADE_KINDS = column_kinds(Trade)
_CANDLE_TS = CANDLE_COLUMNS.index("ts")
_TRADE_TS, _TRADE_ID = TRADE_COLUMNS.index("ts"), TRADE_COLUMNS.index("trade_id")


@router.get("/candles", response_model=CandlePage, responses=PAGED_RESPONSES)
def candles(
    db: DbDep,
    exchange: Exchange,
    symbol: Symbol,
    timeframe: Timeframe,
    start: Start = None,
    end: End = None,
    limit: Limit = 1000,
    order: Order = "asc",
    cursor: Cursor = None,
    format: Format = "json",
) -> Response:
    """OHLCV candles of one series by open time (`start <= ts <= end`), paged by `next`."""
    check_range(start, end)
    after = cursor_ts(cursor, order)
    query = ranges.candle_query(
        db,
        exchange,
        symbol,
        timeframe,
        start=start,
        end=end,
        limit=limit,
        order=order,
        after=after,
        form="json" if format == "json" else "rows",
    )
    if format == "json":
        return json_page_response(ranges.fetch_json(db, query), order)
    rows = ranges.fetch_rows(db, query)
    next_cursor = encode_cursor(order, rows.rows[-1][_CANDLE_TS]) if rows.more else None
    return tuples_response(rows.rows, rows.columns, next_cursor, format, kinds=CANDLE_KINDS)


@router.get("/trades", response_model=TradePage, responses=PAGED_RESPONSES)
def trades(
    db: DbDep,
    exchange: Exchange,
    symbol: Symbol,
    start: Start = None,
    end: End = None,
    limit: Limit = 1000,
    order: Order = "asc",
    cursor: Cursor = None,
    format: Format = "json",
) -> Response:
    """Public trades of one market by time, then trade id (`start <= ts <= end`), paged."""
    check_range(start, end)
    after = cursor_key(cursor, order, 2)
    query = ranges.trade_query(
        db,
        exchange,
        symbol,
        start=start,
        end=end,
        limit=limit,
        order=order,
        after=after,
        form="json" if format == "json" else "rows",
    )
    if format == "json":
        return json_page_response(ranges.fetch_json(db, query), order)
    rows = ranges.fetch_rows(db, query)
    next_cursor = None
    if rows.more:
        last = rows.rows[-1]
        next_cursor = encode_cursor(order, last[_TRADE_TS], last[_TRADE_ID])
    return tuples_response(rows.rows, rows.columns, next_cursor, format, kinds=TRADE_KINDS)


@router.get("/tickers/latest", response_model=list[TickerOut])
def latest_tickers(
    db: DbDep, exchange: OptionalExchange = None, symbol: OptionalSymbol = None
) -> Response:
    """The newest stored ticker of each market (of one exchange or symbol if given)."""
    tickers = reads.latest_tickers(db, exchange, symbol)
    return json_response([row_of(ticker, TICKER_COLUMNS) for ticker in tickers])


@router.get("/orderbook/latest", response_model=list[OrderBookOut])
def latest_orderbooks(
    db: DbDep, exchange: OptionalExchange = None, symbol: OptionalSymbol = None
) -> Response:
    """The newest stored order-book snapshot of each market (of one exchange or symbol)."""
    books = reads.latest_orderbooks(db, exchange, symbol)
    return json_response([orderbook_row(book) for book in books])
