"""CoinGecko API v3: market snapshots, the asset universe, OHLC candles, price history,
and coin detail (supply, development and community figures).

Facts about the source, as data below:
- Base URLs: free/demo `https://api.coingecko.com/api/v3`, paid
  `https://pro-api.coingecko.com/api/v3`; `OMC_COINGECKO_URL` overrides the base URL.
  The plan follows the URL: a URL on the `pro-api.` host is the paid plan, anything
  else (the default, a mirror, a test server) is the free/demo plan.
  `OMC_COINGECKO_API_KEY` is sent in that plan's header (`x-cg-pro-api-key` or
  `x-cg-demo-api-key`); without a key the keyless free API is used.
- Rate limits: keyless and demo about 30 calls/minute (CoinGecko's current page
  grants demo keys up to 100/min; keyless limits are per IP and shared), paid
  plans from 250/min (Basic). `OMC_COINGECKO_RATE_LIMIT` overrides the default.
- Wire traps seen in real recordings: numbers sometimes arrive as strings, volumes
  as 90-digit strings, chart timestamps as float milliseconds (`1620550800000.0`);
  fields can be null; `/simple/price` with an unknown currency answers 200
  `{"bitcoin": {}}`, which is no data and not an error.
- Errors arrive as 422 `{"error": "Missing parameter vs_currency"}` or 500
  `{"status": 500, "error": "Internal Server Error"}`. `HttpSource` raises
  `SourceError` / `TemporarySourceError` on the status before reading the body, so
  the message carries the status and request, not CoinGecko's error text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from ohmycoins.errors import PayloadError
from ohmycoins.records import Asset, Candle, CommunityMetric, MarketSnapshot, OnchainMetric
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.http import SourceClient
from ohmycoins.sources.parsing import (
    EXACT,
    JSON,
    FieldError,
    Parsed,
    parse_rows,
    require,
    seconds_to_ms,
    to_decimal,
    to_epoch_ms,
    to_optional_decimal,
    to_optional_int,
    to_text,
)
from ohmycoins.sources.ratelimit import TokenBucket
from ohmycoins.timeframes import floor_ts, timeframe_ms

NAME = "coingecko"
FREE_URL = "https://api.coingecko.com/api/v3"
PRO_URL = "https://pro-api.coingecko.com/api/v3"
PRO_HOST_PREFIX = "pro-api."


@dataclass(frozen=True, slots=True)
class Plan:
    """One CoinGecko access plan: where it lives, how a key is sent, its default budget."""

    name: str
    base_url: str
    key_header: str
    rate_limit: float
    """Requests per minute."""


FREE = Plan("free", FREE_URL, "x-cg-demo-api-key", 30)
PRO = Plan("pro", PRO_URL, "x-cg-pro-api-key", 250)

MARKETS = "/coins/markets"
SIMPLE_PRICE = "/simple/price"
OHLC = "/coins/{id}/ohlc"
MARKET_CHART = "/coins/{id}/market_chart"
COIN_DETAIL = "/coins/{id}"
COIN_DETAIL_PARAMS = {
    "localization": "false",
    "tickers": "false",
    "market_data": "true",
    "community_data": "true",
    "developer_data": "true",
    "sparkline": "false",
}
"""Only the parts of `/coins/{id}` that become records: no translations, no tickers."""
CONSENSUS_CATEGORIES = (("Proof of Work (PoW)", "pow"), ("Proof of Stake (PoS)", "pos"))
"""CoinGecko categories that name a coin's consensus; a `hashing_algorithm` also means PoW."""

MAX_PER_PAGE = 250
"""`/coins/markets` returns at most 250 coins per page."""

OHLC_GRANULARITY: tuple[tuple[int, str], ...] = ((2, "30m"), (30, "4h"))
"""Candle body CoinGecko picks for `/ohlc` by `days`: up to 2 days 30 minutes, up to
30 days 4 hours, beyond (and `max`) 4 days. The timestamp of a row is the candle's
close time."""
OHLC_LONG_GRANULARITY = "4d"


