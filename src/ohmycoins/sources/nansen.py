"""Nansen API v1 (keyed): token flows in and out of exchange wallets.

Facts about the source, as data below (from Nansen's published API documentation; no
recorded answer exists, so the shapes here and in the tests follow the docs):
- Base URL `https://api.nansen.ai` (`OMC_NANSEN_URL` overrides it); every endpoint is a
  POST with a JSON body under `/api/v1`. The key (`OMC_NANSEN_API_KEY`, required) is
  sent in the `apiKey` header.
- Documented limits: 20 requests per second and 500 per minute; 300 per minute is the
  default here (`OMC_NANSEN_RATE_LIMIT` overrides it). Calls also cost plan credits.
- `POST /api/v1/tgm/flows` with `{"chain", "token_address", "date": {"from", "to"},
  "label": "exchange", "pagination": {"page", "per_page"}}` answers `{"data": [...],
  "pagination": {"page", "per_page", "is_last_page"}}`: one row per hourly snapshot of
  the flows of one token through wallets with that label. Flow amounts are the row's
  `total_inflows_usd` and `total_outflows_usd` (the documented sort fields; the docs'
  sample row is abbreviated to counts, so a row with neither amount is quarantined
  rather than stored empty, which shows at once if the answer differs).
- Native coins cannot be queried (Nansen reads ETH as WETH), so the defaults are
  tokens that live on Ethereum as ERC-20s.

Flows are summed per UTC day and stamped at the day's first hour, the same meaning
Glassnode's daily `exchange_inflow` / `exchange_outflow` (USD) have in `OnchainMetric`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ohmycoins.errors import PayloadError
from ohmycoins.records import OnchainMetric
from ohmycoins.sources.http import SourceClient
from ohmycoins.sources.parsing import (
    EXACT,
    JSON,
    FieldError,
    Parsed,
    require,
    to_epoch_ms,
    to_optional_decimal,
)
from ohmycoins.timeframes import floor_ts

NAME = "nansen"
BASE_URL = "https://api.nansen.ai"
RATE_LIMIT = 300.0
"""Requests per minute, under the documented 500."""
FLOWS = "/api/v1/tgm/flows"
KEY_HEADER = "apiKey"
EXCHANGE_LABEL = "exchange"
PER_PAGE = 1000
"""Rows per page: more than the hourly snapshots of the days one run asks for."""


@dataclass(frozen=True, slots=True)
class Token:
    """A token Nansen tracks: the asset id records use, its chain and contract address."""

    asset_id: str
    chain: str
    address: str


TOKENS: tuple[Token, ...] = (
    Token("chainlink", "ethereum", "0x514910771af9ca656af840dff83e8264ecf986ca"),
    Token("uniswap", "ethereum", "0x1f9840a85d5aa5bf1d1762f925bdaddc4201f984"),
)


class Nansen(SourceClient):
    """Fetches raw Nansen answers through one `HttpSource`."""

    name = NAME
    default_url = BASE_URL
    default_rate_limit = RATE_LIMIT
    key_header = KEY_HEADER
    key_required = True

    async def fetch_exchange_flows(self, token: Token, date_from: str, date_to: str) -> JSON:
        """Exchange-wallet flows of `token` between two ISO dates (first page)."""
        body: dict[str, Any] = {
            "chain": token.chain,
            "token_address": token.address,
            "date": {"from": date_from, "to": date_to},
            "label": EXCHANGE_LABEL,
            "pagination": {"page": 1, "per_page": PER_PAGE},
            "order_by": [{"field": "date", "direction": "ASC"}],
        }
        return await self.http.post_json(FLOWS, body)


def parse_exchange_flows(raw: JSON, asset_id: str) -> Parsed[OnchainMetric]:
    """One `OnchainMetric` per UTC day with the summed exchange inflow and outflow (USD)
    of the answer's rows. A row without a time, or without either amount, is a violation.

    {"data": [{"date": "2025-05-01T00:00:00", "price_usd": 14.2, "token_amount": 120000,
               "value_usd": 1704000, "holders_count": 52, "total_inflows_count": 31,
               "total_outflows_count": 12, "total_inflows_usd": 442000.5,
               "total_outflows_usd": 120400}],
     "pagination": {"page": 1, "per_page": 1000, "is_last_page": true}}
    """
    rows = raw.get("data") if isinstance(raw, Mapping) else None
    if not isinstance(rows, list):
        words = (raw.get("message") or raw.get("detail")) if isinstance(raw, Mapping) else None
        detail = f": {words}" if words else ""
        message = f'expected an object with a "data" list{detail}'
        raise PayloadError(NAME, message, payload=raw, request=FLOWS)
    days: dict[int, tuple[Decimal | None, Decimal | None]] = {}
    parsed: Parsed[OnchainMetric] = Parsed()
    for row in rows:
        try:
            day, inflow, outflow = _flow(row)
        except FieldError as error:
            parsed.violations.append(error.violation("OnchainMetric", row))
            continue
        stored_in, stored_out = days.get(day, (None, None))
        days[day] = (_add(stored_in, inflow), _add(stored_out, outflow))
    for day, (inflow, outflow) in sorted(days.items()):
        parsed.records.append(
            OnchainMetric(
                asset=asset_id,
                ts=day,
                sources=(NAME,),
                exchange_inflow=inflow,
                exchange_outflow=outflow,
            )
        )
    return parsed


def _flow(row: JSON) -> tuple[int, Decimal | None, Decimal | None]:
    day = floor_ts(to_epoch_ms(require(row, "date"), "date"), "1d")
    inflow = to_optional_decimal(row.get("total_inflows_usd"), "total_inflows_usd")
    outflow = to_optional_decimal(row.get("total_outflows_usd"), "total_outflows_usd")
    if inflow is None and outflow is None:
        raise FieldError("total_inflows_usd", None, "row has no inflow or outflow amount")
    return day, inflow, outflow


def _add(total: Decimal | None, amount: Decimal | None) -> Decimal | None:
    if amount is None:
        return total
    return amount if total is None else EXACT.add(total, amount)
