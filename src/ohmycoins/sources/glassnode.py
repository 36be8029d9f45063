"""Glassnode API (keyed): on-chain valuation and activity metrics of BTC and ETH.

Facts about the source, as data below:
- Base URL `https://api.glassnode.com` (`OMC_GLASSNODE_URL` overrides it); every
  metric is `GET /v1/metrics/<category>/<name>?a=<asset>&i=<interval>`.
- `OMC_GLASSNODE_API_KEY` is required. Glassnode accepts it as the `api_key` query
  parameter or the `X-Api-Key` header; the header is used, so the key never appears in
  a logged URL.
- Answers are lists of points `[{"t": <epoch seconds>, "v": <number>}]`; `v` can be
  null (no value that interval) and is a float in the wire text (`2.4755000000000003`),
  kept exactly as sent. The bulk form (`/bulk`, several assets at once) answers
  `{"data": [{"t": ..., "bulk": [{"a": "BTC", "v": ...}]}]}`.
- Amounts are asked in USD (`c=USD`) where a metric has a currency, so `tx_volume_usd`,
  `exchange_inflow` and `exchange_outflow` are USD totals of the interval.
- Rate limits depend on the plan; the default here is a conservative 60 requests per
  minute (`OMC_GLASSNODE_RATE_LIMIT` overrides it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ohmycoins.errors import PayloadError
from ohmycoins.records import OnchainMetric
from ohmycoins.sources.http import SourceClient
from ohmycoins.sources.parsing import (
    JSON,
    FieldError,
    Parsed,
    parse_rows,
    require,
    seconds_to_ms,
    to_decimal,
    to_optional_int,
)
from ohmycoins.timeframes import floor_ts

NAME = "glassnode"
BASE_URL = "https://api.glassnode.com"
RATE_LIMIT = 60.0
"""Requests per minute; plans differ, so this stays conservative."""
METRIC_PATH = "/v1/metrics/{path}"
KEY_HEADER = "X-Api-Key"
INTERVAL = "24h"
"""Daily values: the resolution every plan offers for these metrics."""


@dataclass(frozen=True, slots=True)
class Metric:
    """One Glassnode metric and the `OnchainMetric` field it fills."""

    field: str
    path: str
    params: Mapping[str, str]


METRICS: tuple[Metric, ...] = (
    Metric("active_addresses", "addresses/active_count", {}),
    Metric("tx_volume_usd", "transactions/transfers_volume_sum", {"c": "USD"}),
    Metric("realized_cap", "market/marketcap_realized_usd", {}),
    Metric("mvrv", "market/mvrv", {}),
    Metric("nvt", "indicators/nvt", {}),
    Metric("exchange_inflow", "transactions/transfers_volume_to_exchanges_sum", {"c": "USD"}),
    Metric("exchange_outflow", "transactions/transfers_volume_from_exchanges_sum", {"c": "USD"}),
)
ASSETS: Mapping[str, str] = {"BTC": "bitcoin", "ETH": "ethereum"}
"""Glassnode asset symbol -> the asset id records use (CoinGecko's)."""
INTEGER_FIELDS = frozenset({"active_addresses"})


class Glassnode(SourceClient):
    """Fetches raw Glassnode metric series through one `HttpSource`."""

    name = NAME
    default_url = BASE_URL
    default_rate_limit = RATE_LIMIT
    key_header = KEY_HEADER
    key_required = True

    async def fetch_metric(
        self, metric: Metric, asset: str, since_s: int | None = None, interval: str = INTERVAL
    ) -> JSON:
        """The points of one metric for one asset (`BTC`), from `since_s` (epoch seconds)."""
        params: dict[str, Any] = {"a": asset, "i": interval, **metric.params}
        if since_s is not None:
            params["s"] = since_s
        return await self.http.get_json(METRIC_PATH.format(path=metric.path), params)


def parse_metric_points(raw: JSON, asset_id: str, field: str) -> Parsed[OnchainMetric]:
    """An `OnchainMetric` per point of one metric, filling only `field`; `ts` is the point's
    time floored to the hour. A null value is no data (no record); a malformed point is a
    violation.

        [{"t": 1230940800, "v": 2.4755000000000003},
         {"t": 1231027200, "v": null}]
    """
    if not isinstance(raw, list):
        raise _wrong_envelope(raw, "a list of points")
    return parse_rows(
        raw,
        lambda point: _point(asset_id, field, require(point, "t"), require(point, "v")),
        "OnchainMetric",
    )


def parse_metric_bulk(raw: JSON, field: str) -> Parsed[OnchainMetric]:
    """Records of the assets of `ASSETS` in a bulk answer; other assets are skipped.

    {"data": [{"t": 1770076800,
               "bulk": [{"a": "BTC", "v": 1513125006987.5164},
                        {"a": "ETH", "network": "eth", "v": 281197883560.20215}]}]}
    """
    data = raw.get("data") if isinstance(raw, Mapping) else None
    if not isinstance(data, list):
        raise _wrong_envelope(raw, 'an object with a "data" list')
    parsed: Parsed[OnchainMetric] = Parsed()
    for row in data:
        try:
            t = require(row, "t")
            entries = require(row, "bulk")
            if not isinstance(entries, list):
                raise FieldError("bulk", entries, "must be a list")
        except FieldError as error:
            parsed.violations.append(error.violation("OnchainMetric", row))
            continue
        for entry in entries:
            _add_bulk_entry(parsed, t, entry, field)
    return parsed


def _add_bulk_entry(parsed: Parsed[OnchainMetric], t: JSON, entry: JSON, field: str) -> None:
    try:
        asset_id = ASSETS.get(str(require(entry, "a")))
        if asset_id is None:
            return
        record = _point(asset_id, field, t, require(entry, "v"))
    except FieldError as error:
        parsed.violations.append(error.violation("OnchainMetric", {"t": t, "entry": entry}))
        return
    if record is not None:
        parsed.records.append(record)


def _point(asset_id: str, field: str, t: JSON, v: JSON) -> OnchainMetric | None:
    ts = floor_ts(seconds_to_ms(t, "t"), OnchainMetric.PERIOD)
    if v is None:
        return None
    value: Any = to_optional_int(v, "v") if field in INTEGER_FIELDS else to_decimal(v, "v")
    return OnchainMetric(asset=asset_id, ts=ts, sources=(NAME,), **{field: value})


def _wrong_envelope(raw: JSON, expected: str) -> PayloadError:
    error = raw.get("error") or raw.get("message") if isinstance(raw, Mapping) else None
    detail = f": {error}" if error else ""
    message = f"expected {expected}, got {type(raw).__name__}{detail}"
    return PayloadError(NAME, message, payload=raw, request=METRIC_PATH)