def plan_for(settings: SourceSettings) -> Plan:
    """The paid plan when the base URL is on CoinGecko's `pro-api.` host, else free/demo."""
    host = urlsplit(settings.url or FREE_URL).hostname or ""
    return PRO if host.startswith(PRO_HOST_PREFIX) else FREE


def ohlc_timeframe(days: int | str) -> str:
    """The timeframe of the candles `/coins/{id}/ohlc` returns for `days` (int or "max")."""
    if days == "max":
        return OHLC_LONG_GRANULARITY
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        raise ValueError(f"days must be a positive integer or 'max', got {days!r}")
    for up_to, timeframe in OHLC_GRANULARITY:
        if days <= up_to:
            return timeframe
    return OHLC_LONG_GRANULARITY


class CoinGecko(SourceClient):
    """Fetches raw CoinGecko payloads through one `HttpSource`; parse them with `parse_*`."""

    name = NAME

    def __init__(
        self,
        settings: SourceSettings | None = None,
        *,
        limiter: TokenBucket | None = None,
        attempts: int = 4,
        redis_url: str | None = None,
    ) -> None:
        """The plan follows the URL and sets the default budget and the key's header."""
        self.plan = plan_for(settings or SourceSettings())
        self.default_url = self.plan.base_url
        self.default_rate_limit = self.plan.rate_limit
        self.key_header = self.plan.key_header
        super().__init__(settings, limiter=limiter, attempts=attempts, redis_url=redis_url)

    async def fetch_markets(
        self, vs_currency: str, top_n: int, *, per_page: int = MAX_PER_PAGE
    ) -> list[JSON]:
        """The top `top_n` coins by market cap, fetching as many pages as needed."""
        if top_n < 1 or not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"need top_n >= 1 and 1 <= per_page <= {MAX_PER_PAGE}")
        per_page = min(per_page, top_n)
        rows: list[JSON] = []
        for page in range(1, math.ceil(top_n / per_page) + 1):
            batch = await self.fetch_markets_page(vs_currency, page, per_page)
            rows.extend(batch)
            if len(batch) < per_page:
                break
        return rows[:top_n]

    async def fetch_markets_page(self, vs_currency: str, page: int, per_page: int) -> list[JSON]:
        """One page of `/coins/markets`, ordered by market cap."""
        params = {
            "vs_currency": vs_currency,
            "order": "market_cap_desc",
            "per_page": per_page,
            "page": page,
            "sparkline": "false",
            "price_change_percentage": "24h",
        }
        raw = await self.http.get_json(MARKETS, params)
        return _expect_list(raw, MARKETS)

    async def fetch_simple_price(self, ids: Sequence[str], vs_currencies: Sequence[str]) -> JSON:
        """`/simple/price` for `ids` in every one of `vs_currencies`, with cap, volume,
        24 h change and last update time."""
        params = {
            "ids": ",".join(ids),
            "vs_currencies": ",".join(vs_currencies),
            "include_market_cap": "true",
            "include_24hr_vol": "true",
            "include_24hr_change": "true",
            "include_last_updated_at": "true",
        }
        return await self.http.get_json(SIMPLE_PRICE, params)

    async def fetch_ohlc(self, coin_id: str, vs_currency: str, days: int | str) -> JSON:
        """`/coins/{id}/ohlc`: candles whose body depends on `days` (see `ohlc_timeframe`)."""
        ohlc_timeframe(days)  # refuse a `days` CoinGecko has no candle body for
        params = {"vs_currency": vs_currency, "days": days}
        return await self.http.get_json(OHLC.format(id=coin_id), params)

    async def fetch_market_chart(
        self, coin_id: str, vs_currency: str, days: int | str, interval: str | None = None
    ) -> JSON:
        """`/coins/{id}/market_chart`: price, market cap and 24 h volume series."""
        params: dict[str, Any] = {"vs_currency": vs_currency, "days": days}
        if interval:
            params["interval"] = interval
        return await self.http.get_json(MARKET_CHART.format(id=coin_id), params)

    async def fetch_coin_detail(self, coin_id: str) -> JSON:
        """`/coins/{id}` with market, community and developer data (see `COIN_DETAIL_PARAMS`)."""
        return await self.http.get_json(COIN_DETAIL.format(id=coin_id), COIN_DETAIL_PARAMS)


