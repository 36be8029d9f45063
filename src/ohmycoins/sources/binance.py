"""Binance's facts as data: the spot request weights, the IP limits it publishes in
`exchangeInfo`, and the weight it reports used in each answer's headers.

`sources/exchange.py` spends its budget with these; ccxt still makes every request.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ohmycoins.sources.ratelimit import Limit

log = logging.getLogger(__name__)


def binance_spot_weight(path: str, params: Mapping[str, Any]) -> float:
    """Binance spot REST request weight of one call, as Binance documents it."""
    if path == "depth":
        limit = int(params.get("limit", 100))
        return (
            next(w for top, w in ((100, 5), (500, 25), (1000, 50)) if limit <= top)
            if (limit <= 1000)
            else 250
        )
    if path in ("ticker/24hr", "ticker/price", "ticker/bookTicker"):
        if "symbol" in params:
            return 2
        return 80 if path == "ticker/24hr" else 4
    return _BINANCE_SPOT_WEIGHTS.get(path, 1)


_BINANCE_SPOT_WEIGHTS = {
    "ping": 1,
    "time": 1,
    "exchangeInfo": 20,
    "klines": 2,
    "uiKlines": 2,
    "trades": 10,
    "historicalTrades": 10,
    "aggTrades": 2,
    "avgPrice": 2,
}


_INTERVAL_S = {"SECOND": 1, "MINUTE": 60, "HOUR": 3_600, "DAY": 86_400}
_IP_LIMITS = {"REQUEST_WEIGHT": False, "RAW_REQUESTS": True}
"""Binance's IP limits, and whether each counts requests rather than weight (ORDERS
limits are per account, for trading, which we never do)."""


def binance_rate_limits(url: str, body: Any) -> list[Limit] | None:
    """The IP limits a spot `exchangeInfo` answer publishes, every window it lists; None
    for any other answer, or one that lists none we can read.

    Sample: ``{"rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE",
    "intervalNum": 1, "limit": 6000}, {"rateLimitType": "ORDERS", "interval": "SECOND",
    "intervalNum": 10, "limit": 100}, {"rateLimitType": "RAW_REQUESTS", "interval":
    "MINUTE", "intervalNum": 5, "limit": 61000}], "symbols": [...]}``
    """
    if not urlsplit(url).path.endswith("/api/v3/exchangeInfo") or not isinstance(body, dict):
        return None
    items = body.get("rateLimits")
    limits = []
    for item in items if isinstance(items, list) else []:
        kind = item.get("rateLimitType") if isinstance(item, dict) else None
        if kind not in _IP_LIMITS:
            continue
        unit, number, limit = item.get("interval"), item.get("intervalNum"), item.get("limit")
        if unit in _INTERVAL_S and _positive(number) and _positive(limit):
            limits.append(Limit(limit, _INTERVAL_S[unit] * number, per_request=_IP_LIMITS[kind]))
        else:
            log.warning("binance: unreadable rate limit in exchangeInfo, skipped: %r", item)
    return limits or None


def _positive(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


_USED_WEIGHT = re.compile(r"^x-mbx-used-weight-(\d+)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3_600, "d": 86_400}


def binance_used_weights(headers: Mapping[str, str]) -> list[tuple[float, float]]:
    """(weight used, window seconds) of every `X-MBX-USED-WEIGHT-<n><unit>` header (names
    lower-cased), e.g. ``x-mbx-used-weight-1m: 1180`` is (1180, 60)."""
    counts = []
    for name, value in headers.items():
        match = _USED_WEIGHT.match(name)
        if match and value.isdigit():
            counts.append((float(value), float(int(match[1]) * _UNIT_S[match[2]])))
    return counts
