"""Exchanges through ccxt's async API: any ccxt exchange id, Binance and CoinSpot first.

ccxt is the only exchange client (never a hand-written one). We configure it to keep
numbers as the strings the exchange sent (`number = str`), so prices reach the
records as exact Decimals. `OMC_<EXCHANGE>_URL` replaces the host of every API URL
ccxt knows for that exchange, which is how tests and the demo reach the simulator.

Rate limits: where we know an exchange's real budget (Binance: request weights per
window, reported back in `X-MBX-USED-WEIGHT-1M`) a `WeightWindow` replaces ccxt's
throttle, using the real weights rather than ccxt's conservative costs; elsewhere
ccxt's own `rateLimit` throttle applies. The budget assumed at first gives way to the
one the exchange publishes (Binance's `exchangeInfo` `rateLimits`, every window it
lists) as soon as `load_markets` reads it; `OMC_<EXCHANGE>_RATE_LIMIT` caps it. A 429
pauses every request for Retry-After; a 418 ban fails every call with `BannedError`,
or, for a client made with `on_ban`, is waited out. ccxt errors are translated here, once.

Trades by id: where an exchange's trade ids are sequential integers its REST trades
endpoint can be paged by (`TRADE_ID_PAGES`), `fetch_trades_from_id` asks for the trades
from one id on, whichever way the exchange pages: Binance forward from `fromId`,
Coinbase backwards from `after`. Stream holes and the trade collector both use it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import ccxt.async_support as ccxt_async
from ccxt.base import errors as ccxt_errors

from ohmycoins.errors import (
    BannedError,
    ConfigError,
    PayloadError,
    RateLimitedError,
    SourceError,
    TemporarySourceError,
)
from ohmycoins.records import Candle, Level, OrderBook, Ticker, Trade
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.ccxt_classes import (
    CCXT_OPTIONS,
    WEIGHT_BUDGETS,
    WeightBudget,
    budgeted_class,
    exact_class,
    rewrite_hosts,
    weight_window,
)
from ohmycoins.sources.parsing import (
    FieldError,
    Parsed,
    to_decimal,
    to_epoch_ms,
    to_optional_decimal,
    to_text,
)
from ohmycoins.sources.ratelimit import Limit

log = logging.getLogger(__name__)
T = TypeVar("T")

TradeIdPage = Callable[[int, int], dict[str, str]]
"""(first id, count) → the query parameters asking for the `count` trades from that id."""

TRADE_ID_PAGES: dict[str, TradeIdPage] = {
    # aggTrades from `fromId` on (inclusive), oldest first
    "binance": lambda first, count: {"fromId": str(first)},
    # /products/{id}/trades: newest first, older than `after` (exclusive; the `CB-AFTER`
    # header of a page is its oldest id). A product's ids are consecutive, so the
    # `count` trades from `first` are the page below `first + count`.
    "coinbaseexchange": lambda first, count: {"after": str(first + count)},
}
"""Exchanges whose trade ids are sequential integers their REST trades endpoint pages by."""


class ExchangeClient:
    """One exchange through ccxt: fetches raw unified structures, errors translated."""

    def __init__(
        self,
        exchange_id: str,
        settings: SourceSettings,
        *,
        timeout_ms: int = 10_000,
        budget: WeightBudget | None = None,
        redis_url: str | None = None,
        on_ban: Callable[[BannedError], None] | None = None,
        name: str | None = None,
        module: Any = ccxt_async,
    ) -> None:
        """`budget` replaces the exchange's known weight budget; `OMC_<EXCHANGE>_RATE_LIMIT`
        caps its weight per window (for Binance, weight per minute), before and after the
        exchange publishes its own; `redis_url` shares it with every worker. With
        `on_ban`, a ban is told to it once and waited out, and calls go on after it.
        `name`: the id records, collectors and circuits carry, when it is not the ccxt id
        (the demo's simulator speaks Binance's format as `sim`). `module`: where the
        exchange classes come from (ccxt's async one, or ccxt.pro for websockets)."""
        base = getattr(module, exchange_id, None)
        if base is None or not isinstance(base, type):
            raise ConfigError("exchange", exchange_id, "not an exchange id ccxt knows")
        budget = budget or WEIGHT_BUDGETS.get(exchange_id)
        caps: list[Limit] = []
        if budget and settings.rate_limit:
            budget = dataclasses.replace(budget, limit=settings.rate_limit)
            caps.append(Limit(settings.rate_limit, budget.window_s))
        self.window = (
            weight_window(exchange_id, settings.url or "", budget, redis_url, caps)
            if budget
            else None
        )
        self.on_ban = on_ban
        self._ban_told = 0.0
        cls = self._refined(exact_class(base))
        if budget and self.window:
            cls = budgeted_class(cls, budget, self.window)
        config: dict[str, Any] = {
            "enableRateLimit": True,
            "timeout": timeout_ms,
            "options": CCXT_OPTIONS.get(exchange_id, {}),
        }
        if settings.api_key:
            config["apiKey"] = settings.api_key.get_secret_value()
        if settings.api_secret:
            config["secret"] = settings.api_secret.get_secret_value()
        self.id = name or exchange_id
        self.ccxt_id = exchange_id
        self.api = cls(config)
        self.api.number = str
        if settings.url:
            self.api.urls["api"] = rewrite_hosts(self.api.urls["api"], settings.url)
            if settings.url.startswith("http://"):
                self.api.timeout_on_exit = 0  # the pause ccxt makes for closing TLS

    def _refined(self, cls: type[Any]) -> type[Any]:
        """The exchange class this client instantiates; subclasses refine it further."""
        return cls

    async def close(self) -> None:
        await self.api.close()

    async def load_markets(self) -> dict[str, Any]:
        """The markets, and with them the limits the exchange publishes (shared with the
        other workers before this returns). Until then the budget is an assumption, so a
        429 here is waited out (the pause holds the retry until Retry-After) and the
        markets asked for once more."""
        try:
            markets: dict[str, Any] = await self._call("load_markets", self.api.load_markets)
        except RateLimitedError:
            if self.window is None:
                raise
            markets = await self._call("load_markets", self.api.load_markets)
        if self.window is not None:
            await self.window.flush()  # the limits and counts read reach the other workers
        return markets

    def timeframes(self) -> list[str]:
        """The timeframes the exchange offers for candles."""
        return list((self.api.timeframes or {}).keys())

    async def fetch_ohlcv(
        self, symbol: str, timeframe: str, since: int, until: int, limit: int = 1000
    ) -> list[list[Any]]:
        """Candles with open time in [since, until], oldest first (raw ccxt rows)."""
        if timeframe not in (self.api.timeframes or {}):
            raise ConfigError("timeframe", timeframe, f"{self.id} offers {self.timeframes()}")
        rows: list[list[Any]] = await self._call(
            f"fetch_ohlcv {symbol} {timeframe} {since}",
            lambda: self.api.fetch_ohlcv(symbol, timeframe, since, limit, {"until": until}),
        )
        return _require_list(rows, self.id, f"fetch_ohlcv {symbol}")

    async def fetch_tickers(self, symbols: Sequence[str]) -> dict[str, Any]:
        tickers: dict[str, Any] = await self._call(
            "fetch_tickers", lambda: self.api.fetch_tickers(list(symbols))
        )
        return tickers

    async def fetch_order_book(self, symbol: str, depth: int) -> dict[str, Any]:
        book: dict[str, Any] = await self._call(
            f"fetch_order_book {symbol}", lambda: self.api.fetch_order_book(symbol, depth)
        )
        return book

    async def fetch_trades(
        self, symbol: str, *, since: int | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Public trades, oldest first: from time `since` where the exchange filters by
        it, else the latest ones."""
        return await self._fetch_trades(symbol, since, limit, {})

    @property
    def pages_trade_ids(self) -> bool:
        """Whether trades can be fetched by id (`fetch_trades_from_id`)."""
        return self.ccxt_id in TRADE_ID_PAGES

    async def fetch_trades_from_id(
        self, symbol: str, first: int, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Up to `limit` public trades with ids from `first` on, oldest first: one page,
        asked for as the exchange pages its ids (`TRADE_ID_PAGES`). What else the page
        holds (ids before `first`, as a Coinbase page has when fewer trades are left;
        a trade without an integer id) is left out."""
        page = TRADE_ID_PAGES.get(self.ccxt_id)
        if page is None:
            raise ConfigError("exchange", self.id, "its trades cannot be fetched by id")
        raw = await self._fetch_trades(symbol, None, limit, page(first, limit))
        return sorted((t for t in raw if _trade_id(t) >= first), key=_trade_id)

    async def _fetch_trades(
        self, symbol: str, since: int | None, limit: int, params: dict[str, str]
    ) -> list[dict[str, Any]]:
        trades: list[dict[str, Any]] = await self._call(
            f"fetch_trades {symbol}", lambda: self.api.fetch_trades(symbol, since, limit, params)
        )
        return _require_list(trades, self.id, f"fetch_trades {symbol}")

    async def _call(self, request: str, action: Callable[[], Awaitable[T]]) -> T:
        """`action`, its errors translated; a ban waited out when the client has `on_ban`."""
        while True:
            try:
                return await self._translated(request, action)
            except BannedError as exc:
                if self.on_ban is None or self.window is None or not self.window.banned_for():
                    raise
                if self.window.banned_until > self._ban_told:  # each ban told once
                    self._ban_told = self.window.banned_until
                    self.on_ban(exc)
                await self.window.wait_out_ban()

    async def _translated(self, request: str, action: Callable[[], Awaitable[T]]) -> T:
        try:
            return await action()
        except BannedError:  # refused by our own limiter: the ban an earlier answer began
            raise self._banned(request, "") from None
        except ccxt_errors.BadSymbol as exc:
            raise SourceError(self.id, f"unknown symbol: {exc}", request=request) from None
        except (ccxt_errors.RateLimitExceeded, ccxt_errors.DDoSProtection) as exc:
            raise self._throttled(exc, request) from None
        except (ccxt_errors.RequestTimeout, ccxt_errors.NetworkError) as exc:
            raise TemporarySourceError(
                self.id, f"{type(exc).__name__}: {exc}", request=request
            ) from None
        except ccxt_errors.BadResponse as exc:
            raise PayloadError(self.id, str(exc), payload=None, request=request) from None
        except ccxt_errors.BaseError as exc:
            raise SourceError(self.id, f"{type(exc).__name__}: {exc}", request=request) from None
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
            raise PayloadError(
                self.id, f"unparseable answer: {exc!r}", payload=None, request=request
            ) from None

    def _throttled(self, exc: Exception, request: str) -> SourceError:
        text = str(exc)
        window = self.window
        if " 418 " in text or (window is not None and window.banned_for() > 0):
            return self._banned(request, text)
        retry = window.paused_for() if window is not None else None
        return RateLimitedError(
            self.id, f"rate limited: {text[:200]}", retry_after=retry, request=request
        )

    def _banned(self, request: str, text: str) -> BannedError:
        """The ban, saying until when and for how long (Retry-After of the 418)."""
        seconds = self.window.banned_for() if self.window is not None else 0.0
        if not seconds or self.window is None:
            return BannedError(self.id, f"banned: {text[:200]}", retry_after=None, request=request)
        until = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.window.banned_until))
        return BannedError(
            self.id,
            f"banned this IP (HTTP 418) until {until} UTC, {seconds:.0f} s from now",
            retry_after=seconds,
            request=request,
        )


