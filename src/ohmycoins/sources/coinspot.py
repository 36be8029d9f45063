"""CoinSpot public API v2 (no key): tickers, order books and completed trades in AUD
and the other markets CoinSpot lists (`BTC/USDT`, ...).

Facts about the source, as data below:
- Base URL `https://www.coinspot.com.au/pubapi/v2` (`OMC_COINSPOT_URL` overrides it).
  The legacy v1 `/pubapi/latest` answers in the same shape as v2 `/latest` (without
  `message`), so `parse_latest` reads both.
- The documentation limits requests to 1000 per minute; that is the default here,
  and `OMC_COINSPOT_RATE_LIMIT` overrides it.
- Paths take the coin as CoinSpot documents it (`BTC`); a non-AUD market is a
  lower-case extra segment (`/latest/btc/usdt` is case-sensitive on the market).
- Prices in `/latest` are strings (sometimes `"NaN"` for an illiquid market, which
  becomes a violation); order and trade numbers are JSON numbers; times are ISO-8601
  UTC strings (`2020-05-21T13:22:45.000Z`).
- Every answer carries `"status": "ok"`; failures answer `{"status": "error",
  "message": "Coin not found"}` (an HTTP error status with that body surfaces as the
  `SourceError` of `HttpSource`, which does not read the body).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ohmycoins.errors import PayloadError, SourceError
from ohmycoins.records import OrderBook, Ticker, Trade
from ohmycoins.sources.http import SourceClient
from ohmycoins.sources.parsing import (
    EXACT,
    JSON,
    FieldError,
    Parsed,
    require,
    to_decimal,
    to_epoch_ms,
    to_optional_decimal,
)

NAME = "coinspot"
BASE_URL = "https://www.coinspot.com.au/pubapi/v2"
RATE_LIMIT = 1000.0
"""Requests per minute, as CoinSpot's API documentation states."""
DEFAULT_MARKET = "AUD"

LATEST = "/latest"
LATEST_COIN = "/latest/{coin}"
BUY_PRICE = "/buyprice/{coin}"
SELL_PRICE = "/sellprice/{coin}"
RATE = "/buyprice or /sellprice"
OPEN_ORDERS = "/orders/open/{coin}"
COMPLETED_ORDERS = "/orders/completed/{coin}"
SIDES = (("buy", "buyorders"), ("sell", "sellorders"))
"""The side of a trade is the list CoinSpot puts it in: CoinSpot publishes completed
buy orders and completed sell orders, not the taker's side."""


@dataclass(frozen=True, slots=True)
class Rate:
    """A `/buyprice` or `/sellprice` answer: the market it is for and its rate."""

    symbol: str
    rate: Decimal


def market_symbol(coin: str, market: str = DEFAULT_MARKET) -> str:
    """Unified symbol of a CoinSpot market: `market_symbol("btc")` is `"BTC/AUD"`."""
    return f"{coin.upper()}/{market.upper()}"


def market_path(template: str, coin: str, market: str = DEFAULT_MARKET) -> str:
    """The path of an endpoint for one market: AUD is implied, others are a suffix."""
    path = template.format(coin=coin.upper())
    return path if market.upper() == DEFAULT_MARKET else f"{path}/{market.lower()}"


class CoinSpot(SourceClient):
    """Fetches raw CoinSpot payloads through one `HttpSource`; parse them with `parse_*`.

    Every fetch raises `SourceError` with CoinSpot's message when the answer says
    `"status": "error"`, and `PayloadError` when it has no status at all.
    """

    name = NAME
    default_url = BASE_URL
    default_rate_limit = RATE_LIMIT

    async def fetch_latest(self) -> JSON:
        """`/latest`: bid, ask and last of every market."""
        return await self._get(LATEST)

    async def fetch_latest_coin(self, coin: str, market: str = DEFAULT_MARKET) -> JSON:
        """`/latest/{coin}[/{market}]`: bid, ask and last of one market."""
        return await self._get(market_path(LATEST_COIN, coin, market))

    async def fetch_buy_price(self, coin: str, market: str = DEFAULT_MARKET) -> JSON:
        """`/buyprice/{coin}[/{market}]`: the rate a buyer pays now."""
        return await self._get(market_path(BUY_PRICE, coin, market))

    async def fetch_sell_price(self, coin: str, market: str = DEFAULT_MARKET) -> JSON:
        """`/sellprice/{coin}[/{market}]`: the rate a seller receives now."""
        return await self._get(market_path(SELL_PRICE, coin, market))

    async def fetch_open_orders(self, coin: str, market: str = DEFAULT_MARKET) -> JSON:
        """`/orders/open/{coin}[/{market}]`: the top open buy and sell orders."""
        return await self._get(market_path(OPEN_ORDERS, coin, market))

    async def fetch_completed_orders(self, coin: str, market: str = DEFAULT_MARKET) -> JSON:
        """`/orders/completed/{coin}[/{market}]`: the latest completed buy and sell orders."""
        return await self._get(market_path(COMPLETED_ORDERS, coin, market))

    async def _get(self, path: str) -> JSON:
        return check_status(await self.http.get_json(path), path)


