"""The Binance REST endpoints the simulator serves: parameters, errors, weights, payloads.

Parameter checks and error bodies copy Binance (``{"code": -1121, "msg": "Invalid
symbol."}`` with HTTP 400, etc.) because ccxt maps those codes to its exception
classes.  Request weights are Binance's, as mirrored by ccxt 4.5's ``binance.api``
cost table (cost / 0.2): e.g. klines 2, depth 5/25/50/250 by limit, trades 10,
aggTrades 2, exchangeInfo 20, 24hr ticker 2 for one symbol and 80 for all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ohmycoins.sim.config import SimulatorConfig
from ohmycoins.sim.exchange_info import futures_exchange_info, spot_exchange_info
from ohmycoins.sim.market import (
    MAX_DEPTH,
    MAX_KLINES,
    MAX_TRADES,
    InvalidIntervalError,
    MarketModel,
)

Query = Mapping[str, str]
Handler = Callable[[MarketModel, SimulatorConfig, Query], Any]
Weigher = Callable[[Query], int]

HOUR_MS = 3_600_000


class BinanceError(Exception):
    """An error Binance reports as ``{"code": ..., "msg": ...}``."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}


@dataclass(frozen=True)
class Endpoint:
    """One GET route: how much it weighs and what it answers."""

    path: str
    handler: Handler
    weight: Weigher


# ------------------------------------------------------------------ parameters


def _required(query: Query, name: str) -> str:
    value = query.get(name)
    if not value:
        raise BinanceError(
            -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
        )
    return value


def _optional_int(query: Query, name: str) -> int | None:
    value = query.get(name)
    if value is None:
        return None
    if value == "":
        raise BinanceError(-1105, f"Parameter '{name}' was empty.")
    if not value.isascii() or not value.isdigit() or len(value) > 20:
        raise BinanceError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        )
    return int(value)


def _limit(query: Query, default: int, maximum: int) -> int:
    value = _optional_int(query, "limit")
    return default if value is None else max(1, min(value, maximum))


def _symbol(model: MarketModel, query: Query) -> str:
    symbol = _required(query, "symbol")
    if symbol not in model.symbols:
        raise BinanceError(-1121, "Invalid symbol.")
    return symbol


def _symbols(model: MarketModel, query: Query) -> list[str] | None:
    """The ``symbols=["A","B"]`` parameter, or None when absent."""
    raw = query.get("symbols")
    if raw is None:
        return None
    if "symbol" in query:
        raise BinanceError(-1128, "Combination of optional parameters invalid.")
    try:
        symbols = json.loads(raw)
    except ValueError:
        symbols = None
    if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
        raise BinanceError(-1100, "Illegal characters found in parameter 'symbols'.")
    if any(s not in model.symbols for s in symbols):
        raise BinanceError(-1121, "Invalid symbol.")
    return symbols


def _time_range(query: Query) -> tuple[int | None, int | None]:
    start, end = _optional_int(query, "startTime"), _optional_int(query, "endTime")
    if start is not None and end is not None and start > end:
        raise BinanceError(-1023, "Start time is greater than end time.")
    return start, end


# -------------------------------------------------------------------- handlers


def _ping(model: MarketModel, config: SimulatorConfig, query: Query) -> Any:
    return {}


def _time(model: MarketModel, config: SimulatorConfig, query: Query) -> Any:
    return {"serverTime": model.now()}


def _exchange_info(model: MarketModel, config: SimulatorConfig, query: Query) -> Any:
    listed = _symbols(model, query)
    if "symbol" in query:
        listed = [_symbol(model, query)]
    specs = [model.spec(s) for s in (listed if listed is not None else model.symbols)]
    return spot_exchange_info(specs, model.now(), config.limits)


def _usdm_info(model: MarketModel, config: SimulatorConfig, query: Query) -> Any:
    return futures_exchange_info(model.now(), "U_MARGINED")


def _coinm_info(model: MarketModel, config: SimulatorConfig, query: Query) -> Any:
    return futures_exchange_info(model.now(), "COIN_MARGINED")


def _system_status(model: MarketModel, config: SimulatorConfig, query: Query) -> Any:
    return {"status": 0, "msg": "normal"}


def _klines(model: MarketModel, config: SimulatorConfig, query: Query) -> Any:
    symbol = _symbol(model, query)
    interval = _required(query, "interval")
    start, end = _time_range(query)
    limit = _limit(query, 500, MAX_KLINES)
    try:
        return model.klines(symbol, interval, start, end, limit)
    except InvalidIntervalError:
        raise BinanceError(-1120, "Invalid interval.") from None