def _trade_id(trade: Any) -> int:
    """A raw trade's integer id; -1 for one without (it pages nothing)."""
    text = str(trade.get("id")) if isinstance(trade, Mapping) else ""
    return int(text) if text.isdigit() else -1


def _require_list(value: Any, source: str, request: str) -> list[Any]:
    if not isinstance(value, list):
        preview = str(value)[:200]
        raise PayloadError(
            source, f"expected a list, got {type(value).__name__}", payload=preview, request=request
        )
    return value


def parse_ohlcv(exchange: str, symbol: str, timeframe: str, rows: Sequence[Any]) -> Parsed[Candle]:
    """ccxt OHLCV rows to candles.

    Sample (ccxt with `number = str`, from Binance klines): ``[1634860800000,
    "63000.01", "63100.00", "62950.50", "63050.25", "12.34567800"]``
    """
    parsed: Parsed[Candle] = Parsed()
    for row in rows:
        try:
            if not isinstance(row, list | tuple) or len(row) < 6:
                raise FieldError("row", row, "must be [ts, open, high, low, close, volume]")
            ts, o, h, low, c, v = row[:6]
            candle = Candle(
                exchange,
                symbol,
                timeframe,
                _ms(ts),
                to_decimal(o, "open"),
                to_decimal(h, "high"),
                to_decimal(low, "low"),
                to_decimal(c, "close"),
                to_optional_decimal(v, "volume"),
            )
            parsed.records.append(candle)
        except FieldError as exc:
            parsed.violations.append(exc.violation("Candle", row))
    return parsed


