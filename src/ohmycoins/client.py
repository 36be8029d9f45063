"""A Python client of the ohmycoins API that answers with pandas DataFrames.

    from ohmycoins.client import Client

    with Client("http://127.0.0.1:8000", api_key="omc_…") as api:
        btc = api.candles("binance", "BTC/USDT", "1m", start="2025-10-01", end="2025-10-02")

* Range endpoints (`candles`, `trades`, `macro`) follow the API's `next` cursors until
  the range is exhausted, so one call returns the whole range.
* Times: epoch milliseconds (negative before 1970) become a UTC `DatetimeIndex` (`ts`).
  `start` / `end` take epoch ms, a `datetime` (naive means UTC), or an ISO-8601 string;
  both inclusive.
* Prices and amounts stay exact: object columns of `decimal.Decimal` (None where the
  API sends null). `exact=False` converts them to float64 (NaN for null) instead, which
  is faster to compute with but rounds to the nearest double.
* Every failure raises `ApiError` (a subclass of `OhMyCoinsError`) with the HTTP status
  (None when the server could not be reached) and the API's message.
* `wire="parquet"` fetches the range endpoints' pages as Parquet instead of JSON: about
  a seventh of the bytes, for slow or remote links; the decimals are the same exact
  strings and the frames the same.

pandas is imported lazily: install the `client` extra (`pip install ohmycoins[client]`).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import httpx

from ohmycoins import __version__
from ohmycoins.errors import OhMyCoinsError
from ohmycoins.records import (
    Candle,
    MacroObservation,
    MarketSnapshot,
    Ticker,
    Trade,
    decimal_fields,
)
from ohmycoins.timeframes import datetime_ms

if TYPE_CHECKING:
    from pandas import DataFrame  # type: ignore[import-untyped]

__all__ = ["ApiError", "Client"]

API_PREFIX = "/api/v1"
PAGE_SIZE = 5000  # the API's largest page
DEFAULT_TIMEOUT = 30.0

CANDLE_DECIMALS = decimal_fields(Candle)
TRADE_DECIMALS = decimal_fields(Trade)
TICKER_DECIMALS = decimal_fields(Ticker)
MACRO_DECIMALS = decimal_fields(MacroObservation)
MARKET_DECIMALS = decimal_fields(MarketSnapshot)
HEALTH_TIMES = ("last_success_ts",)

TimeArg = int | datetime | str | None
Wire = Literal["json", "parquet"]
NEXT_CURSOR_HEADER = "X-Next-Cursor"


class ApiError(OhMyCoinsError):
    """The API refused a request or could not be reached; `status` is None in that case."""

    def __init__(self, status: int | None, message: str, *, request: str = "") -> None:
        self.status = status
        self.message = message
        self.request = request
        code = f"HTTP {status}" if status is not None else "unreachable"
        where = f" ({request})" if request else ""
        super().__init__(f"ohmycoins API {code}{where}: {message}")


class Client:
    """A synchronous client of one ohmycoins server.

    `transport`: an httpx transport to use instead of the network (tests pass
    `httpx.ASGITransport`/`httpx.MockTransport`). `exact`: keep prices and amounts as
    `Decimal` (default) or convert them to float64. `wire`: how range pages travel,
    `json` (default) or `parquet` (needs pyarrow)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        exact: bool = True,
        page_size: int = PAGE_SIZE,
        transport: httpx.BaseTransport | None = None,
        wire: Wire = "json",
    ) -> None:
        headers = {"User-Agent": f"ohmycoins-client/{__version__}"}
        if api_key:
            headers["X-API-Key"] = api_key
        self.exact = exact
        self.page_size = page_size
        self.wire = wire
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + API_PREFIX,
            headers=headers,
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- range endpoints ------------------------------------------------------------

    def candles(
        self,
        exchange: str,
        symbol: str,
        timeframe: str,
        start: TimeArg = None,
        end: TimeArg = None,
    ) -> DataFrame:
        """OHLCV candles of one series with open time in [start, end], oldest first.

        Index `ts` (UTC open time); columns open, high, low, close, volume."""
        params = {"exchange": exchange, "symbol": symbol, "timeframe": timeframe}
        data = self._pages("/candles", params, start, end)
        columns = ["ts", *CANDLE_DECIMALS]
        return _columns_frame(data, columns, CANDLE_DECIMALS, self.exact, index="ts")

    def trades(
        self, exchange: str, symbol: str, start: TimeArg = None, end: TimeArg = None
    ) -> DataFrame:
        """Public trades of one market with time in [start, end], by time then trade id.

        Index `ts` (UTC, not unique); columns trade_id, price, amount, side."""
        params = {"exchange": exchange, "symbol": symbol}
        data = self._pages("/trades", params, start, end)
        columns = ["ts", "trade_id", *TRADE_DECIMALS, "side"]
        return _columns_frame(data, columns, TRADE_DECIMALS, self.exact, index="ts")

    def macro(self, series_id: str, start: TimeArg = None, end: TimeArg = None) -> DataFrame:
        """Observations of one macro series (FRED, Yahoo) dated in [start, end], oldest
        first; history before 1970 included.

        Index `ts` (UTC date of the observation); columns value (None/NaN where the
        source has none), source."""
        data = self._pages("/macro", {"series_id": series_id}, start, end)
        columns = ["ts", *MACRO_DECIMALS, "source"]
        return _columns_frame(data, columns, MACRO_DECIMALS, self.exact, index="ts")

    def features(
        self,
        exchange: str,
        symbol: str,
        timeframe: str,
        start: TimeArg = None,
        end: TimeArg = None,
        *,
        feature_set: str = "default",
        columns: Sequence[str] | None = None,
    ) -> DataFrame:
        """Point-in-time features of one series, one row per closed candle with open time
        in [start, end], oldest first (fetched as Parquet pages).

        Index `time` (UTC open time); columns `ts` (epoch ms), `warm_up` (a feature is
        still inside its warm-up: its value is NaN), then one float64 column per feature.
        `feature_set` is a set name or a stored version."""
        params = {"exchange": exchange, "symbol": symbol, "timeframe": timeframe,
                  "set": feature_set}  # fmt: skip
        if columns:
            params["columns"] = ",".join(columns)
        data = self._pages("/features", params, start, end, wire="parquet")
        pd = _pandas()
        frame = pd.DataFrame(data).drop(
            columns=["exchange", "symbol", "timeframe"], errors="ignore"
        )
        if "time" not in frame:
            frame["time"] = pd.to_datetime(frame.get("ts", []), unit="ms", utc=True)
        values = [name for name in frame.columns if name not in ("ts", "time", "warm_up")]
        frame[values] = frame[values].astype("float64")  # null -> NaN
        return frame.set_index("time")

    # --- snapshots -------------------------------------------------------------------

    def tickers(self, exchange: str | None = None, symbol: str | None = None) -> DataFrame:
        """The newest ticker of each market; `ts` a UTC datetime column."""
        params = _present({"exchange": exchange, "symbol": symbol})
        rows = self._get("/tickers/latest", params)
        columns = ["exchange", "symbol", "ts", *TICKER_DECIMALS]
        return _frame(rows, columns, TICKER_DECIMALS, self.exact, times=("ts",))

    def markets(
        self, limit: int = 100, vs_currency: str = "usd", source: str = "coingecko"
    ) -> DataFrame:
        """The newest market snapshot of each coin, by market-cap rank."""
        params = {"limit": limit, "vs_currency": vs_currency, "source": source}
        rows = self._get("/markets", params)
        columns = ["source", "asset_id", "ts", "symbol", "vs_currency", "rank", *MARKET_DECIMALS]
        frame = _frame(rows, columns, MARKET_DECIMALS, self.exact, times=("ts",))
        frame["rank"] = frame["rank"].astype("Int64")
        return frame

    def assets(self, active: bool = False) -> DataFrame:
        """The asset universe by rank; `updated_ts` a UTC datetime column."""
        rows = self._get("/assets", {"active": "true" if active else "false"})
        columns = [
            "asset_id",
            "symbol",
            "name",
            "updated_ts",
            "coingecko_id",
            "network_type",
            "rank",
            "active",
        ]
        frame = _frame(rows, columns, (), self.exact, times=("updated_ts",))
        frame["rank"] = frame["rank"].astype("Int64")
        frame["active"] = frame["active"].astype(bool)
        return frame

    def collectors_health(self) -> DataFrame:
        """One row per collector, indexed by name: status, circuit, freshness, quota.

        `last_run` stays a dict (or None); the calls per source this month are in
        `frame.attrs["quota_used"]`."""
        body = self._get("/collectors/health", {})
        columns = [
            "name",
            "source",
            "status",
            "last_run",
            "last_error",
            "circuit_state",
            "last_success_ts",
            "freshness_seconds",
            "quota_used",
            "quota_limit",
        ]
        frame = _frame(body["collectors"], columns, (), self.exact, times=HEALTH_TIMES)
        frame = frame.set_index("name")
        for column in ("quota_used", "quota_limit"):
            frame[column] = frame[column].astype("Int64")
        frame["freshness_seconds"] = frame["freshness_seconds"].astype("float64")
        frame.attrs["quota_used"] = dict(body["quota_used"])
        return frame

    # --- HTTP ------------------------------------------------------------------------

    def _pages(
        self,
        path: str,
        params: Mapping[str, Any],
        start: TimeArg,
        end: TimeArg,
        wire: Wire | None = None,
    ) -> dict[str, list[Any]]:
        """Every row of a range as columns, following the `next` cursors; over `wire`
        (the client's own by default)."""
        query: dict[str, Any] = {**params, "limit": self.page_size, "order": "asc"}
        query.update(_present({"start": epoch_ms(start), "end": epoch_ms(end)}))
        if (wire or self.wire) == "parquet":
            return self._parquet_pages(path, {**query, "format": "parquet"})
        rows: list[dict[str, Any]] = []
        for page in self._iter_pages(path, query):
            rows += page
        names = list(rows[0]) if rows else []
        return {name: [row.get(name) for row in rows] for name in names}

    def _parquet_pages(self, path: str, query: dict[str, Any]) -> dict[str, list[Any]]:
        """The pages of a range as Parquet, glued into one table's columns."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        tables = []
        while True:
            response = self._response(path, query)
            try:
                tables.append(pq.read_table(pa.BufferReader(response.content)))
            except (pa.ArrowInvalid, OSError) as exc:
                request = f"GET {path}"
                raise ApiError(
                    response.status_code, f"not Parquet: {exc}", request=request
                ) from exc
            cursor = response.headers.get(NEXT_CURSOR_HEADER)
            if not cursor:
                break
            query = {**query, "cursor": cursor}
        columns: dict[str, list[Any]] = pa.concat_tables(tables).to_pydict()
        return columns

    def _iter_pages(self, path: str, query: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        while True:
            body = self._get(path, query)
            yield body["data"]
            if not body.get("next"):
                return
            query = {**query, "cursor": body["next"]}

    def _get(self, path: str, params: Mapping[str, Any]) -> Any:
        response = self._response(path, params)
        try:
            return response.json()
        except ValueError as exc:
            raise ApiError(response.status_code, f"not JSON: {exc}", request=f"GET {path}") from exc

    def _response(self, path: str, params: Mapping[str, Any]) -> httpx.Response:
        """A successful answer; ApiError for a refused or failed request."""
        request = f"GET {path}"
        try:
            response = self._http.get(path, params=params)
        except httpx.HTTPError as exc:
            raise ApiError(None, str(exc) or type(exc).__name__, request=request) from exc
        if response.is_error:
            raise ApiError(response.status_code, _message(response), request=request)
        return response


def epoch_ms(value: TimeArg) -> int | None:
    """Epoch milliseconds of a time argument (naive datetimes and strings are UTC)."""
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return datetime_ms(value)


def _present(params: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in params.items() if value is not None}


def _message(response: httpx.Response) -> str:
    """The API's readable message: `message` of a 422, `detail` of other errors."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(body, dict):
        for name in ("message", "detail"):
            if isinstance(body.get(name), str):
                return str(body[name])
    return str(body)[:500]


