"""Blockchain.com's Bitcoin statistics (no key): `GET https://api.blockchain.info/stats`.

Facts about the source, as data below:
- Base URL `https://api.blockchain.info` (`OMC_BLOCKCHAIN_INFO_URL` overrides it).
- Blockchain.com asks API users for at most one request every 10 seconds: 6 per
  minute is the default (`OMC_BLOCKCHAIN_INFO_RATE_LIMIT` overrides it).
- `/stats` is one flat object of JSON numbers; `hash_rate` is in GH/s and is stored
  in H/s (x 10^9, exactly), `minutes_between_blocks` is stored as seconds,
  `timestamp` is epoch milliseconds.

One network reading is one partial `OnchainMetric` row: a field that is missing stays
empty (other sources may fill it), a field of the wrong shape becomes a violation and
the rest of the row is kept. `convert_fields` and `network_metric` do that for every
network source.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from ohmycoins.errors import PayloadError, Violation
from ohmycoins.records import OnchainMetric
from ohmycoins.sources.http import SourceClient
from ohmycoins.sources.parsing import (
    EXACT,
    JSON,
    FieldError,
    Parsed,
    to_decimal,
    to_optional_int,
)
from ohmycoins.timeframes import floor_ts

NAME = "blockchain_info"
BASE_URL = "https://api.blockchain.info"
RATE_LIMIT = 6.0
"""Requests per minute: Blockchain.com asks for no more than one every 10 seconds."""
STATS = "/stats"
ASSET = "bitcoin"

Conversion = tuple[str, str, Callable[[object, str], Any]]
"""(record field, payload key, conversion raising FieldError)."""


def to_int(value: object, field: str) -> int:
    """An integer; unlike `to_optional_int`, null is refused."""
    number = to_optional_int(value, field)
    if number is None:
        raise FieldError(field, value, "must be an integer")
    return number


def minutes_to_seconds(value: object, field: str) -> Decimal:
    return EXACT.multiply(to_decimal(value, field), Decimal(60))


def giga_to_unit(value: object, field: str) -> Decimal:
    """GH/s to H/s, exactly (the digits as sent, the exponent moved by 9)."""
    return EXACT.scaleb(to_decimal(value, field), 9)


STATS_FIELDS: tuple[Conversion, ...] = (
    ("block_height", "n_blocks_total", to_int),
    ("block_time_s", "minutes_between_blocks", minutes_to_seconds),
    ("hash_rate", "hash_rate", giga_to_unit),
    ("difficulty", "difficulty", to_decimal),
    ("tx_count", "n_tx", to_int),
    ("tx_volume_usd", "estimated_transaction_volume_usd", to_decimal),
)


class BlockchainInfo(SourceClient):
    """Fetches `/stats`; parse it with `parse_stats`."""

    name = NAME
    default_url = BASE_URL
    default_rate_limit = RATE_LIMIT

    async def fetch_stats(self) -> JSON:
        """The network's current statistics."""
        return await self.http.get_json(STATS)


def parse_stats(raw: JSON, now_ms: int) -> Parsed[OnchainMetric]:
    """Bitcoin's network metrics of `/stats`, in the hour of `now_ms`.

    {"hash_rate": 1.8410989266292908E9, "n_tx": 233805,
     "minutes_between_blocks": 8.2577, "n_blocks_total": 430098,
     "difficulty": 225832872179, "estimated_transaction_volume_usd": 1.2342976868108143E8,
     "timestamp": 1474035340000}
    """
    if not isinstance(raw, Mapping):
        raise PayloadError(NAME, f"expected an object, got {type(raw).__name__}", payload=raw)
    values, violations = convert_fields(raw, STATS_FIELDS)
    return network_metric(ASSET, now_ms, NAME, values, violations, raw)


def convert_fields(
    row: Mapping[str, JSON], conversions: Sequence[Conversion]
) -> tuple[dict[str, Any], list[Violation]]:
    """The record fields `row` has, converted; a missing or null key is left out, a
    malformed one is a violation carrying the whole row."""
    values: dict[str, Any] = {}
    violations: list[Violation] = []
    for field, key, convert in conversions:
        if row.get(key) is None:
            continue
        try:
            values[field] = convert(row[key], key)
        except FieldError as error:
            violations.append(error.violation("OnchainMetric", row))
    return values, violations


def network_metric(
    asset: str,
    now_ms: int,
    source: str,
    values: Mapping[str, Any],
    violations: list[Violation],
    raw: JSON,
) -> Parsed[OnchainMetric]:
    """One partial row of `asset` in the hour of `now_ms` from the converted `values`.

    No value and no violation means the answer is not the expected one at all: a
    `PayloadError` rather than an empty row."""
    if not values and not violations:
        raise PayloadError(source, "no known field in the answer", payload=raw)
    parsed: Parsed[OnchainMetric] = Parsed(violations=violations)
    if values:
        ts = floor_ts(now_ms, OnchainMetric.PERIOD)
        parsed.records.append(OnchainMetric(asset=asset, ts=ts, sources=(source,), **values))
    return parsed