def parse_markets(raw: JSON, vs_currency: str, now_ms: int) -> Parsed[MarketSnapshot | Asset]:
    """A `MarketSnapshot` and an `Asset` per coin of a `/coins/markets` page.

    The snapshot time is `last_updated`, or `now_ms` when CoinGecko sends none; a coin
    whose identity is malformed is one `Asset` violation, a coin whose market numbers
    are malformed keeps its `Asset` and gives one `MarketSnapshot` violation.

        [{"id": "bitcoin", "symbol": "btc", "name": "Bitcoin", "current_price": 49053,
          "market_cap": 917825524991, "market_cap_rank": 1, "total_volume": 61679663434,
          "high_24h": 51300, "low_24h": 48019, "price_change_24h": -2246.57482218,
          "price_change_percentage_24h": -4.37931, "circulating_supply": 18710831.0,
          "total_supply": 21000000.0, "max_supply": 21000000.0,
          "last_updated": "2021-05-15T15:59:43.867Z"}]
    """
    parsed: Parsed[MarketSnapshot | Asset] = Parsed()
    for row in _expect_list(raw, MARKETS):
        try:
            asset = _asset(row, now_ms)
        except FieldError as error:
            parsed.violations.append(error.violation("Asset", row))
            continue
        parsed.records.append(asset)
        try:
            parsed.records.append(_market_snapshot(row, asset, vs_currency.lower()))
        except FieldError as error:
            parsed.violations.append(error.violation("MarketSnapshot", row))
    return parsed


def parse_simple_price(
    raw: JSON,
    vs_currencies: Sequence[str],
    now_ms: int,
    symbols: Mapping[str, str] | None = None,
) -> Parsed[MarketSnapshot]:
    """A `MarketSnapshot` per coin and requested currency present in a `/simple/price` answer.

    A currency CoinGecko does not know is simply absent (`{"bitcoin": {}}`): no record,
    no violation. The answer names no symbols; `symbols` (id -> symbol, e.g. from the
    stored assets) fills them, otherwise they stay empty. The time is
    `last_updated_at` (epoch seconds) when present, else `now_ms`.

        {"bitcoin": {"usd": 49326, "usd_market_cap": 917825524991.0,
                     "usd_24h_vol": 61679663434.1, "usd_24h_change": -4.37,
                     "last_updated_at": 1621090000}}
    """
    if not isinstance(raw, Mapping):
        raise _wrong_envelope(raw, "an object", SIMPLE_PRICE)
    parsed: Parsed[MarketSnapshot] = Parsed()
    for coin_id, quote in raw.items():
        for vs_currency in (currency.lower() for currency in vs_currencies):
            try:
                snapshot = _simple_snapshot(coin_id, quote, vs_currency, now_ms, symbols or {})
            except FieldError as error:
                parsed.violations.append(error.violation("MarketSnapshot", {coin_id: quote}))
                continue
            if snapshot:
                parsed.records.append(snapshot)
    return parsed


def parse_ohlc(raw: JSON, symbol: str, vs_currency: str, days: int | str) -> Parsed[Candle]:
    """Candles from `/coins/{id}/ohlc` for the asset `symbol` in `vs_currency`.

    Rows are `[close time ms, open, high, low, close]`; a candle's `ts` is its open time
    (close time minus the timeframe of `days`). A row whose close time is off that
    timeframe's grid is a violation: its timeframe cannot be stated. Volume is None:
    the endpoint has none.

        [[1620504000000, 57945.79, 59122.18, 57945.79, 59122.18],
         [1620518400000, 59052.34, 59052.34, 58603.92, 58603.92]]
    """
    timeframe = ohlc_timeframe(days)
    step = timeframe_ms(timeframe)
    market = f"{symbol.upper()}/{vs_currency.upper()}"
    return parse_rows(
        _expect_list(raw, OHLC), lambda row: _candle(row, market, timeframe, step), "Candle"
    )


