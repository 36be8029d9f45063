"""Binance spot websocket streams: what each one sends, computed from the market model.

A stream keeps a cursor (the last trade id, update id or time slot it sent) and
``frames(until)`` returns the payloads of everything that happened in the market after
it and by ``until`` (epoch ms, the market clock), each with its event time.  Nothing
here knows about sockets: ``websocket`` paces the streams and sends their frames.

Payloads copy Binance's current spot streams field for field: decimals as strings,
times as integer epoch milliseconds, ``bookTicker`` without an event type or time, the
kline ``x`` flag false until the frame that closes the interval.  Update speeds are
Binance's in market time: diff depth each 100 ms (``@100ms``) or second, klines every
2 s, the 24-hour ticker and mini ticker every second; trades, aggregate trades and
book tickers as they happen.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol

from ohmycoins.sim.book import BookEvent
from ohmycoins.sim.intervals import MINUTE_MS, parse_interval
from ohmycoins.sim.market import MarketModel

Payload = dict[str, Any]
Frame = tuple[int, Payload]
"""(event time in market ms, payload)."""

STREAM_NAME = re.compile(
    r"^(?P<symbol>[a-z0-9]+)@(?P<channel>trade|aggTrade|bookTicker|ticker|miniTicker"
    r"|depth(?:@100ms|@1000ms)?|kline_(?P<interval>[0-9]+[mhdwM]))$"
)
KLINE_UPDATE_MS = 2000
TICKER_UPDATE_MS = 1000
CATCH_UP_UPDATES = 60
"""After a longer jump of the clock, periodic streams resume at the latest update."""


class Stream(Protocol):
    """One subscribed stream of one connection."""

    name: str

    def frames(self, until: int) -> list[Frame]: ...


def _caught_up(next_update: int, until: int, every: int) -> int:
    """A periodic stream's next update time: ``next_update``, or the latest update by
    ``until`` when the clock jumped more than ``CATCH_UP_UPDATES`` updates ahead."""
    latest = until // every * every
    return latest if latest - next_update > CATCH_UP_UPDATES * every else next_update


class _Silent:
    """A well-formed stream of a symbol the market does not list: Binance accepts the
    subscription and sends nothing."""

    def __init__(self, name: str) -> None:
        self.name = name

    def frames(self, until: int) -> list[Frame]:
        return []


class _Trades:
    def __init__(self, name: str, model: MarketModel, symbol: str, now: int) -> None:
        self.name, self.model, self.symbol = name, model, symbol
        self.last_id = model.last_ids(symbol, now)[0]

    def frames(self, until: int) -> list[Frame]:
        model, symbol = self.model, self.symbol
        out: list[Frame] = []
        for trade in model.trades_after(symbol, self.last_id, until):
            row = model.trade_json(symbol, trade)
            payload = {
                "e": "trade",
                "E": trade.time,
                "s": symbol,
                "t": trade.id,
                "p": row["price"],
                "q": row["qty"],
                "T": trade.time,
                "m": trade.buyer_maker,
                "M": True,
            }
            out.append((trade.time, payload))
            self.last_id = trade.id
        return out


class _AggTrades:
    def __init__(self, name: str, model: MarketModel, symbol: str, now: int) -> None:
        self.name, self.model, self.symbol = name, model, symbol
        self.last_id = model.last_ids(symbol, now)[1]

    def frames(self, until: int) -> list[Frame]:
        model, symbol = self.model, self.symbol
        out: list[Frame] = []
        for group in model.aggs_after(symbol, self.last_id, until):
            row = model.agg_json(symbol, group)
            out.append((group.time, {"e": "aggTrade", "E": group.time, "s": symbol, **row}))
            self.last_id = group.agg_id
        return out


class _Depth:
    """Diff depth: the level changes of each ``period`` with changes, ``U`` to ``u``."""

    def __init__(self, name: str, model: MarketModel, symbol: str, now: int, period: int) -> None:
        self.name, self.model, self.symbol, self.period = name, model, symbol, period
        self.cursor = model.book(symbol).last_update_id

    def frames(self, until: int) -> list[Frame]:
        book = self.model.book(self.symbol)
        closed_before = (until + 1) // self.period * self.period  # every ms of it passed
        out: list[Frame] = []
        window: list[BookEvent] = []
        for event in book.events_after(self.cursor):
            if event.time >= closed_before:
                break
            if window and event.time // self.period != window[0].time // self.period:
                out.append(self._frame(window))
                window = []
            window.append(event)
        if window:
            out.append(self._frame(window))
        return out

    def _frame(self, events: list[BookEvent]) -> Frame:
        bids: dict[int, int] = {}
        asks: dict[int, int] = {}
        for event in events:
            bids.update(event.bids)
            asks.update(event.asks)
        at = (events[0].time // self.period + 1) * self.period
        self.cursor = events[-1].last_id
        payload = {
            "e": "depthUpdate",
            "E": at,
            "s": self.symbol,
            "U": events[0].first_id,
            "u": events[-1].last_id,
            "b": self.model.wire_levels(self.symbol, bids.items()),
            "a": self.model.wire_levels(self.symbol, asks.items()),
        }
        return at, payload


class _BookTicker:
    """Best bid and ask after every book event that changed them."""

    def __init__(self, name: str, model: MarketModel, symbol: str, now: int) -> None:
        self.name, self.model, self.symbol = name, model, symbol
        book = model.book(symbol)
        self.cursor = book.last_update_id
        self.top = book.top()

    def frames(self, until: int) -> list[Frame]:
        model, symbol = self.model, self.symbol
        price, qty = model.wire_price, model.wire_qty
        out: list[Frame] = []
        for event in model.book(symbol).events_after(self.cursor):
            if event.time > until:
                break
            self.cursor = event.last_id
            if event.top == self.top:
                continue
            self.top = bid, bid_qty, ask, ask_qty = event.top
            payload = {
                "u": event.last_id,
                "s": symbol,
                "b": price(symbol, bid),
                "B": qty(symbol, bid_qty),
                "a": price(symbol, ask),
                "A": qty(symbol, ask_qty),
            }
            out.append((event.time, payload))
        return out


class _Klines:
    """The current candle every 2 s, and the closed one (``x`` true) when it ends."""

    def __init__(self, name: str, model: MarketModel, symbol: str, now: int, interval: str) -> None:
        self.name, self.model, self.symbol = name, model, symbol
        self.interval = parse_interval(interval)
        self.bucket = self.interval.start(now // MINUTE_MS)
        self.next_update = (now // KLINE_UPDATE_MS + 1) * KLINE_UPDATE_MS

    def frames(self, until: int) -> list[Frame]:
        self.next_update = _caught_up(self.next_update, until, KLINE_UPDATE_MS)
        out: list[Frame] = []
        while True:
            end = self.interval.next(self.bucket) * MINUTE_MS
            if end <= until and end <= self.next_update:
                out.extend(self._frame(end, closed=True))
                self.bucket = self.interval.next(self.bucket)
                if self.next_update == end:  # the closing frame is this update
                    self.next_update += KLINE_UPDATE_MS
            elif self.next_update <= until:
                out.extend(self._frame(self.next_update, closed=False))
                self.next_update += KLINE_UPDATE_MS
            else:
                return out

    def _frame(self, at: int, *, closed: bool) -> list[Frame]:
        start = self.bucket * MINUTE_MS
        rows = self.model.klines(
            self.symbol, self.interval.name, start_ms=start, end_ms=start, limit=1, at_ms=at
        )
        if not rows or rows[0][0] != start:
            return []  # a maintenance window: no candle
        row = rows[0]
        count = row[8]
        first = self.model.first_trade_of(self.symbol, start) if count else -1
        kline = {
            "t": row[0],
            "T": row[6],
            "s": self.symbol,
            "i": self.interval.name,
            "f": first,
            "L": first + count - 1 if count else -1,
            "o": row[1],
            "c": row[4],
            "h": row[2],
            "l": row[3],
            "v": row[5],
            "n": count,
            "x": closed,
            "q": row[7],
            "V": row[9],
            "Q": row[10],
            "B": "0",
        }
        return [(at, {"e": "kline", "E": at, "s": self.symbol, "k": kline})]


class _Ticker:
    """The rolling 24-hour ticker (or its ``mini`` form), every second."""

    def __init__(
        self, name: str, model: MarketModel, symbol: str, now: int, *, mini: bool = False
    ) -> None:
        self.name, self.model, self.symbol, self.mini = name, model, symbol, mini
        self.next_update = (now // TICKER_UPDATE_MS + 1) * TICKER_UPDATE_MS

    def frames(self, until: int) -> list[Frame]:
        self.next_update = _caught_up(self.next_update, until, TICKER_UPDATE_MS)
        out: list[Frame] = []
        while self.next_update <= until:
            at = self.next_update
            self.next_update += TICKER_UPDATE_MS
            t = self.model.ticker_24hr(self.symbol, at_ms=at)
            out.append((at, _mini(self.symbol, at, t) if self.mini else _full(self.symbol, at, t)))
        return out


def _full(symbol: str, at: int, t: Payload) -> Payload:
    return {
        "e": "24hrTicker",
        "E": at,
        "s": symbol,
        "p": t["priceChange"],
        "P": t["priceChangePercent"],
        "w": t["weightedAvgPrice"],
        "x": t["prevClosePrice"],
        "c": t["lastPrice"],
        "Q": t["lastQty"],
        "b": t["bidPrice"],
        "B": t["bidQty"],
        "a": t["askPrice"],
        "A": t["askQty"],
        "o": t["openPrice"],
        "h": t["highPrice"],
        "l": t["lowPrice"],
        "v": t["volume"],
        "q": t["quoteVolume"],
        "O": t["openTime"],
        "C": t["closeTime"],
        "F": t["firstId"],
        "L": t["lastId"],
        "n": t["count"],
    }


def _mini(symbol: str, at: int, t: Payload) -> Payload:
    return {
        "e": "24hrMiniTicker",
        "E": at,
        "s": symbol,
        "c": t["lastPrice"],
        "o": t["openPrice"],
        "h": t["highPrice"],
        "l": t["lowPrice"],
        "v": t["volume"],
        "q": t["quoteVolume"],
    }


def _parse(name: str) -> re.Match[str] | None:
    """The parts of a stream name this simulator can serve (symbol listed or not)."""
    match = STREAM_NAME.match(name)
    if match is None or match["interval"] is None:
        return match
    try:
        parse_interval(match["interval"])
    except KeyError:
        return None
    return match


def is_stream_name(name: str) -> bool:
    """Whether ``name`` is a stream this simulator can serve (symbol listed or not)."""
    return _parse(name) is not None


def open_stream(name: str, model: MarketModel) -> Stream:
    """The stream called ``name`` starting now; raise ``ValueError`` for a bad name."""
    match = _parse(name)
    if match is None:
        raise ValueError(f"invalid stream name {name!r}")
    symbol = match["symbol"].upper()
    if symbol not in model.symbols:
        return _Silent(name)
    now = model.now()
    channel: str = match["channel"]
    makers: dict[str, Callable[[], Stream]] = {
        "trade": lambda: _Trades(name, model, symbol, now),
        "aggTrade": lambda: _AggTrades(name, model, symbol, now),
        "bookTicker": lambda: _BookTicker(name, model, symbol, now),
        "ticker": lambda: _Ticker(name, model, symbol, now),
        "miniTicker": lambda: _Ticker(name, model, symbol, now, mini=True),
        "depth": lambda: _Depth(name, model, symbol, now, 1000),
        "depth@1000ms": lambda: _Depth(name, model, symbol, now, 1000),
        "depth@100ms": lambda: _Depth(name, model, symbol, now, 100),
    }
    if channel in makers:
        return makers[channel]()
    return _Klines(name, model, symbol, now, match["interval"])
