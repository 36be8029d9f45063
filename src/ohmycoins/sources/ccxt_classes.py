"""ccxt's exchange classes as we use them: exact numbers, answers that are JSON, our
weight budget in place of ccxt's throttle, and hosts replaced by `OMC_<EXCHANGE>_URL`.

`ExchangeClient` (`exchange.py`) builds its ccxt class from these. Where we know an
exchange's real budget (`WEIGHT_BUDGETS`: Binance's request weights per window,
reported back in `X-MBX-USED-WEIGHT-1M`), a process-wide `WeightWindow` replaces
ccxt's throttle, spends the real weights, adopts the limits the exchange publishes
and pauses (429) or stops (418) every request when told to.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from ccxt.base import errors as ccxt_errors
from ccxt.base.exchange import Exchange as BaseExchange

from ohmycoins.sources.binance import (
    binance_rate_limits,
    binance_spot_weight,
    binance_used_weights,
)
from ohmycoins.sources.ratelimit import Limit, WeightWindow
from ohmycoins.sources.ratelimit_redis import shared_window

log = logging.getLogger(__name__)


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


def rewrite_hosts(urls: Any, base_url: str, host: re.Pattern[str] = _HOST) -> Any:
    """Every URL in ccxt's (nested) `urls['api']` with its scheme and host (`host`: an
    http(s) one by default) replaced by `base_url`."""
    if isinstance(urls, str):
        return host.sub(base_url.rstrip("/"), urls)
    if isinstance(urls, dict):
        return {key: rewrite_hosts(value, base_url, host) for key, value in urls.items()}
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


def exact_class(base: type[Any]) -> type[Any]:
    """A subclass of a ccxt exchange class that refuses bodies that are not JSON and keeps
    order-book levels exact (ccxt parses them with floats whatever `number` is)."""

    class Exact(base):  # type: ignore[misc]
        iso8601 = staticmethod(iso8601)

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


def iso8601(timestamp: Any = None) -> str | None:
    """ccxt's `iso8601`, the same text, with each second's part written once: ccxt
    writes it for every trade it parses (its `datetime`), and building it through
    `datetime` was a tenth of the cost of parsing a streamed trade."""
    if type(timestamp) is not int or not 0 <= timestamp < _ISO_LAST_MS:
        return cast(str | None, BaseExchange.iso8601(timestamp))
    seconds, milliseconds = divmod(timestamp, 1000)
    return f"{_iso_second(seconds)}.{milliseconds:03d}Z"


_ISO_LAST_MS = 253_402_300_800_000
"""10000-01-01T00:00:00Z in epoch milliseconds: the first instant `datetime` cannot write."""


@functools.lru_cache(maxsize=4096)
def _iso_second(seconds: int) -> str:
    """`YYYY-MM-DDTHH:MM:SS` of an epoch second (UTC)."""
    return str(BaseExchange.iso8601(seconds * 1000))[:-5]


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


def budgeted_class(base: type[Any], budget: WeightBudget, window: WeightWindow) -> type[Any]:
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