def parse_market_chart(
    raw: JSON, asset_id: str, symbol: str, vs_currency: str
) -> Parsed[MarketSnapshot]:
    """A `MarketSnapshot` per price point of `/coins/{id}/market_chart`, with the market
    cap and 24 h volume of the same timestamp. Timestamps may be float milliseconds and
    volumes long numeric strings.

        {"prices": [[1621003519770, 50675.258073370765]],
         "market_caps": [[1621003519770, 947793637457.1453]],
         "total_volumes": [[1621003519770, "61679663434.00212"]]}
    """
    if not isinstance(raw, Mapping):
        raise _wrong_envelope(raw, "an object", MARKET_CHART)
    parsed: Parsed[MarketSnapshot] = Parsed()
    caps = _series(raw.get("market_caps"), "market_caps", parsed)
    volumes = _series(raw.get("total_volumes"), "total_volumes", parsed)
    for ts, value, pair in _points(raw.get("prices"), "prices", parsed):
        try:
            parsed.records.append(
                MarketSnapshot(
                    source=NAME,
                    asset_id=asset_id,
                    ts=ts,
                    symbol=symbol.upper(),
                    vs_currency=vs_currency.lower(),
                    price=to_decimal(value, "price"),
                    market_cap=to_optional_decimal(caps.get(ts), "market_cap"),
                    volume_24h=to_optional_decimal(volumes.get(ts), "volume_24h"),
                )
            )
        except FieldError as error:
            record = {"prices": pair, "market_caps": caps.get(ts), "total_volumes": volumes.get(ts)}
            parsed.violations.append(error.violation("MarketSnapshot", record))
    return parsed


def parse_coin_detail(raw: JSON, now_ms: int) -> Parsed[OnchainMetric | CommunityMetric | Asset]:
    """Supply, market cap and development figures (`OnchainMetric`), community sizes
    (`CommunityMetric`), and the consensus type (`Asset.network_type`) of one coin.

    Rows are stamped with the hour of `now_ms`: the answer describes the coin now.
    Null blocks or fields (recent answers carry `community_data` and `developer_data`
    all null) leave fields None: a partial row, which never erases a stored value. A
    community block with nothing in it gives no row; an `Asset` is written only when
    the consensus is known. A malformed field is a violation of its record alone.

        {"id": "bitcoin", "symbol": "btc", "name": "Bitcoin",
         "hashing_algorithm": "SHA-256", "categories": ["Cryptocurrency"],
         "market_data": {"market_cap": {"usd": 916703120772},
                         "circulating_supply": 18710825.0, "total_supply": 21000000.0,
                         "max_supply": 21000000.0},
         "community_data": {"twitter_followers": 89429, "reddit_subscribers": 2887559,
                            "reddit_accounts_active_48h": 10088,
                            "telegram_channel_user_count": null},
         "developer_data": {"stars": 53470, "pull_request_contributors": 728,
                            "commit_count_4_weeks": 393}}
    """
    if not isinstance(raw, Mapping):
        raise _wrong_envelope(raw, "an object", COIN_DETAIL)
    try:
        coin_id = to_text(require(raw, "id"), "id")
    except FieldError as error:
        raise PayloadError(NAME, str(error), payload=raw, request=COIN_DETAIL) from None
    parsed: Parsed[OnchainMetric | CommunityMetric | Asset] = Parsed()
    builders = (
        ("OnchainMetric", lambda: _coin_onchain(raw, coin_id, now_ms)),
        ("CommunityMetric", lambda: _coin_community(raw, coin_id, now_ms)),
        ("Asset", lambda: _coin_asset(raw, coin_id, now_ms)),
    )
    for record_type, build in builders:
        try:
            record = build()
        except FieldError as error:
            parsed.violations.append(error.violation(record_type, _detail_excerpt(raw)))
            continue
        if record is not None:
            parsed.records.append(record)
    return parsed


def network_type(raw: Mapping[str, Any]) -> str | None:
    """ "pow" or "pos" where CoinGecko says so (`hashing_algorithm`, consensus categories)."""
    if raw.get("hashing_algorithm"):
        return "pow"
    categories = raw.get("categories")
    if isinstance(categories, list):
        for category, kind in CONSENSUS_CATEGORIES:
            if category in categories:
                return kind
    return None


