"""``exchangeInfo`` bodies: what ccxt's ``load_markets`` reads to learn the markets.

ccxt's binance ``fetch_markets`` asks for spot, USDⓈ-M (``/fapi/v1``) and COIN-M
(``/dapi/v1``) exchange info by default; the simulator lists its symbols on spot and
answers the futures endpoints with no symbols, so a stock ccxt client works unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ohmycoins.sim.config import SimLimit
from ohmycoins.sim.symbols import SymbolSpec

_STP_MODES = ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "DECREMENT"]
_ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"]
_STABLE_QUOTES = frozenset({"USDT", "USDC", "FDUSD", "TUSD", "BUSD", "EUR", "TRY"})


def interval(seconds: float) -> tuple[str, int]:
    """Binance's ``interval`` and ``intervalNum`` of a window: 300 s is 5 MINUTE."""
    whole = max(1, round(seconds))
    for name, size in (("DAY", 86_400), ("HOUR", 3_600), ("MINUTE", 60)):
        if whole % size == 0:
            return name, whole // size
    return "SECOND", whole


def rate_limits(limits: Sequence[SimLimit]) -> list[dict[str, Any]]:
    """The ``rateLimits`` array: the simulator's IP limits, then Binance's order limits."""
    published = []
    for limit in limits:
        name, number = interval(limit.seconds)
        published.append(
            {
                "rateLimitType": limit.kind,
                "interval": name,
                "intervalNum": number,
                "limit": limit.limit,
            }
        )
    return [
        *published,
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    ]


def symbol_info(spec: SymbolSpec) -> dict[str, Any]:
    """One entry of ``symbols`` in the current Binance layout."""
    min_notional = "5.00000000" if spec.quote in _STABLE_QUOTES else "0.00010000"
    return {
        "symbol": spec.symbol,
        "status": "TRADING",
        "baseAsset": spec.base,
        "baseAssetPrecision": 8,
        "quoteAsset": spec.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": _ORDER_TYPES,
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": _filters(spec, min_notional),
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": _STP_MODES,
    }


def _filters(spec: SymbolSpec, min_notional: str) -> list[dict[str, Any]]:
    return [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": spec.tick_size,
            "maxPrice": "1000000.00000000",
            "tickSize": spec.tick_size,
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": spec.step_size,
            "maxQty": "9000000.00000000",
            "stepSize": spec.step_size,
        },
        {"filterType": "ICEBERG_PARTS", "limit": 10},
        {
            "filterType": "MARKET_LOT_SIZE",
            "minQty": "0.00000000",
            "maxQty": "100000.00000000",
            "stepSize": "0.00000000",
        },
        {
            "filterType": "TRAILING_DELTA",
            "minTrailingAboveDelta": 10,
            "maxTrailingAboveDelta": 2000,
        },
        {
            "filterType": "NOTIONAL",
            "minNotional": min_notional,
            "applyMinToMarket": True,
            "maxNotional": "9000000.00000000",
            "applyMaxToMarket": False,
            "avgPriceMins": 5,
        },
        {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
        {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
    ]


def spot_exchange_info(
    specs: list[SymbolSpec], server_time: int, limits: Sequence[SimLimit]
) -> dict[str, Any]:
    """``GET /api/v3/exchangeInfo``."""
    return {
        "timezone": "UTC",
        "serverTime": server_time,
        "rateLimits": rate_limits(limits),
        "exchangeFilters": [],
        "symbols": [symbol_info(spec) for spec in specs],
    }


def futures_exchange_info(server_time: int, futures_type: str) -> dict[str, Any]:
    """``GET /fapi/v1/exchangeInfo`` (U_MARGINED) or ``/dapi/v1/...`` (COIN_MARGINED), empty."""
    return {
        "timezone": "UTC",
        "serverTime": server_time,
        "futuresType": futures_type,
        "rateLimits": [],
        "exchangeFilters": [],
        "assets": [],
        "symbols": [],
    }