def check_status(raw: JSON, request: str = "") -> Mapping[str, Any]:
    """The answer itself when it says `"status": "ok"`; else the error it reports."""
    if not isinstance(raw, Mapping) or "status" not in raw:
        raise PayloadError(NAME, "answer has no status", payload=raw, request=request)
    if raw["status"] != "ok":
        message = raw.get("message") or f"status {raw['status']!r}"
        raise SourceError(NAME, str(message), request=request)
    return raw


def parse_latest(raw: JSON, now_ms: int) -> Parsed[Ticker]:
    """A `Ticker` per market of `/latest` (v2, and v1 `/pubapi/latest`). Keys are coins
    (`btc`: the AUD market) or `coin_market` (`btc_usdt`). The answer has no time; the
    tickers are stamped `now_ms`.

        {"status": "ok", "message": "ok",
         "prices": {"btc": {"bid": "129051.79", "ask": "129966.15", "last": "130487.3453"},
                    "btc_usdt": {"bid": "75000.01", "ask": "89009.15", "last": "80000"}}}
    """
    prices = check_status(raw, LATEST).get("prices")
    if not isinstance(prices, Mapping):
        raise PayloadError(NAME, "`prices` must be an object", payload=raw, request=LATEST)
    parsed: Parsed[Ticker] = Parsed()
    for key, row in prices.items():
        coin, _, market = str(key).rpartition("_")
        symbol = market_symbol(coin, market) if coin else market_symbol(market)
        _add_ticker(parsed, row, symbol, now_ms)
    return parsed


def parse_latest_coin(raw: JSON, symbol: str, now_ms: int) -> Parsed[Ticker]:
    """The `Ticker` of `/latest/{coin}[/{market}]` for the market `symbol` ("BTC/AUD").

    {"status": "ok", "message": "ok",
     "prices": {"bid": "129051.79", "ask": "129966.15", "last": "130487.3453"}}
    """
    parsed: Parsed[Ticker] = Parsed()
    _add_ticker(parsed, check_status(raw, LATEST_COIN).get("prices"), symbol, now_ms)
    return parsed


def parse_rate(raw: JSON) -> Rate:
    """The rate of `/buyprice/{coin}` or `/sellprice/{coin}`; PayloadError if it has none.

    {"status": "ok", "message": "ok", "rate": "130487.3453", "market": "BTC/AUD"}
    """
    body = check_status(raw, RATE)
    try:
        symbol = str(require(body, "market")).upper()
        rate = to_decimal(require(body, "rate"), "rate")
    except FieldError as error:
        raise PayloadError(NAME, str(error), payload=raw, request=RATE) from None
    return Rate(symbol, rate)


def parse_open_orders(raw: JSON, symbol: str, now_ms: int) -> Parsed[OrderBook]:
    """One `OrderBook` of `symbol` from `/orders/open/{coin}`, stamped `now_ms`: orders at
    the same rate are summed into one level; bids best (highest) first, asks lowest first.
    A malformed order is a violation and the book is built from the others.

        {"status": "ok", "message": "ok",
         "buyorders": [{"amount": 0.5, "rate": 130000, "total": 65000,
                        "coin": "BTC", "market": "BTC/AUD"}],
         "sellorders": [{"amount": 0.25, "rate": 130500, "total": 32625,
                         "coin": "BTC", "market": "BTC/AUD"}]}
    """
    body = check_status(raw, OPEN_ORDERS)
    parsed: Parsed[OrderBook] = Parsed()
    bids = _levels(_orders(body, "buyorders", OPEN_ORDERS), "buyorders", parsed)
    asks = _levels(_orders(body, "sellorders", OPEN_ORDERS), "sellorders", parsed)
    parsed.records.append(
        OrderBook(
            exchange=NAME,
            symbol=symbol,
            ts=now_ms,
            bids=tuple(sorted(bids.items(), reverse=True)),
            asks=tuple(sorted(asks.items())),
        )
    )
    return parsed


