"""Exchange websockets through ccxt.pro: trades, L2 books, tickers and candles as they happen.

ccxt.pro connects, subscribes and parses; this module configures it and adds the
checks ccxt leaves out or off, all at the edge where the wire format is known:

- `OMC_<EXCHANGE>_WS_URL` replaces the host of every websocket URL ccxt knows for the
  exchange (as `OMC_<EXCHANGE>_URL` does for REST), so tests reach the real code.
- Caches are bounded (`tradesLimit`, `OHLCVLimit`); a stream recycles its sockets with
  `recycle()` (ccxt's `close_ws_clients`) so nothing outlives a connection.
- Books: every diff ccxt applies is checked against the maintained book's sequence
  (Binance `U`/`u`: the first applied diff spans the snapshot's `lastUpdateId + 1`,
  then each `U` is the previous `u + 1`), and after it the book must be sorted and
  uncrossed. A break raises inside ccxt's handler, which discards the book and rejects
  the watcher; the next `watch_order_book` resubscribes from a fresh snapshot. Kraken's
  CRC32 checksum is turned on (ccxt leaves it off).
- Binance klines carry `x` (closed): the flag is kept so that only closed candles are
  stored (`candle_closed`), with the values as sent (ccxt.pro makes floats of them).
- Every message goes to `on_message(channel, message, received_ms)` before ccxt
  handles it (the stream's counters hang there), and, with a `capture` set, into the
  raw capture with every REST answer and timer of the stream (`sources/capture.py`).
  Receive times come from `clock`, which a replay sets from the capture.

Binance trades are streamed as `aggTrade`, the id space of the REST `aggTrades`
endpoint that `fromId` pages, so stream and REST converge on one row per trade id.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, cast

import ccxt.pro as ccxt_pro
from ccxt.base import errors as ccxt_errors

from ohmycoins.errors import TemporarySourceError
from ohmycoins.quality.books import book_problem, diff_sequence_problem
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.capture import CaptureWriter, Clock
from ohmycoins.sources.ccxt_classes import rewrite_hosts
from ohmycoins.sources.exchange import ExchangeClient

log = logging.getLogger(__name__)

MessageHook = Callable[[str, Any, int], None]
"""Told of every websocket message: (channel, decoded message, local receive time ms)."""

WS_OPTIONS: dict[str, dict[str, Any]] = {
    "binance": {
        "watchTrades": {"name": "aggTrade"},
        "watchTicker": {"name": "ticker"},
        "watchTickers": {"name": "ticker"},
    },
    "kraken": {"watchOrderBook": {"checksum": True}},
}
"""Per-exchange ccxt.pro options beyond the shared ones (see the module docstring)."""

SPOT_ONLY = frozenset({"binance"})
"""Exchanges whose every socket we open is a spot one (ccxt guesses from the URL)."""

BINANCE_CHANNELS: dict[str, str] = {
    "aggTrade": "trades",
    "trade": "trades",
    "depthUpdate": "book",
    "24hrTicker": "ticker",
    "24hrMiniTicker": "ticker",
    "kline": "candles",
}
"""Binance event types (`e`) by the channel they belong to."""

KLINES_KEPT = 10_000
"""Kline events remembered (oldest forgotten first): bounded memory."""

_WS_HOST = re.compile(r"^wss?://[^/]+")


class BookIntegrityError(ccxt_errors.InvalidNonce):  # type: ignore[misc]
    """A maintained book broke a rule: it is discarded and resynced, never served.
    (A ccxt error, so ccxt's own handler discards the book and rejects its watcher.)"""


class ResyncError(TemporarySourceError):
    """A book was discarded (sequence break, checksum, crossed or unsorted): resync."""


def rewrite_ws_hosts(urls: Any, base_url: str) -> Any:
    """Every websocket URL in ccxt's (nested) `urls['api']['ws']` with its scheme and
    host replaced by those of `base_url`."""
    host = _WS_HOST.match(base_url)
    return urls if host is None else rewrite_hosts(urls, host.group(0), _WS_HOST)


def message_channel(exchange_id: str, message: Any) -> str:
    """The channel a raw message belongs to (`trades`, `book`, `ticker`, `candles`), or
    `control` (subscription answers, pongs, errors)."""
    if exchange_id == "binance" and isinstance(message, Mapping):
        event = message.get("data", message)  # combined streams wrap the event
        if isinstance(event, Mapping):
            return BINANCE_CHANNELS.get(str(event.get("e")), "control")
    return "control" if not isinstance(message, list | Mapping) else "data"


def exchange_time(message: Any) -> int | None:
    """The exchange's event time of a message (Binance `E`), for the receive lag."""
    if isinstance(message, Mapping):
        event = message.get("data", message)
        if isinstance(event, Mapping) and isinstance(event.get("E"), int):
            return int(event["E"])
    return None


class ExchangeStream(ExchangeClient):
    """One exchange through ccxt.pro: REST as `ExchangeClient`, plus watchers."""

    def __init__(
        self,
        exchange_id: str,
        settings: SourceSettings,
        *,
        name: str | None = None,
        redis_url: str | None = None,
        trades_limit: int = 10_000,
        ohlcv_limit: int = 100,
        on_message: MessageHook | None = None,
    ) -> None:
        self.on_message = on_message
        self.clock = Clock()
        self.capture: CaptureWriter | None = None
        self.resyncs = 0
        self.garbled = 0
        """Frames skipped because they could not be decoded or handled."""
        self.klines: OrderedDict[tuple[str, str, int], tuple[bool, list[Any]]] = OrderedDict()
        super().__init__(exchange_id, settings, name=name, redis_url=redis_url, module=ccxt_pro)
        options = self.api.options
        options.update({"tradesLimit": trades_limit, "OHLCVLimit": ohlcv_limit})
        options["newUpdates"] = True
        for key, value in WS_OPTIONS.get(exchange_id, {}).items():
            options[key] = {**(options.get(key) or {}), **value}
        if settings.ws_url:
            self.api.urls["api"]["ws"] = rewrite_ws_hosts(
                self.api.urls["api"]["ws"], settings.ws_url
            )

    def _refined(self, cls: type[Any]) -> type[Any]:
        return _checked_class(cls, self)

    async def aclose(self) -> None:
        await self.close()

    async def recycle(self) -> None:
        """Close every socket (the watchdog's reconnect), and forget the books they
        maintained; the next watch reconnects and resyncs."""
        await self.api.close_ws_clients()
        self.api.orderbooks = {}

    def synced_book(self, symbol: str) -> Mapping[str, Any] | None:
        """The book ccxt maintains for `symbol` as it is now, once synced from a
        snapshot (None before, and once discarded); checked after every diff."""
        book = (self.api.orderbooks or {}).get(symbol)
        if book is None or not (len(book["bids"]) or len(book["asks"])):
            return None
        return cast(Mapping[str, Any], book)

    async def timer(self, name: str, seconds: float) -> int:
        """Wait `seconds`, then the time it fired: a captured event (`name`), so that a
        replay fires it at the same point of the stream."""
        await asyncio.sleep(seconds)
        at = self.clock.stamp()
        if self.capture is not None:
            self.capture.mark(name, at)
        return at

    async def watch_trades(self, symbol: str) -> list[dict[str, Any]]:
        """Trades received since the last call, oldest first."""
        trades: list[dict[str, Any]] = await self._watch(
            f"watch_trades {symbol}", lambda: self.api.watch_trades(symbol)
        )
        return list(trades)

    async def watch_order_book(self, symbol: str, depth: int) -> Mapping[str, Any]:
        """The maintained book after its next update (ccxt's object: copy what you keep)."""
        book: Mapping[str, Any] = await self._watch(
            f"watch_order_book {symbol}", lambda: self.api.watch_order_book(symbol, depth)
        )
        return book

    async def watch_ticker(self, symbol: str) -> dict[str, Any]:
        ticker: dict[str, Any] = await self._watch(
            f"watch_ticker {symbol}", lambda: self.api.watch_ticker(symbol)
        )
        return ticker

    async def watch_ohlcv(self, symbol: str, timeframe: str) -> list[list[Any]]:
        """Candles updated since the last call (the one in progress among them)."""
        rows: list[list[Any]] = await self._watch(
            f"watch_ohlcv {symbol} {timeframe}", lambda: self.api.watch_ohlcv(symbol, timeframe)
        )
        return [self._exact_kline(symbol, timeframe, row) for row in rows]

    def _exact_kline(self, symbol: str, timeframe: str, row: list[Any]) -> list[Any]:
        """The row as the exchange sent it (ccxt.pro parses klines into floats)."""
        kept = self.klines.get((symbol, timeframe, int(row[0])))
        return list(kept[1]) if kept is not None else list(row)

    def candle_closed(self, symbol: str, timeframe: str, ts: int) -> bool | None:
        """Whether the exchange said this candle is closed; None where it does not say."""
        kept = self.klines.get((symbol, timeframe, ts))
        return kept[0] if kept is not None else None

    async def _watch(self, request: str, action: Callable[[], Any]) -> Any:
        """A watcher's next result; a discarded book is a `ResyncError`, the rest is
        translated as REST errors are."""

        async def resyncing() -> Any:
            try:
                return await action()
            except (ccxt_errors.InvalidNonce, ccxt_errors.ChecksumError) as exc:
                self.resyncs += 1
                raise ResyncError(
                    self.id, f"{type(exc).__name__}: {exc}", request=request
                ) from None

        return await self._translated(request, resyncing)

    def note_kline(self, message: Mapping[str, Any]) -> None:
        """Keep a Binance kline event's `x` (closed) flag and its exact values.

        Sample: ``{"e": "kline", "s": "BTCUSDT", "k": {"t": 1735689600000, "i": "1m",
        "o": "100.00", "h": "101.00", "l": "99.00", "c": "100.30", "v": "3.5",
        "x": true}}``"""
        kline = message.get("k")
        if not isinstance(kline, Mapping) or not isinstance(kline.get("x"), bool):
            return
        if not isinstance(kline.get("t"), int):
            return
        market = self.api.safe_market(str(message.get("s")), None, None, "spot")
        key = (str(market["symbol"]), str(kline.get("i")), int(kline["t"]))
        row = [kline["t"], *(kline.get(k) for k in ("o", "h", "l", "c", "v"))]
        self.klines[key] = (bool(kline["x"]), row)
        self.klines.move_to_end(key)
        while len(self.klines) > KLINES_KEPT:
            self.klines.popitem(last=False)


def _checked_class(base: type[Any], stream: ExchangeStream) -> type[Any]:
    """A ccxt.pro exchange class that tells `stream` of every message and checks every
    diff it applies to a book (see the module docstring)."""

    class Checked(base):  # type: ignore[misc]
        def client(self, url: str) -> Any:
            """ccxt's socket client, made to survive a frame it cannot decode or handle
            (ccxt's receive loop would die of it and the socket go silent)."""
            client = super().client(url)
            if not getattr(client, "omc_guarded", False):
                client.handle_text_or_binary_message = _guarded(
                    client.handle_text_or_binary_message, stream
                )
                client.omc_guarded = True
            return client

        def handle_message(self, client: Any, message: Any) -> Any:
            received = stream.clock.stamp()
            channel = message_channel(stream.ccxt_id, message)
            if stream.capture is not None:
                stream.capture.message(client.url, message, received, channel)
            if stream.on_message is not None:
                stream.on_message(channel, message, received)
            if channel == "candles" and isinstance(message, Mapping):
                stream.note_kline(message.get("data", message))
            return super().handle_message(client, message)

        async def fetch(
            self, url: str, method: str = "GET", headers: Any = None, body: Any = None
        ) -> Any:
            answer = await super().fetch(url, method, headers, body)
            received = stream.clock.stamp()
            if stream.capture is not None:
                stream.capture.rest(method, url, answer, received)
            return answer

        def is_spot_url(self, client: Any) -> bool:
            return stream.ccxt_id in SPOT_ONLY or bool(super().is_spot_url(client))

        def handle_delta(self, bookside: Any, delta: Any) -> None:
            """Levels kept exact, as the snapshot's are (a float beside a Decimal of the
            same price would be a second level)."""
            price, amount = self.safe_string(delta, 0), self.safe_string(delta, 1)
            if price is None or amount is None:
                raise BookIntegrityError(f"{self.id} diff level without price or amount: {delta}")
            bookside.store(Decimal(price), Decimal(amount))

        def handle_order_book_message(self, client: Any, message: Any, orderbook: Any) -> Any:
            first, final = self.safe_integer(message, "U"), self.safe_integer(message, "u")
            if first is not None and final is not None:
                problem = diff_sequence_problem(
                    orderbook["nonce"], first, final, synced=orderbook["timestamp"] is not None
                )
                if problem:
                    raise BookIntegrityError(f"{self.id} {problem}")
            result = super().handle_order_book_message(client, message, orderbook)
            problem = book_problem(orderbook["bids"], orderbook["asks"])
            if problem:
                raise BookIntegrityError(f"{self.id} book broken after a diff: {problem}")
            return result

    Checked.__name__ = f"Checked{base.__name__}"
    return Checked


def _guarded(handle: Callable[[Any], Any], stream: ExchangeStream) -> Callable[[Any], Any]:
    def guarded(data: Any) -> Any:
        try:
            return handle(data)
        except Exception as exc:  # one bad frame must not end the socket's receive loop
            stream.garbled += 1
            preview = data[:120] if isinstance(data, str | bytes) else type(data).__name__
            log.warning(
                "%s: frame skipped (%s: %s): %r", stream.id, type(exc).__name__, exc, preview
            )
            return None

    return guarded


def top_levels(side: Sequence[Any], depth: int) -> list[tuple[Decimal, Decimal]]:
    """The first `depth` levels of a ccxt book side, as exact decimals."""
    return [(Decimal(str(level[0])), Decimal(str(level[1]))) for level in side[:depth]]
