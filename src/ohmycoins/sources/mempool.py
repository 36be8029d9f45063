"""mempool.space's Bitcoin network API (no key): fees, mempool, tip, hash rate.

Facts about the source, as data below:
- Base URL `https://mempool.space/api` (`OMC_MEMPOOL_URL` overrides it; a self-hosted
  mempool instance answers the same paths).
- mempool.space publishes no number for its public rate limit; 30 requests per minute
  is a conservative default (`OMC_MEMPOOL_RATE_LIMIT` overrides it). One reading
  costs `len(ENDPOINTS)` requests.
- Recommended fees are sat/vB (`fastestFee`, `halfHourFee`, `hourFee`); `/mempool`
  counts unconfirmed transactions in `count`; `/blocks/tip/height` is a bare number;
  `/v1/mining/hashrate/3d` has `currentHashrate` in H/s and `currentDifficulty`;
  `/v1/difficulty-adjustment` has `timeAvg`, the mean block interval in ms.
- Hash rates are about 7.9e20, beyond 2^53: a float would lose digits. `HttpSource`
  decodes integers as ints and fractions as Decimals, so they stay exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ohmycoins.errors import PayloadError, Violation
from ohmycoins.records import OnchainMetric
from ohmycoins.sources.blockchain_info import Conversion, convert_fields, network_metric, to_int
from ohmycoins.sources.http import SourceClient
from ohmycoins.sources.parsing import EXACT, JSON, FieldError, Parsed, to_decimal

NAME = "mempool"
BASE_URL = "https://mempool.space/api"
RATE_LIMIT = 30.0
"""Requests per minute: conservative, mempool.space publishes no number."""
ASSET = "bitcoin"

FEES = "/v1/fees/recommended"
MEMPOOL = "/mempool"
TIP_HEIGHT = "/blocks/tip/height"
HASHRATE = "/v1/mining/hashrate/3d"
DIFFICULTY_ADJUSTMENT = "/v1/difficulty-adjustment"
ENDPOINTS = (FEES, MEMPOOL, TIP_HEIGHT, HASHRATE, DIFFICULTY_ADJUSTMENT)


def ms_to_seconds(value: object, field: str) -> Decimal:
    """Milliseconds to seconds, exactly."""
    return EXACT.scaleb(to_decimal(value, field), -3)


FIELDS: dict[str, tuple[Conversion, ...]] = {
    FEES: (
        ("fee_fast", "fastestFee", to_decimal),
        ("fee_medium", "halfHourFee", to_decimal),
        ("fee_slow", "hourFee", to_decimal),
    ),
    MEMPOOL: (("mempool_size", "count", to_int),),
    HASHRATE: (
        ("hash_rate", "currentHashrate", to_decimal),
        ("difficulty", "currentDifficulty", to_decimal),
    ),
    DIFFICULTY_ADJUSTMENT: (("block_time_s", "timeAvg", ms_to_seconds),),
}
"""What each object endpoint contributes to the row (the tip height is a bare number)."""


class Mempool(SourceClient):
    """Fetches the network endpoints; parse them with `parse_network` (or one by one)."""

    name = NAME
    default_url = BASE_URL
    default_rate_limit = RATE_LIMIT

    async def fetch(self, endpoint: str) -> JSON:
        """One of `ENDPOINTS`, decoded."""
        if endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {ENDPOINTS}, got {endpoint!r}")
        return await self.http.get_json(endpoint)

    async def fetch_network(self) -> dict[str, JSON]:
        """Every endpoint of one reading, by path."""
        return {endpoint: await self.fetch(endpoint) for endpoint in ENDPOINTS}


def parse_network(raw: Mapping[str, JSON], now_ms: int) -> Parsed[OnchainMetric]:
    """One Bitcoin row, in the hour of `now_ms`, from the answers of `fetch_network`
    (any subset of `ENDPOINTS`); an answer that is not an object where one is expected
    is a `PayloadError`.

        {"/v1/fees/recommended": {"fastestFee": 8, "halfHourFee": 8, "hourFee": 8},
         "/mempool": {"count": 112686, "vsize": 175691391},
         "/blocks/tip/height": 837043,
         "/v1/mining/hashrate/3d": {"currentHashrate": 786391245138648900000,
                                    "currentDifficulty": 83126997340024.61},
         "/v1/difficulty-adjustment": {"timeAvg": 574743, "remainingBlocks": 1606}}
    """
    values: dict[str, Any] = {}
    violations: list[Violation] = []
    for endpoint, body in raw.items():
        found, broken = _endpoint_fields(endpoint, body)
        values |= found
        violations += broken
    return network_metric(ASSET, now_ms, NAME, values, violations, raw)


def _endpoint_fields(endpoint: str, body: JSON) -> tuple[dict[str, Any], list[Violation]]:
    if endpoint == TIP_HEIGHT:
        try:
            return {"block_height": to_int(body, "height")}, []
        except FieldError as error:
            return {}, [error.violation("OnchainMetric", {TIP_HEIGHT: body})]
    if endpoint not in FIELDS:
        raise ValueError(f"no fields known for {endpoint!r}")
    if not isinstance(body, Mapping):
        message = f"expected an object, got {type(body).__name__}"
        raise PayloadError(NAME, message, payload=body, request=endpoint)
    return convert_fields(body, FIELDS[endpoint])
