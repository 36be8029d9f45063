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
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
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
from ohmycoins.sources.binance import (
    binance_rate_limits,
    binance_spot_weight,
    binance_used_weights,
)
from ohmycoins.sources.parsing import (
    FieldError,
    Parsed,
    to_decimal,
    to_epoch_ms,
    to_optional_decimal,
    to_text,
)
from ohmycoins.sources.ratelimit import Limit, WeightWindow, shared_window

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class WeightBudget:
    """An exchange's request-weight budget: `limit` per `window_s` (assumed until the
    exchange publishes its own), the weight of a call, and where the published limits
    are read (from an answer's URL and decoded body)."""

    limit: float
    window_s: float
    weight_of: Callable[[str, Mapping[str, Any]], float]
    published: Callable[[str, Any], list[Limit] | None] | None = None
    used_of: Callable[[Mapping[str, str]], list[tuple[float, float]]] | None = None
    """The exchange's own counts in an answer's headers: (weight used, window seconds)."""


WEIGHT_BUDGETS: dict[str, WeightBudget] = {
    "binance": WeightBudget(
        6000, 60, binance_spot_weight, published=binance_rate_limits, used_of=binance_used_weights
    ),
}
"""Exchanges whose real budget we know; the others use ccxt's `rateLimit`."""

CCXT_OPTIONS: dict[str, dict[str, Any]] = {
    "binance": {
        "defaultType": "spot",
        "fetchMarkets": {"types": ["spot"]},
        "fetchCurrencies": False,
    },
}
"""Per-exchange ccxt options: we collect spot markets."""

_HOST = re.compile(r"^https?://[^/]+")


def rewrite_hosts(urls: Any, base_url: str) -> Any:
    """Every URL in ccxt's (nested) `urls['api']` with its host replaced by `base_url`."""
    if isinstance(urls, str):
        return _HOST.sub(base_url.rstrip("/"), urls)
    if isinstance(urls, dict):
        return {key: rewrite_hosts(value, base_url) for key, value in urls.items()}
    return urls


_WINDOWS: dict[tuple[str, str | None], WeightWindow] = {}
"""One budget per exchange and host in this process: every client of it shares it."""


def weight_window(
    exchange_id: str,
    host: str,
    budget: WeightBudget,
    redis_url: str | None = None,
    caps: Sequence[Limit] = (),
) -> WeightWindow:
    """The process-wide weight budget of an exchange at a host, capped by `caps`; with
    `redis_url`, kept in Redis and shared by every worker."""
    key = f"{exchange_id}@{host}/{budget.limit}/{budget.window_s}"
    if (key, redis_url) not in _WINDOWS:
        _WINDOWS[key, redis_url] = shared_window(
            redis_url, key, budget.limit, budget.window_s, caps=caps
        )
    return _WINDOWS[key, redis_url]


def _exact_class(base: type[Any]) -> type[Any]:
    """A subclass of a ccxt exchange class that refuses bodies that are not JSON and keeps
    order-book levels exact (ccxt parses them with floats whatever `number` is)."""

    class Exact(base):  # type: ignore[misc]
        def parse_ohlcvs(self, ohlcvs: Any, *args: Any, **kwargs: Any) -> Any:
            return super().parse_ohlcvs(_decoded(ohlcvs, list), *args, **kwargs)

        def parse_trades(self, trades: Any, *args: Any, **kwargs: Any) -> Any:
            return super().parse_trades(_decoded(trades, list), *args, **kwargs)

        def parse_order_book(self, orderbook: Any, *args: Any, **kwargs: Any) -> Any:
            return super().parse_order_book(_decoded(orderbook, dict), *args, **kwargs)

        def parse_tickers(self, tickers: Any, *args: Any, **kwargs: Any) -> Any:
            return super().parse_tickers(_decoded(tickers, list | dict), *args, **kwargs)

        def parse_order_book_bid_ask(
            self, bidask: Any, price_key: Any = 0, amount_key: Any = 1, count_or_id_key: Any = 2
        ) -> list[Any]:
            level = [
                _exact(self.safe_string(bidask, price_key)),
                _exact(self.safe_string(bidask, amount_key)),
            ]
            count_or_id = self.safe_integer(bidask, count_or_id_key)
            return level if count_or_id is None else [*level, count_or_id]

    Exact.__name__ = f"Exact{base.__name__}"
    return Exact


def _decoded(body: Any, shape: Any) -> Any:
    """The decoded JSON ccxt is about to parse; ccxt hands a body that is not JSON
    (malformed, truncated) on as text, which would parse into junk rows."""
    if not isinstance(body, shape):
        raise ccxt_errors.BadResponse(f"answer is not the JSON expected: {str(body)[:120]!r}")
    return body


def _exact(value: str | None) -> Decimal | str | None:
    """A Decimal for a numeric string; anything else as it came, for the parser to refuse."""
    if value is None:
        return None
    try:
        number = Decimal(value)
    except ArithmeticError:
        return value
    return number if number.is_finite() else value


def _budgeted_class(base: type[Any], budget: WeightBudget, window: WeightWindow) -> type[Any]:
    """A subclass of a ccxt exchange class that spends our weight budget instead of
    ccxt's throttle, reads the exchange's own counts from every response, and adopts
    the limits it publishes (capped by the window's configured ones)."""

    class Budgeted(base):  # type: ignore[misc]
        def calculate_rate_limiter_cost(
            self, api: Any, method: Any, path: Any, params: Any, config: Any = None
        ) -> float:
            return budget.weight_of(str(path), params or {})

        async def throttle(self, cost: float | None = None) -> None:
            await window.acquire(cost or 1)

        def handle_errors(
            self, code: int, reason: str, url: str, method: str, headers: Any, body: str, *rest: Any
        ) -> Any:
            if code == 200 and budget.published is not None and rest:
                self._adopt(budget.published(url, rest[0]))  # first: its windows count this
            self._observe(code, headers or {})
            return super().handle_errors(code, reason, url, method, headers, body, *rest)

        def _adopt(self, published: list[Limit] | None) -> None:
            if published and window.publish(published):
                shown = ", ".join(str(limit) for limit in window.limits)
                log.info("%s publishes its rate limits; keeping to %s", self.id, shown)

        def _observe(self, code: int, headers: Mapping[str, str]) -> None:
            lower = {str(k).lower(): v for k, v in headers.items()}
            for used, window_s in budget.used_of(lower) if budget.used_of else []:
                window.observe_used(used, window_s)
            retry_after = _seconds(lower.get("retry-after"))
            if code == 429:
                window.pause(retry_after or budget.window_s)
            elif code == 418:
                window.ban(retry_after or 2 * budget.window_s)

    Budgeted.__name__ = f"Budgeted{base.__name__}"
    return Budgeted


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


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
        cls = self._refined(_exact_class(base))
        if budget and self.window:
            cls = _budgeted_class(cls, budget, self.window)
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
        self,
        symbol: str,
        *,
        since: int | None = None,
        from_id: str | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Public trades, oldest first: after trade id `from_id` (inclusive) when the
        exchange supports it (Binance), else from time `since`."""
        params = {"fromId": from_id} if from_id is not None else {}
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


def _ms(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
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
                    to_text(str(item.get("id")) if item.get("id") is not None else None, "id"),
                    _ms(item.get("timestamp")),
                    to_decimal(item.get("price"), "price"),
                    to_decimal(item.get("amount"), "amount"),
                    to_text(item.get("side"), "side"),
                )
            )
        except FieldError as exc:
            parsed.violations.append(exc.violation("Trade", item))
    return parsed