def _pandas() -> Any:
    try:
        return importlib.import_module("pandas")
    except ImportError:
        raise ImportError(
            "ohmycoins.client needs pandas: install the client extra "
            "(pip install 'ohmycoins[client]')"
        ) from None


def _frame(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    decimals: Sequence[str],
    exact: bool,
    *,
    times: Sequence[str] = (),
) -> DataFrame:
    """Rows as a DataFrame of `columns`: decimals converted, epoch ms as UTC times."""
    values = {name: [row.get(name) for row in rows] for name in columns}
    return _columns_frame(values, columns, decimals, exact, times=times)


def _columns_frame(
    values_of: Mapping[str, Sequence[Any]],
    columns: Sequence[str],
    decimals: Sequence[str],
    exact: bool,
    *,
    index: str | None = None,
    times: Sequence[str] = (),
) -> DataFrame:
    """`_frame` of values given column by column (a missing column is all None)."""
    pd = _pandas()
    length = len(next(iter(values_of.values()), ()))
    data: dict[str, Any] = {}
    for name in columns:
        values = list(values_of.get(name, [None] * length))
        if name in decimals:
            data[name] = _decimals(pd, values, exact)
        elif name == index or name in times:
            data[name] = _times(pd, values)
        else:
            data[name] = pd.Series(values, dtype=object)
    frame = pd.DataFrame(data, columns=list(columns))
    if index is not None:
        frame = frame.set_index(index)
    return frame


def _decimals(pd: Any, values: list[Any], exact: bool) -> Any:
    if exact:
        return pd.Series([None if v is None else Decimal(v) for v in values], dtype=object)
    return pd.Series([float("nan") if v is None else float(v) for v in values], dtype="float64")


def _times(pd: Any, values: list[Any]) -> Any:
    ms = pd.array(values, dtype="Int64")
    return pd.Series(pd.to_datetime(ms, unit="ms", utc=True))