def _coin_onchain(raw: Mapping[str, Any], coin_id: str, now_ms: int) -> OnchainMetric:
    market = _block(raw, "market_data")
    developer = _block(raw, "developer_data")
    caps = market.get("market_cap")
    cap = caps.get("usd") if isinstance(caps, Mapping) else None
    return OnchainMetric(
        asset=coin_id,
        ts=floor_ts(now_ms, OnchainMetric.PERIOD),
        sources=(NAME,),
        circulating_supply=_optional_decimal(market, "circulating_supply"),
        total_supply=_optional_decimal(market, "total_supply"),
        max_supply=_optional_decimal(market, "max_supply"),
        market_cap=to_optional_decimal(cap, "market_cap.usd"),
        commits_4w=to_optional_int(developer.get("commit_count_4_weeks"), "commit_count_4_weeks"),
        stars=to_optional_int(developer.get("stars"), "stars"),
        contributors=to_optional_int(
            developer.get("pull_request_contributors"), "pull_request_contributors"
        ),
    )


def _coin_community(raw: Mapping[str, Any], coin_id: str, now_ms: int) -> CommunityMetric | None:
    community = _block(raw, "community_data")
    counts = {
        field: to_optional_int(community.get(wire), wire)
        for field, wire in (
            ("reddit_subscribers", "reddit_subscribers"),
            ("reddit_active_accounts", "reddit_accounts_active_48h"),
            ("telegram_users", "telegram_channel_user_count"),
            ("twitter_followers", "twitter_followers"),
        )
    }
    if all(value is None for value in counts.values()):
        return None
    ts = floor_ts(now_ms, CommunityMetric.PERIOD)
    return CommunityMetric(asset=coin_id, ts=ts, sources=(NAME,), **counts)


def _coin_asset(raw: Mapping[str, Any], coin_id: str, now_ms: int) -> Asset | None:
    kind = network_type(raw)
    if kind is None:
        return None
    return Asset(
        asset_id=coin_id,
        symbol=to_text(require(raw, "symbol"), "symbol").upper(),
        name=to_text(require(raw, "name"), "name"),
        updated_ts=now_ms,
        coingecko_id=coin_id,
        network_type=kind,
    )