_TIME_TYPES = (int, str, Decimal)


def _ms(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, _TIME_TYPES):
        raise FieldError("ts", value, "must be epoch milliseconds")
    return to_epoch_ms(value, "ts")


def parse_tickers(exchange: str, raw: Mapping[str, Any], now_ms: int) -> Parsed[Ticker]:
    """ccxt tickers (by symbol) to tickers; a ticker without time is stamped `now_ms`.

    Sample: ``{"BTC/USDT": {"symbol": "BTC/USDT", "timestamp": 1634860859999,
    "last": "63050.25", "bid": "63050.24", "ask": "63050.26", "high": "64000.00",
    "low": "62000.00", "open": "62500.00", "baseVolume": "1234.5",
    "quoteVolume": "77000000.1", "percentage": "0.88"}}``
    """
    parsed: Parsed[Ticker] = Parsed()
    for symbol, item in raw.items():
        try:
            if not isinstance(item, Mapping):
                raise FieldError("ticker", item, "must be an object")
            stamp = item.get("timestamp")
            parsed.records.append(
                Ticker(
                    exchange,
                    str(symbol),
                    _ms(stamp) if stamp is not None else now_ms,
                    to_decimal(item.get("last"), "last"),
                    bid=to_optional_decimal(item.get("bid"), "bid"),
                    ask=to_optional_decimal(item.get("ask"), "ask"),
                    high_24h=to_optional_decimal(item.get("high"), "high"),
                    low_24h=to_optional_decimal(item.get("low"), "low"),
                    open_24h=to_optional_decimal(item.get("open"), "open"),
                    base_volume_24h=to_optional_decimal(item.get("baseVolume"), "baseVolume"),
                    quote_volume_24h=to_optional_decimal(item.get("quoteVolume"), "quoteVolume"),
                    change_pct_24h=to_optional_decimal(item.get("percentage"), "percentage"),
                )
            )
        except FieldError as exc:
            parsed.violations.append(exc.violation("Ticker", item))
    return parsed