def parse_completed_orders(raw: JSON, symbol: str) -> Parsed[Trade]:
    """A `Trade` of `symbol` per completed order of `/orders/completed/{coin}`; its side is
    the list it is in (see `SIDES`) and its id is `trade_id` of its content.

        {"status": "ok", "message": "ok",
         "buyorders": [{"amount": 0.0102, "rate": 130000, "total": 1326,
                        "coin": "BTC", "market": "BTC/AUD",
                        "solddate": "2024-03-01T10:00:01.000Z"}],
         "sellorders": []}
    """
    body = check_status(raw, COMPLETED_ORDERS)
    parsed: Parsed[Trade] = Parsed()
    for side, key in SIDES:
        seen: Counter[tuple[int, Decimal, Decimal]] = Counter()
        for row in _orders(body, key, COMPLETED_ORDERS):
            try:
                ts = to_epoch_ms(require(row, "solddate"), "solddate")
                price = to_decimal(require(row, "rate"), "rate")
                amount = to_decimal(require(row, "amount"), "amount")
            except FieldError as error:
                parsed.violations.append(error.violation("Trade", row))
                continue
            ordinal = seen[ts, price, amount]
            seen[ts, price, amount] += 1
            trade = Trade(
                exchange=NAME,
                symbol=symbol,
                trade_id=trade_id(symbol, side, ts, price, amount, ordinal),
                ts=ts,
                price=price,
                amount=amount,
                side=side,
            )
            parsed.records.append(trade)
    return parsed


def trade_id(symbol: str, side: str, ts: int, price: Decimal, amount: Decimal, ordinal: int) -> str:
    """A stable id for a CoinSpot trade, which has none of its own.

    It hashes what identifies the fill (market, side, time, rate, amount) plus its
    ordinal among identical fills of the same side in one answer, so two equal fills in
    the same millisecond stay two trades, and polling the same fill again yields the same
    id (the key `Trade` deduplicates on). The ordinal counts only identical fills, not
    position in the answer, so it does not shift as newer trades push older ones out.
    Numbers enter in canonical form, so `130000` and `130000.0` hash alike.
    """
    canonical = "|".join(
        (symbol, side, str(ts), _canonical(price), _canonical(amount), str(ordinal))
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _canonical(number: Decimal) -> str:
    return format(number.normalize(), "f")


def _add_ticker(parsed: Parsed[Ticker], row: JSON, symbol: str, now_ms: int) -> None:
    try:
        parsed.records.append(
            Ticker(
                exchange=NAME,
                symbol=symbol,
                ts=now_ms,
                last=to_decimal(require(row, "last"), "last"),
                bid=to_optional_decimal(row.get("bid"), "bid"),
                ask=to_optional_decimal(row.get("ask"), "ask"),
            )
        )
    except FieldError as error:
        parsed.violations.append(error.violation("Ticker", {symbol: row}))


def _orders(body: Mapping[str, Any], key: str, endpoint: str) -> list[JSON]:
    orders = body.get(key)
    if not isinstance(orders, list):
        raise PayloadError(NAME, f"`{key}` must be a list", payload=body, request=endpoint)
    return orders


def _levels(orders: list[JSON], key: str, parsed: Parsed[OrderBook]) -> dict[Decimal, Decimal]:
    """Amount per price of one side of the book."""
    levels: dict[Decimal, Decimal] = {}
    for index, row in enumerate(orders):
        try:
            price = to_decimal(require(row, "rate"), f"{key}[{index}].rate")
            amount = to_decimal(require(row, "amount"), f"{key}[{index}].amount")
        except FieldError as error:
            parsed.violations.append(error.violation("OrderBook", row))
            continue
        levels[price] = EXACT.add(levels.get(price, Decimal(0)), amount)
    return levels