def _block(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """A nested object of the answer; null or absent is empty, anything else malformed."""
    block = raw.get(name)
    if block is None:
        return {}
    if not isinstance(block, Mapping):
        raise FieldError(name, block, "must be an object")
    return block


def _optional_decimal(block: Mapping[str, Any], name: str) -> Decimal | None:
    return to_optional_decimal(block.get(name), name)


def _detail_excerpt(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a coin detail answer a quarantined row came from (the whole answer,
    with its description in every language, is mostly noise)."""
    keys = ("id", "symbol", "name", "hashing_algorithm", "categories", "community_data")
    excerpt = {key: raw.get(key) for key in keys}
    for block, wanted in (
        ("market_data", ("market_cap", "circulating_supply", "total_supply", "max_supply")),
        ("developer_data", ("commit_count_4_weeks", "stars", "pull_request_contributors")),
    ):
        value = raw.get(block)
        if isinstance(value, Mapping):
            value = {key: value.get(key) for key in wanted}
        excerpt[block] = value
    return excerpt


def _asset(row: JSON, now_ms: int) -> Asset:
    coin_id = to_text(require(row, "id"), "id")
    last_updated = require(row, "last_updated")
    return Asset(
        asset_id=coin_id,
        symbol=to_text(require(row, "symbol"), "symbol").upper(),
        name=to_text(require(row, "name"), "name"),
        updated_ts=now_ms if last_updated is None else to_epoch_ms(last_updated, "last_updated"),
        coingecko_id=coin_id,
        rank=to_optional_int(row.get("market_cap_rank"), "market_cap_rank"),
        active=True,
    )


def _market_snapshot(row: Mapping[str, Any], asset: Asset, vs_currency: str) -> MarketSnapshot:
    price = to_decimal(require(row, "current_price"), "current_price")
    change = to_optional_decimal(row.get("price_change_24h"), "price_change_24h")
    return MarketSnapshot(
        source=NAME,
        asset_id=asset.asset_id,
        ts=asset.updated_ts,
        symbol=asset.symbol,
        vs_currency=vs_currency,
        price=price,
        market_cap=to_optional_decimal(row.get("market_cap"), "market_cap"),
        rank=asset.rank,
        volume_24h=to_optional_decimal(row.get("total_volume"), "total_volume"),
        high_24h=to_optional_decimal(row.get("high_24h"), "high_24h"),
        low_24h=to_optional_decimal(row.get("low_24h"), "low_24h"),
        open_24h=None if change is None else EXACT.subtract(price, change),
        change_pct_24h=to_optional_decimal(
            row.get("price_change_percentage_24h"), "price_change_percentage_24h"
        ),
        circulating_supply=to_optional_decimal(row.get("circulating_supply"), "circulating_supply"),
        total_supply=to_optional_decimal(row.get("total_supply"), "total_supply"),
        max_supply=to_optional_decimal(row.get("max_supply"), "max_supply"),
    )


def _simple_snapshot(
    coin_id: str, quote: JSON, vs: str, now_ms: int, symbols: Mapping[str, str]
) -> MarketSnapshot | None:
    if not isinstance(quote, Mapping):
        raise FieldError(coin_id, quote, "must be an object of prices")
    if vs not in quote:
        return None
    updated = quote.get("last_updated_at")
    return MarketSnapshot(
        source=NAME,
        asset_id=coin_id,
        ts=now_ms if updated is None else seconds_to_ms(updated, "last_updated_at"),
        symbol=symbols.get(coin_id, "").upper(),
        vs_currency=vs,
        price=to_decimal(quote[vs], vs),
        market_cap=to_optional_decimal(quote.get(f"{vs}_market_cap"), f"{vs}_market_cap"),
        volume_24h=to_optional_decimal(quote.get(f"{vs}_24h_vol"), f"{vs}_24h_vol"),
        change_pct_24h=to_optional_decimal(quote.get(f"{vs}_24h_change"), f"{vs}_24h_change"),
    )


def _candle(row: JSON, market: str, timeframe: str, step: int) -> Candle:
    if not isinstance(row, list) or len(row) != 5:
        raise FieldError("row", row, "must be [time, open, high, low, close]")
    close_ts = to_epoch_ms(row[0], "ts")
    if close_ts % step:
        raise FieldError("ts", row[0], f"close time is not on the {timeframe} grid")
    return Candle(
        exchange=NAME,
        symbol=market,
        timeframe=timeframe,
        ts=close_ts - step,
        open=to_decimal(row[1], "open"),
        high=to_decimal(row[2], "high"),
        low=to_decimal(row[3], "low"),
        close=to_decimal(row[4], "close"),
        volume=None,
    )


def _points(
    series: JSON, name: str, parsed: Parsed[MarketSnapshot]
) -> list[tuple[int, JSON, JSON]]:
    """(ts, raw value, raw pair) of a `[[ms, value], ...]` series; bad pairs become violations."""
    if series is None:
        return []
    if not isinstance(series, list):
        parsed.violations.append(
            FieldError(name, series, "must be a list").violation("MarketSnapshot", series)
        )
        return []
    points = []
    for index, pair in enumerate(series):
        if not isinstance(pair, list) or len(pair) != 2:
            error = FieldError(f"{name}[{index}]", pair, "must be [time, value]")
            parsed.violations.append(error.violation("MarketSnapshot", pair))
            continue
        try:
            points.append((to_epoch_ms(pair[0], f"{name}[{index}]"), pair[1], pair))
        except FieldError as error:
            parsed.violations.append(error.violation("MarketSnapshot", pair))
    return points


def _series(series: JSON, name: str, parsed: Parsed[MarketSnapshot]) -> dict[int, JSON]:
    return {ts: value for ts, value, _ in _points(series, name, parsed)}


def _expect_list(raw: JSON, endpoint: str) -> list[JSON]:
    if not isinstance(raw, list):
        raise _wrong_envelope(raw, "a list", endpoint)
    return raw


def _wrong_envelope(raw: JSON, expected: str, endpoint: str) -> PayloadError:
    error = raw.get("error") if isinstance(raw, Mapping) else None
    detail = f": {error}" if error else ""
    message = f"expected {expected}, got {type(raw).__name__}{detail}"
    return PayloadError(NAME, message, payload=raw, request=endpoint)
