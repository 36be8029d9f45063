"""Exchange data: candles, trades, latest tickers and order books."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel

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
    cursor_key,
    cursor_ts,
    json_page_response,
    json_response,
    model_kinds,
    orderbook_row,
    range_cursor,
    row_of,
    tuples_response,
)
from ohmycoins.api.schemas import (
    CandleOut,
    CandlePage,
    OrderBookOut,
    TickerOut,
    TradeOut,
    TradePage,
)
from ohmycoins.records import Ticker, field_names
from ohmycoins.storage.database import Database
from ohmycoins.storage.reads import market as market_reads
from ohmycoins.storage.reads import ranges

router = APIRouter(tags=["market"])

TICKER_COLUMNS = field_names(Ticker)


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
    return _range_response(db, query, format, order, CandleOut)


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
    return _range_response(db, query, format, order, TradeOut)


@router.get("/tickers/latest", response_model=list[TickerOut])
def latest_tickers(
    db: DbDep, exchange: OptionalExchange = None, symbol: OptionalSymbol = None
) -> Response:
    """The newest stored ticker of each market (of one exchange or symbol if given)."""
    tickers = market_reads.latest_tickers(db, exchange, symbol)
    return json_response([row_of(ticker, TICKER_COLUMNS) for ticker in tickers])


@router.get("/orderbook/latest", response_model=list[OrderBookOut])
def latest_orderbooks(
    db: DbDep, exchange: OptionalExchange = None, symbol: OptionalSymbol = None
) -> Response:
    """The newest stored order-book snapshot of each market (of one exchange or symbol)."""
    books = market_reads.latest_orderbooks(db, exchange, symbol)
    return json_response([orderbook_row(book) for book in books])


def _range_response(
    db: Database,
    query: ranges.RawQuery,
    fmt: str,
    order: str,
    model: type[BaseModel],
) -> Response:
    """A range page in `fmt`: JSON as the database wrote it, else CSV or Parquet of the
    driver's tuples, typed as the row `model` documents them."""
    if fmt == "json":
        return json_page_response(ranges.fetch_json(db, query), order)
    page = ranges.fetch_rows(db, query)
    kinds = model_kinds(model)
    return tuples_response(page.rows, page.columns, range_cursor(page, order), fmt, kinds=kinds)