def parse_order_book(
    exchange: str, symbol: str, raw: Mapping[str, Any], now_ms: int
) -> Parsed[OrderBook]:
    """A ccxt order book to an L2 snapshot; a book without time is stamped `now_ms`.

    Sample: ``{"bids": [["63050.24", "0.5"], ...], "asks": [["63050.26", "1.2"], ...],
    "timestamp": null, "nonce": 1027024}``
    """
    try:
        stamp = raw.get("timestamp")
        book = OrderBook(
            exchange,
            symbol,
            _ms(stamp) if stamp is not None else now_ms,
            _levels(raw.get("bids"), "bids"),
            _levels(raw.get("asks"), "asks"),
        )
    except FieldError as exc:
        return Parsed([], [exc.violation("OrderBook", dict(raw))])
    return Parsed([book], [])


def _levels(value: Any, side: str) -> tuple[Level, ...]:
    if not isinstance(value, list):
        raise FieldError(side, value, "must be a list of [price, amount]")
    levels = []
    for index, level in enumerate(value):
        if not isinstance(level, list | tuple) or len(level) < 2:
            raise FieldError(f"{side}[{index}]", level, "must be [price, amount]")
        levels.append(
            (
                to_decimal(level[0], f"{side}[{index}].price"),
                to_decimal(level[1], f"{side}[{index}].amount"),
            )
        )
    return tuple(levels)


def parse_trades(exchange: str, symbol: str, raw: Sequence[Any]) -> Parsed[Trade]:
    """ccxt trades to trades.

    Sample: ``{"id": "1027024", "timestamp": 1634860859999, "price": "63050.25",
    "amount": "0.0012", "side": "buy", "symbol": "BTC/USDT"}``
    """
    parsed: Parsed[Trade] = Parsed()
    for item in raw:
        try:
            if not isinstance(item, Mapping):
                raise FieldError("trade", item, "must be an object")
            parsed.records.append(
                Trade(
                    exchange,
                    symbol,
                    to_text(None if (id_ := item.get("id")) is None else str(id_), "id"),
                    _ms(item.get("timestamp")),
                    to_decimal(item.get("price"), "price"),
                    to_decimal(item.get("amount"), "amount"),
                    to_text(item.get("side"), "side"),
                )
            )
        except FieldError as exc:
            parsed.violations.append(exc.violation("Trade", item))
    return parsed
