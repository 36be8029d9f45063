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
  CRC32 checksum is turned on (ccxt leaves it off) and computed over the levels' exact
  text (its frames are decoded keeping each number with a fraction as the text sent,
  as Kraken asks: a float would drop the trailing zeros the checksum covers). Levels
  are stored as exact decimals whatever the exchange's handler passes (ccxt hands some
  of them on as strings).
- Coinbase (ccxt's `coinbaseexchange`, the `ws-feed`): each product's `sequence` on
  `match` and `ticker` must rise (a repeat or a step back is dropped, counted) and each
  product's match `trade_id` must be the last one plus one (a gap is a dropped frame:
  counted and logged here; the stream fills it over REST by id). Its `level2` channel
  carries no sequence: a dropped diff there shows only if the book crosses.
- Exchange facts (which message is which channel, allowed book depths, connection
  limits) are data, in `VENUES`; `ConnectionPacer` keeps reconnects within the limits.
- Binance klines carry `x` (closed): the flag is kept so that only closed candles are
  stored (`candle_closed`), with the values as sent (ccxt.pro makes floats of them).
- Every message goes to `on_message(channel, message, received_ms)` before ccxt
  handles it (the stream's counters hang there), and, with a `capture` set, into the
  raw capture with every REST answer and timer of the stream (`sources/capture.py`).
  Receive times come from `clock`, which a replay sets from the capture.

Binance trades are streamed as `aggTrade`, the id space of the REST `aggTrades`
endpoint that `fromId` pages; Coinbase's match `trade_id` is the id its REST trades
endpoint pages by (`after`). So stream and REST converge on one row per trade id
(`fetch_trades_from_id`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

import ccxt.pro as ccxt_pro
from ccxt.async_support.base.ws import order_book_side
from ccxt.async_support.base.ws.functions import is_json_encoded_object
from ccxt.async_support.base.ws.order_book import OrderBook as CcxtOrderBook
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

BINANCE_CHANNELS: dict[str, str] = {
    "aggTrade": "trades",
    "trade": "trades",
    "depthUpdate": "book",
    "24hrTicker": "ticker",
    "24hrMiniTicker": "ticker",
    "kline": "candles",
}
"""Binance event types (`e`) by the channel they belong to."""


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """What an exchange allows one IP address, as its documentation states: at most
    `connections` new connections in any `window_s` seconds; `sent_per_second`
    messages a client may send (per connection, or per IP where the exchange counts
    so); `streams_per_connection` subscriptions one socket may carry. None: not
    published."""

    connections: int
    window_s: float
    sent_per_second: float | None = None
    streams_per_connection: int | None = None


@dataclass(frozen=True, slots=True)
class Venue:
    """Facts of one exchange's websocket that the checks and counters need."""

    kind: Callable[[dict[str, Any]], Any]
    """The wire name of a message's channel (an event type, a channel field)."""
    channels: Mapping[str, str]
    """Wire names by the channel (`trades`, `book`, `ticker`, `candles`) they carry."""
    limits: ConnectionLimits
    book_depths: tuple[int, ...] = ()
    """The book depths a subscription may ask for; () where it always sends the whole book."""
    sequenced: frozenset[str] = frozenset()
    """Message types carrying a per-product `sequence` that must rise."""
    public_book_channel: str | None = None
    """The book channel used without credentials, where the usual one requires them."""
    exact_json: bool = False
    """Frames decoded keeping numbers with a fraction as their text (the checksum covers
    it; ccxt reads a number given as text as it reads one given as a string)."""

    def channel_of(self, message: Any) -> str:
        """The channel of a decoded message (see `message_channel`)."""
        if type(message) is dict:
            return self.channels.get(str(self.kind(message)), "control")
        return "data" if type(message) is list else "control"


def _binance_kind(message: dict[str, Any]) -> Any:
    event = message.get("data", message)  # combined streams wrap the event
    return event.get("e") if type(event) is dict else None


VENUES: dict[str, Venue] = {
    "binance": Venue(
        _binance_kind,
        BINANCE_CHANNELS,
        # 300 connections per 5 minutes per IP, 5 incoming messages a second per
        # connection, 1024 streams per connection (Binance spot websocket limits)
        ConnectionLimits(300, 300, sent_per_second=5, streams_per_connection=1024),
        book_depths=(5, 10, 20, 50, 100, 500, 1000, 5000),
    ),
    "kraken": Venue(
        lambda message: message.get("channel"),
        {"trade": "trades", "book": "book", "ticker": "ticker", "ohlc": "candles"},
        # about 150 connection attempts per rolling 10 minutes per IP (Kraken's
        # websocket documentation); subscription messages are rate limited per
        # connection by a budget Kraken does not publish
        ConnectionLimits(150, 600),
        book_depths=(10, 25, 100, 500, 1000),
        exact_json=True,
    ),
    "coinbaseexchange": Venue(
        lambda message: message.get("type"),
        {
            "match": "trades",
            "last_match": "trades",
            "snapshot": "book",
            "l2update": "book",
            "ticker": "ticker",
        },
        # 8 connection requests a second per IP (bursts of up to 20), 100 messages
        # a second sent per IP, 10 subscriptions per product and channel (Coinbase
        # Exchange websocket rate limits)
        ConnectionLimits(8, 1, sent_per_second=100, streams_per_connection=10),
        sequenced=frozenset({"match", "last_match", "ticker"}),
        # `level2` requires credentials; `level2_batch` is open, with the same messages
        # sent in batches (every 50 ms)
        public_book_channel="level2_batch",
    ),
}
"""What we know of each exchange's websocket; others are streamed without these checks."""

SPOT_ONLY = frozenset({"binance"})
"""Exchanges whose every socket we open is a spot one (ccxt guesses from the URL)."""

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
    `control` (subscription answers, heartbeats, errors); `data` for a message of an
    exchange whose channels we cannot tell apart. (Messages are decoded JSON: an object
    is a `dict`, checked by its exact type, as every check here on each message is.)"""
    venue = VENUES.get(exchange_id)
    return _unlabelled_channel(message) if venue is None else venue.channel_of(message)


def _unlabelled_channel(message: Any) -> str:
    """The channel of a message of an exchange not in `VENUES`: `data` or `control`."""
    return "data" if type(message) in (dict, list) else "control"


def book_depth(exchange_id: str, levels: int) -> int | None:
    """The book depth to subscribe to for at least `levels` levels: the smallest the
    exchange accepts (its largest when none is enough); None for a whole-book feed."""
    venue = VENUES.get(exchange_id)
    if venue is None:
        return levels
    if not venue.book_depths:
        return None
    return next((d for d in venue.book_depths if d >= levels), venue.book_depths[-1])


@dataclass
class ConnectionPacer:
    """Keeps the connections one exchange opens within its `ConnectionLimits`: at most
    `connections` in any sliding `window_s`. The clock is injected (monotonic seconds)."""

    limits: ConnectionLimits
    clock: Callable[[], float] = time.monotonic
    _opened: deque[float] = field(default_factory=deque)

    def delay(self, needed: int = 1) -> float:
        """Seconds until `needed` more connections fit within the limits."""
        now = self.clock()
        self._forget(now)
        over = len(self._opened) + needed - self.limits.connections
        if over <= 0:
            return 0.0
        if over > len(self._opened):  # more than a window's worth: wait one whole window
            return self.limits.window_s
        return max(0.0, self._opened[over - 1] + self.limits.window_s - now)

    def opened(self) -> None:
        """Count a connection opened now."""
        self._opened.append(self.clock())

    def _forget(self, now: float) -> None:
        while self._opened and self._opened[0] <= now - self.limits.window_s:
            self._opened.popleft()


def book_checksum_text(value: Any) -> str:
    """A price or amount as Kraken's book checksum covers it: its exact text without
    the decimal point and leading zeros (`"0.05005000"` → `"5005000"`)."""
    return format(Decimal(str(value)), "f").replace(".", "").lstrip("0")


def exchange_time(message: Any) -> int | None:
    """The exchange's event time of a message (Binance `E`), for the receive lag."""
    if type(message) is dict:
        event = message.get("data", message)
        if type(event) is dict and type(sent := event.get("E")) is int:
            return sent
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
        self.receiving = True
        """False while a stream stops: a frame that arrives then is dropped before it is
        captured or handled, so the capture holds no message the stream did not store
        (a replay stores what the live run stored; trades missed are filled by id)."""
        self.clock = Clock()
        self.capture: CaptureWriter | None = None
        self.resyncs = 0
        self.garbled = 0
        """Frames skipped because they could not be decoded or handled."""
        self.sequence_breaks = 0
        """Messages out of sequence (dropped) or after a gap (counted, logged)."""
        self.checksums = 0
        """Book checksums computed (a mismatch discards the book: see `resyncs`)."""
        self.venue = VENUES.get(exchange_id)
        self.spot_only = exchange_id in SPOT_ONLY
        """Every socket is a spot one (ccxt would guess from the URL, which tests replace)."""
        self.pacer = ConnectionPacer(self.venue.limits if self.venue else ConnectionLimits(60, 60))
        """Paces new sockets; without published limits, one a second on average."""
        self._sequences: dict[tuple[str, str], int] = {}
        self._trade_ids: dict[str, int] = {}
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
        self.forget_sequences()

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

    async def watch_order_book(self, symbol: str, depth: int | None) -> Mapping[str, Any]:
        """The maintained book after its next update (ccxt's object: copy what you keep)."""
        params = self._public_book()
        book: Mapping[str, Any] = await self._watch(
            f"watch_order_book {symbol}", lambda: self.api.watch_order_book(symbol, depth, params)
        )
        return book

    def _public_book(self) -> dict[str, Any]:
        """Without credentials, the exchange's open book channel where it has one."""
        channel = self.venue.public_book_channel if self.venue else None
        return {"channels": [channel]} if channel and not self.api.apiKey else {}

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

    def in_sequence(self, message: Mapping[str, Any]) -> bool:
        """Whether a sequenced message (Coinbase `match`, `ticker`) follows the last one of
        its product; a match after a trade-id gap passes but is counted and logged."""
        kind, product = str(message.get("type")), str(message.get("product_id"))
        sequence = message.get("sequence")
        if not isinstance(sequence, int):
            return True
        stream = "trades" if kind in ("match", "last_match") else kind
        last = self._sequences.get((stream, product))
        if last is not None and sequence <= last:
            self._break(f"{product} {kind} sequence {sequence} after {last}: dropped")
            return False
        self._sequences[(stream, product)] = sequence
        if stream == "trades" and isinstance(message.get("trade_id"), int):
            self._follow_trade(product, int(message["trade_id"]))
        return True

    def _follow_trade(self, product: str, trade_id: int) -> None:
        last = self._trade_ids.get(product)
        if last is not None and trade_id != last + 1:
            self._break(f"{product} trade ids {last + 1}..{trade_id - 1} missing")
        self._trade_ids[product] = trade_id

    def _break(self, problem: str) -> None:
        self.sequence_breaks += 1
        log.warning("%s: out of sequence: %s", self.id, problem)

    def forget_sequences(self) -> None:
        """A new connection starts every sequence afresh."""
        self._sequences.clear()
        self._trade_ids.clear()

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
    diff it applies to a book (see the module docstring). What the hook on every message
    needs to know of the exchange is looked up once, here."""
    venue = stream.venue
    channel_of = venue.channel_of if venue is not None else _unlabelled_channel
    sequenced = venue.sequenced if venue is not None else frozenset()
    spot_only = stream.spot_only

    class Checked(base):  # type: ignore[misc]
        def client(self, url: str) -> Any:
            """ccxt's socket client, made to survive a frame it cannot decode or handle
            (ccxt's receive loop would die of it and the socket go silent)."""
            client = super().client(url)
            if not getattr(client, "omc_guarded", False):
                handle = client.handle_text_or_binary_message
                if stream.venue is not None and stream.venue.exact_json:
                    handle = _exactly_decoded(client)
                client.handle_text_or_binary_message = _guarded(handle, stream)
                client.omc_guarded = True
                stream.pacer.opened()
            return client

        def order_book(self, snapshot: Any = None, depth: Any = None) -> Any:
            """ccxt's book with sides that keep every level an exact decimal."""
            book = CcxtOrderBook(snapshot or {}, depth)
            for key, side in (("asks", ExactAsks), ("bids", ExactBids)):
                book[key] = side(list(book[key]), book[key]._depth)
            return book

        def handle_message(self, client: Any, message: Any) -> Any:
            if not stream.receiving:
                return None
            received = stream.clock.stamp()
            channel = channel_of(message)
            if stream.capture is not None:
                stream.capture.message(client.url, message, received, channel)
            if stream.on_message is not None:
                stream.on_message(channel, message, received)
            if channel == "candles":  # a kline event: a dict
                stream.note_kline(message.get("data", message))
            elif (
                sequenced
                and type(message) is dict
                and message.get("type") in sequenced
                and not stream.in_sequence(message)
            ):
                return None  # a repeat or a step back: dropped (counted)
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
            return spot_only or bool(super().is_spot_url(client))

        def handle_delta(self, bookside: Any, delta: Any) -> None:
            """A diff's level as sent, never through a float (the side makes it exact)."""
            bookside.store(self.safe_string(delta, 0), self.safe_string(delta, 1))

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
    refined: type[Any] = Checked
    if stream.venue is not None and stream.venue.exact_json:
        refined = _checksummed(refined, stream)
    if stream.venue is not None and stream.venue.public_book_channel:
        refined = _public_books(refined)
    return refined


def _checksummed(base: type[Any], stream: ExchangeStream) -> type[Any]:
    """A class whose book checksum (ccxt's, Kraken's algorithm) reads each level's exact
    text, and counts the checksums it computes."""

    class Checksummed(base):  # type: ignore[misc]
        def crc32(self, text: str, signed: bool = False) -> int:
            stream.checksums += 1
            return int(super().crc32(text, signed))

        def format_number(self, data: Any) -> str:
            """A level's price or amount as the checksum covers it (ccxt's own reads a
            float's text, which has lost the trailing zeros)."""
            return book_checksum_text(data)

    Checksummed.__name__ = base.__name__
    return Checksummed


def _public_books(base: type[Any]) -> type[Any]:
    """A class that subscribes to the open book channel unsigned when it has no
    credentials (ccxt signs every book subscription, and fails without them)."""

    class PublicBooks(base):  # type: ignore[misc]
        def authenticate(self) -> dict[str, Any]:
            return dict(super().authenticate()) if self.apiKey else {}

    PublicBooks.__name__ = base.__name__
    return PublicBooks


class ExactAsks(order_book_side.Asks):  # type: ignore[misc]
    """Asks whose levels are exact decimals (a string level would sort as text and a
    string `"0.0"` would not remove its level)."""

    def storeArray(self, delta: list[Any]) -> None:
        super().storeArray(_exact_level(delta))


class ExactBids(order_book_side.Bids):  # type: ignore[misc]
    """Bids whose levels are exact decimals (see `ExactAsks`)."""

    def storeArray(self, delta: list[Any]) -> None:
        super().storeArray(_exact_level(delta))


def _exact_level(delta: list[Any]) -> list[Any]:
    price, amount = delta[0], delta[1]
    if price is None or amount is None:
        raise BookIntegrityError(f"book level without price or amount: {delta}")
    return [Decimal(str(price)), Decimal(str(amount)), *delta[2:]]


def _exactly_decoded(client: Any) -> Callable[[Any], Any]:
    """ccxt's frame handler, decoding JSON numbers with a fraction as their exact text."""

    def handle(data: Any) -> Any:
        if isinstance(data, bytes):
            data = data.decode()
        decoded = json.loads(data, parse_float=str) if is_json_encoded_object(data) else data
        return client.on_message_callback(client, decoded)

    return handle


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
