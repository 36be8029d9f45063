"""Yahoo Finance chart API (free, no key): daily closes of indices, the dollar, gold, VIX.

yfinance is the usual Python door to this data, but it has Yahoo's hosts written into
its code: it cannot be pointed at a mirror or a local server, so its path could never
be tested here as every other source is (through `OMC_<SOURCE>_URL`). This module calls
the same chart endpoint yfinance calls, through `HttpSource`.

Facts about the source, as data below:
- Base URL `https://query2.finance.yahoo.com` (`OMC_YAHOO_URL` overrides it); daily
  bars are `GET /v8/finance/chart/{symbol}?range=…&interval=1d`. Symbols carry
  characters that must be escaped in a path (`^GSPC`, `GC=F`).
- The endpoint is unofficial and unmetered; 60 requests per minute is a polite default
  (`OMC_YAHOO_RATE_LIMIT` overrides it).
- Answers are `{"chart": {"result": [{"meta": {...}, "timestamp": [...],
  "indicators": {"quote": [{"close": [...]}]}}], "error": null}}`. Times are epoch
  seconds of the bar in the exchange's day (a US index's bar starts at 09:30 New York
  time); `meta.gmtoffset` is the exchange's offset from UTC in seconds. A close can be
  null (no trade that bar): skipped. A range with no bars has no `timestamp` key and
  `quote: [{}]`: empty, not an error. Prices arrive as binary floats in decimal text
  (`1518.0999755859375`) and are kept exactly as sent.
- An unknown symbol answers 404 with `{"chart": {"result": null, "error": {...}}}`.

A close is stored as `MacroObservation(series_id="yahoo:<symbol>", ts=<the trading
day at UTC midnight>, source="yahoo")`: the prefix keeps Yahoo's symbols apart from
FRED's series ids in the same table. The bar of a day still trading carries the latest
price, which the final close replaces later.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ohmycoins.errors import PayloadError, SourceError
from ohmycoins.records import MacroObservation
from ohmycoins.sources.http import SourceClient
from ohmycoins.sources.parsing import JSON, FieldError, Parsed, to_decimal, to_optional_int
from ohmycoins.timeframes import floor_ts

NAME = "yahoo"
BASE_URL = "https://query2.finance.yahoo.com"
RATE_LIMIT = 60.0
"""Requests per minute: a polite default for an unmetered, unofficial endpoint."""
CHART = "/v8/finance/chart/{symbol}"
SERIES_PREFIX = "yahoo:"
DEFAULT_RANGE = "1mo"
"""Enough days to cover a weekend, holidays and a few missed runs."""


def series_id(symbol: str) -> str:
    """The `MacroObservation.series_id` of a Yahoo symbol: `yahoo:^GSPC`."""
    return f"{SERIES_PREFIX}{symbol}"


class Yahoo(SourceClient):
    """Fetches raw Yahoo Finance chart answers through one `HttpSource`."""

    name = NAME
    default_url = BASE_URL
    default_rate_limit = RATE_LIMIT

    async def fetch_chart(
        self, symbol: str, range_: str = DEFAULT_RANGE, interval: str = "1d"
    ) -> JSON:
        """Bars of `symbol` over `range_` (`5d`, `1mo`, `1y`, `max`...) at `interval`."""
        path = CHART.format(symbol=quote(symbol, safe=""))
        return await self.http.get_json(path, {"range": range_, "interval": interval})


def parse_chart(raw: JSON, symbol: str) -> Parsed[MacroObservation]:
    """A `MacroObservation` per bar with a close; the day is the bar's date at the
    exchange (`timestamp + meta.gmtoffset`), stamped at UTC midnight.

        {"chart": {"result": [{"meta": {"symbol": "GC=F", "gmtoffset": -18000},
                               "timestamp": [1577941200],
                               "indicators": {"quote": [{"close": [1524.5]}]}}],
                   "error": null}}
    """
    result = _result(raw)
    parsed: Parsed[MacroObservation] = Parsed()
    try:
        times, closes, offset_s = _columns(result)
    except FieldError as error:
        parsed.violations.append(error.violation("MacroObservation", _excerpt(result)))
        return parsed
    for index, (t, close) in enumerate(zip(times, closes, strict=True)):
        if close is None:
            continue
        try:
            parsed.records.append(_observation(symbol, t, close, offset_s))
        except FieldError as error:
            row = {"timestamp": t, "close": close, "index": index}
            parsed.violations.append(error.violation("MacroObservation", row))
    return parsed


def _result(raw: JSON) -> Mapping[str, Any]:
    chart = raw.get("chart") if isinstance(raw, Mapping) else None
    if not isinstance(chart, Mapping):
        raise PayloadError(NAME, 'expected an object with "chart"', payload=raw, request=CHART)
    if chart.get("error"):
        raise SourceError(NAME, f"chart error: {chart['error']}", request=CHART)
    results = chart.get("result")
    if not isinstance(results, list) or len(results) != 1 or not isinstance(results[0], Mapping):
        raise PayloadError(NAME, "expected one chart result", payload=raw, request=CHART)
    return results[0]


def _columns(result: Mapping[str, Any]) -> tuple[list[Any], list[Any], int]:
    """Bar times, closes and the exchange's UTC offset; empty when the range has no bars."""
    meta = result.get("meta")
    offset = to_optional_int(meta.get("gmtoffset"), "gmtoffset") if isinstance(meta, Mapping) else 0
    times = result.get("timestamp")
    if times is None:
        return [], [], offset or 0
    indicators = result.get("indicators")
    quotes = indicators.get("quote") if isinstance(indicators, Mapping) else None
    if not isinstance(times, list) or not isinstance(quotes, list) or not quotes:
        raise FieldError("timestamp", times, "must be a list beside indicators.quote")
    closes = quotes[0].get("close") if isinstance(quotes[0], Mapping) else None
    if not isinstance(closes, list) or len(closes) != len(times):
        raise FieldError("close", closes, f"must be a list of {len(times)} closes")
    return times, closes, offset or 0


def _observation(symbol: str, t: JSON, close: JSON, offset_s: int) -> MacroObservation:
    if not isinstance(t, int) or isinstance(t, bool):
        raise FieldError("timestamp", t, "must be integer epoch seconds")
    day = floor_ts((t + offset_s) * 1000, "1d")
    return MacroObservation(
        series_id=series_id(symbol), ts=day, source=NAME, value=to_decimal(close, "close")
    )


def _excerpt(result: Mapping[str, Any]) -> dict[str, Any]:
    meta = result.get("meta")
    symbol = meta.get("symbol") if isinstance(meta, Mapping) else None
    return {"symbol": symbol, "timestamp": result.get("timestamp")}