def _depth(model: MarketModel, config: SimulatorConfig, query: Query) -> Any:
    symbol = _symbol(model, query)
    return model.depth(symbol, _limit(query, 100, MAX_DEPTH))


def _trades(model: MarketModel, config: SimulatorConfig, query: Query) -> Any:
    symbol = _symbol(model, query)
    return model.trades(symbol, None, _limit(query, 500, MAX_TRADES))


def _historical_trades(model: MarketModel, config: SimulatorConfig, query: Query) -> Any:
    symbol = _symbol(model, query)
    return model.trades(symbol, _optional_int(query, "fromId"), _limit(query, 500, MAX_TRADES))


def _agg_trades(model: MarketModel, config: SimulatorConfig, query: Query) -> Any:
    symbol = _symbol(model, query)
    start, end = _time_range(query)
    if start is not None and end is not None and end - start > HOUR_MS:
        raise BinanceError(-1127, "More than 1 hours between startTime and endTime.")
    from_id = _optional_int(query, "fromId")
    return model.agg_trades(symbol, from_id, start, end, _limit(query, 500, MAX_TRADES))


def _per_symbol(model: MarketModel, query: Query, answer: Callable[[str], Any]) -> Any:
    listed = _symbols(model, query)
    if "symbol" in query:
        return answer(_symbol(model, query))
    return [answer(s) for s in (listed if listed is not None else model.symbols)]


def _ticker_24hr(model: MarketModel, config: SimulatorConfig, query: Query) -> Any:
    return _per_symbol(model, query, model.ticker_24hr)


def _ticker_price(model: MarketModel, config: SimulatorConfig, query: Query) -> Any:
    return _per_symbol(model, query, model.ticker_price)


def _book_ticker(model: MarketModel, config: SimulatorConfig, query: Query) -> Any:
    return _per_symbol(model, query, model.book_ticker)


def _avg_price(model: MarketModel, config: SimulatorConfig, query: Query) -> Any:
    return model.avg_price(_symbol(model, query))


# --------------------------------------------------------------------- weights


def _fixed(weight: int) -> Weigher:
    return lambda query: weight


def _depth_weight(query: Query) -> int:
    raw = query.get("limit", "100")
    limit = int(raw) if raw.isascii() and raw.isdigit() else 100
    for ceiling, weight in ((100, 5), (500, 25), (1000, 50)):
        if limit <= ceiling:
            return weight
    return 250


def _symbol_count(query: Query) -> int | None:
    """1 with ``symbol``, the list length with ``symbols``, None for "all symbols"."""
    if "symbol" in query:
        return 1
    try:
        listed = json.loads(query["symbols"]) if "symbols" in query else None
    except ValueError:
        return None
    return len(listed) if isinstance(listed, list) else None


def _ticker_24hr_weight(query: Query) -> int:
    count = _symbol_count(query)
    if count is None or count > 100:
        return 80
    return 2 if count <= 20 else 40


def _ticker_weight(query: Query) -> int:
    return 2 if _symbol_count(query) == 1 else 4


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("/api/v3/ping", _ping, _fixed(1)),
    Endpoint("/api/v3/time", _time, _fixed(1)),
    Endpoint("/api/v3/exchangeInfo", _exchange_info, _fixed(20)),
    Endpoint("/api/v3/klines", _klines, _fixed(2)),
    Endpoint("/api/v3/uiKlines", _klines, _fixed(2)),
    Endpoint("/api/v3/depth", _depth, _depth_weight),
    Endpoint("/api/v3/trades", _trades, _fixed(10)),
    Endpoint("/api/v3/historicalTrades", _historical_trades, _fixed(10)),
    Endpoint("/api/v3/aggTrades", _agg_trades, _fixed(2)),
    Endpoint("/api/v3/ticker/24hr", _ticker_24hr, _ticker_24hr_weight),
    Endpoint("/api/v3/ticker/price", _ticker_price, _ticker_weight),
    Endpoint("/api/v3/ticker/bookTicker", _book_ticker, _ticker_weight),
    Endpoint("/api/v3/avgPrice", _avg_price, _fixed(2)),
    Endpoint("/sapi/v1/system/status", _system_status, _fixed(1)),
    Endpoint("/fapi/v1/exchangeInfo", _usdm_info, _fixed(1)),
    Endpoint("/dapi/v1/exchangeInfo", _coinm_info, _fixed(1)),
)
