"""DeFiLlama (no key): protocol TVL, fees and revenue, chain TVL, stablecoin supply.

Facts about the source, as data below:
- Two hosts, so two source names: `defillama` (`https://api.llama.fi`,
  `OMC_DEFILLAMA_URL`) and `defillama_stablecoins` (`https://stablecoins.llama.fi`,
  `OMC_DEFILLAMA_STABLECOINS_URL`). Each has its own rate budget.
- DeFiLlama publishes no hard limit for its free API; 60 requests per minute is a
  conservative default (`OMC_DEFILLAMA_RATE_LIMIT` overrides it).
- A protocol is named by its `slug` everywhere: `/protocols` and the fees overview
  both carry `slug` (the fees overview also has `defillamaId`, the numeric `id` of
  `/protocols`, and a `name` that is a display name), and `/protocol/{slug}` takes it
  in the path. The slug is stable and readable, so it is the `protocol` key.
- Numbers are JSON floats (decoded exactly as Decimals); TVL history dates are epoch
  seconds, sometimes a float or a string.
- `/v2/chains` names a chain's coin by `gecko_id` (the CoinGecko id, the `asset` of
  on-chain metrics); chains without one are skipped and counted, not quarantined.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ohmycoins.errors import PayloadError
from ohmycoins.records import OnchainMetric, ProtocolFundamental
from ohmycoins.sources.http import SourceClient
from ohmycoins.sources.parsing import (
    EXACT,
    JSON,
    FieldError,
    Parsed,
    R,
    parse_rows,
    require,
    seconds_to_ms,
    to_decimal,
    to_optional_decimal,
    to_text,
)
from ohmycoins.timeframes import floor_ts

NAME = "defillama"
STABLECOINS_NAME = "defillama_stablecoins"
BASE_URL = "https://api.llama.fi"
STABLECOINS_URL = "https://stablecoins.llama.fi"
RATE_LIMIT = 60.0
"""Requests per minute: conservative, DeFiLlama documents no limit for the free API."""

PROTOCOLS = "/protocols"
CHAINS = "/v2/chains"
PROTOCOL = "/protocol/{slug}"
FEES_OVERVIEW = "/overview/fees"
STABLECOINS = "/stablecoins"

DAY = "1d"
MULTI_CHAIN = "Multi-Chain"
FEE_FIELDS: dict[str, tuple[str, str, str]] = {
    "dailyFees": ("fees_24h", "fees_7d", "fees_30d"),
    "dailyRevenue": ("revenue_24h", "revenue_7d", "revenue_30d"),
}
"""The fees overview's `dataType` and the fields its 24 h / 7 d / 30 d totals fill."""
FEE_TOTALS = ("total24h", "total7d", "total30d")
NOT_A_CHAIN = frozenset(
    {"borrowed", "staking", "pool2", "vesting", "offers", "treasury", "doublecounted"}
    | {"liquidstaking", "dcandlsoverlap"}
)
"""`chainTvls` keys that are extra TVL kinds, not chains (`Ethereum-staking` is too)."""


@dataclass(frozen=True, slots=True)
class Skipping(Parsed[R]):
    """A parse that also counts rows it left out on purpose (not violations)."""

    skipped: list[str] = field(default_factory=list)


class DefiLlama(SourceClient):
    """Fetches raw payloads from `api.llama.fi`; parse them with the `parse_*` functions."""

    name = NAME
    default_url = BASE_URL
    default_rate_limit = RATE_LIMIT

    async def fetch_protocols(self) -> JSON:
        """Every protocol with its current TVL (several MB)."""
        return await self.http.get_json(PROTOCOLS)

    async def fetch_chains(self) -> JSON:
        """Every chain with its current TVL."""
        return await self.http.get_json(CHAINS)

    async def fetch_protocol(self, slug: str) -> JSON:
        """One protocol with its whole daily TVL history."""
        return await self.http.get_json(PROTOCOL.format(slug=slug))

    async def fetch_fees(self, data_type: str) -> JSON:
        """The fees overview of every protocol for `dailyFees` or `dailyRevenue`."""
        if data_type not in FEE_FIELDS:
            raise ValueError(f"data_type must be one of {sorted(FEE_FIELDS)}, got {data_type!r}")
        params = {
            "excludeTotalDataChart": "true",
            "excludeTotalDataChartBreakdown": "true",
            "dataType": data_type,
        }
        return await self.http.get_json(FEES_OVERVIEW, params)


class DefiLlamaStablecoins(SourceClient):
    """Fetches the stablecoin list from `stablecoins.llama.fi` (its own host and budget)."""

    name = STABLECOINS_NAME
    default_url = STABLECOINS_URL
    default_rate_limit = RATE_LIMIT

    async def fetch_stablecoins(self) -> JSON:
        """Every stablecoin with its circulating supply (and price)."""
        return await self.http.get_json(STABLECOINS, {"includePrices": "true"})


def parse_protocols(raw: JSON, now_ms: int) -> Parsed[ProtocolFundamental]:
    """Today's `ProtocolFundamental` of every protocol in `/protocols`.

    `day` is today's UTC midnight and `ts` the observation time; `chain` is the
    protocol's main chain, or `Multi-Chain`.

        [{"id": "2269", "name": "Aave V3", "slug": "aave-v3", "category": "Lending",
          "chain": "Multi-Chain", "chains": ["Ethereum", "Arbitrum"],
          "tvl": 21746391232.51, "mcap": null}]
    """

    def protocol(row: JSON) -> ProtocolFundamental:
        return dataclasses.replace(
            _protocol(row, now_ms),
            chain=_main_chain(row),
            tvl=to_optional_decimal(row.get("tvl"), "tvl"),
            market_cap=to_optional_decimal(row.get("mcap"), "mcap"),
        )

    return parse_rows(_expect_list(raw, PROTOCOLS), protocol, "ProtocolFundamental")


def parse_chains(raw: JSON, now_ms: int) -> Skipping[OnchainMetric]:
    """The TVL of every chain of `/v2/chains` as an on-chain metric of its coin, in the
    hour of `now_ms`; chains without a `gecko_id` are skipped (listed in `skipped`).

        [{"gecko_id": "ethereum", "tvl": 52875523609.47606, "tokenSymbol": "ETH",
          "cmcId": "1027", "name": "Ethereum", "chainId": 1},
         {"gecko_id": null, "tvl": 990422914.845172, "name": "Arbitrum"}]
    """
    ts = floor_ts(now_ms, OnchainMetric.PERIOD)

    def chain(row: JSON, gecko_id: JSON) -> OnchainMetric:
        asset = to_text(gecko_id, "gecko_id")
        tvl = to_decimal(require(row, "tvl"), "tvl")
        return OnchainMetric(asset=asset, ts=ts, sources=(NAME,), tvl=tvl)

    return _by_gecko_id(_expect_list(raw, CHAINS), "name", chain)


def parse_protocol_history(
    raw: JSON, slug: str, since_day: int | None = None
) -> Parsed[ProtocolFundamental]:
    """One `ProtocolFundamental` per UTC day of `/protocol/{slug}`'s TVL history, from
    `since_day` on (all days without it); the last point of a day is its value.

    The history is the top-level `tvl` series; a body without one (trimmed) falls back
    to the sum of its chains' series in `chainTvls`.

        {"id": "1", "name": "Uniswap", "chain": "Ethereum", "category": "Dexes",
         "tvl": [{"date": 1588716000, "totalLiquidityUSD": 0.9892225217628695},
                 {"date": "1624406400.5", "totalLiquidityUSD": 4112596483.605813}]}
    """
    endpoint = PROTOCOL.format(slug=slug)
    if not isinstance(raw, Mapping):
        raise _wrong_envelope(raw, "an object", endpoint)
    parsed: Parsed[ProtocolFundamental] = Parsed()
    points = _tvl_points(raw, endpoint, parsed)
    name, category = _text_or_none(raw.get("name")), _text_or_none(raw.get("category"))
    for day, (ts, tvl) in sorted(points.items()):
        if since_day is not None and day < since_day:
            continue
        parsed.records.append(
            ProtocolFundamental(
                protocol=slug,
                day=day,
                ts=ts,
                source=NAME,
                name=name,
                category=category,
                chain=_main_chain(raw),
                tvl=tvl,
            )
        )
    return parsed


def parse_fees(raw: JSON, data_type: str, now_ms: int) -> Parsed[ProtocolFundamental]:
    """Today's fees (`dailyFees`) or revenue (`dailyRevenue`) totals over 24 h, 7 d and
    30 d of every protocol in the fees overview; they merge into the protocol's day row.

        {"total24h": 52183920, "protocols": [
          {"defillamaId": "2198", "name": "Uniswap V3", "displayName": "Uniswap V3",
           "slug": "uniswap-v3", "category": "Dexes", "chains": ["Ethereum"],
           "total24h": 1523481.2, "total7d": 10981220.4, "total30d": 45872019.9}]}
    """
    fields = FEE_FIELDS[data_type]
    if not isinstance(raw, Mapping) or not isinstance(raw.get("protocols"), list):
        raise _wrong_envelope(raw, "an object with a protocols list", FEES_OVERVIEW)

    def fees(row: JSON) -> ProtocolFundamental:
        totals: dict[str, Any] = {
            name: to_optional_decimal(require(row, total), total)
            for name, total in zip(fields, FEE_TOTALS, strict=True)
        }
        return dataclasses.replace(_protocol(row, now_ms), **totals)

    return parse_rows(raw["protocols"], fees, "ProtocolFundamental")


def parse_stablecoins(raw: JSON, now_ms: int) -> Skipping[OnchainMetric]:
    """The circulating supply (in units of its peg) of every stablecoin with a
    `gecko_id`, in the hour of `now_ms`; the others are skipped and listed.

        {"peggedAssets": [{"id": "1", "name": "Tether", "symbol": "USDT",
          "gecko_id": "tether", "pegType": "peggedUSD", "pegMechanism": "fiat-backed",
          "circulating": {"peggedUSD": 83456123456.12}, "price": 1.0003}]}
    """
    if not isinstance(raw, Mapping) or not isinstance(raw.get("peggedAssets"), list):
        raise _wrong_envelope(
            raw, "an object with a peggedAssets list", STABLECOINS, STABLECOINS_NAME
        )
    ts = floor_ts(now_ms, OnchainMetric.PERIOD)

    def stablecoin(row: JSON, gecko_id: JSON) -> OnchainMetric:
        supply = _circulating(row)
        asset = to_text(gecko_id, "gecko_id")
        return OnchainMetric(asset=asset, ts=ts, sources=(NAME,), circulating_supply=supply)

    return _by_gecko_id(raw["peggedAssets"], "symbol", stablecoin)


def top_protocols(stored: Sequence[ProtocolFundamental], count: int) -> list[str]:
    """The slugs of the `count` protocols with the highest TVL among `stored` rows."""
    with_tvl = [row for row in stored if row.tvl is not None]
    with_tvl.sort(key=lambda row: (-(row.tvl or Decimal(0)), row.protocol))
    return [row.protocol for row in with_tvl[:count]]


def _protocol(row: JSON, now_ms: int) -> ProtocolFundamental:
    """A protocol's row of today with its identity only; the caller adds its figures."""
    return ProtocolFundamental(
        protocol=to_text(require(row, "slug"), "slug"),
        day=floor_ts(now_ms, DAY),
        ts=now_ms,
        source=NAME,
        name=to_text(require(row, "name"), "name"),
        category=_optional_text(row.get("category"), "category"),
    )


def _by_gecko_id(
    rows: list[JSON], label: str, build: Callable[[JSON, JSON], OnchainMetric]
) -> Skipping[OnchainMetric]:
    """`parse_rows` over rows that name their coin by `gecko_id`; a row whose id is null
    is skipped and listed by its `label` field."""
    skipped: list[str] = []

    def metric(row: JSON) -> OnchainMetric | None:
        gecko_id = require(row, "gecko_id")
        if gecko_id is None:
            skipped.append(str(row.get(label)))
            return None
        return build(row, gecko_id)

    parsed = parse_rows(rows, metric, "OnchainMetric")
    return Skipping(parsed.records, parsed.violations, skipped)


def _circulating(row: Mapping[str, JSON]) -> Decimal:
    peg = to_text(require(row, "pegType"), "pegType")
    circulating = require(row, "circulating")
    if not isinstance(circulating, Mapping):
        raise FieldError("circulating", circulating, "must be an object keyed by peg type")
    return to_decimal(require(circulating, peg), f"circulating.{peg}")


def _tvl_points(
    raw: Mapping[str, JSON], endpoint: str, parsed: Parsed[ProtocolFundamental]
) -> dict[int, tuple[int, Decimal]]:
    """day -> (time, TVL) of the protocol's history; bad points become violations."""
    if "tvl" in raw:
        return _series_points(raw["tvl"], "tvl", parsed)
    chain_tvls = raw.get("chainTvls")
    if not isinstance(chain_tvls, Mapping):
        raise _wrong_envelope(raw, "a tvl or chainTvls history", endpoint)
    total: dict[int, tuple[int, Decimal]] = {}
    for chain, series in chain_tvls.items():
        if "-" in chain or chain.lower() in NOT_A_CHAIN or not isinstance(series, Mapping):
            continue
        for day, (ts, tvl) in _series_points(series.get("tvl"), chain, parsed).items():
            seen_ts, seen = total.get(day, (ts, Decimal(0)))
            total[day] = (max(ts, seen_ts), EXACT.add(seen, tvl))
    return total


def _series_points(
    series: JSON, name: str, parsed: Parsed[ProtocolFundamental]
) -> dict[int, tuple[int, Decimal]]:
    if not isinstance(series, list):
        error = FieldError(name, series, "must be a list of {date, totalLiquidityUSD}")
        parsed.violations.append(error.violation("ProtocolFundamental", series))
        return {}
    points: dict[int, tuple[int, Decimal]] = {}
    for point in series:
        try:
            ts = seconds_to_ms(require(point, "date"), "date")
            tvl = to_decimal(require(point, "totalLiquidityUSD"), "totalLiquidityUSD")
        except FieldError as error:
            parsed.violations.append(error.violation("ProtocolFundamental", point))
            continue
        day = floor_ts(ts, DAY)
        if day not in points or ts >= points[day][0]:
            points[day] = (ts, tvl)
    return points


def _main_chain(row: Mapping[str, JSON]) -> str | None:
    """The protocol's `chain`, else its only chain, else `Multi-Chain` for several."""
    chain = row.get("chain")
    if isinstance(chain, str) and chain:
        return chain
    chains = row.get("chains")
    if not isinstance(chains, list) or not chains:
        return None
    only = chains[0] if len(chains) == 1 else MULTI_CHAIN
    return only if isinstance(only, str) else None


def _optional_text(value: object, field_name: str) -> str | None:
    return None if value is None else to_text(value, field_name)


def _text_or_none(value: object) -> str | None:
    """A descriptive field of a history body: kept when it is text, else left out."""
    return value if isinstance(value, str) and value else None


def _expect_list(raw: JSON, endpoint: str) -> list[JSON]:
    if not isinstance(raw, list):
        raise _wrong_envelope(raw, "a list", endpoint)
    return raw


def _wrong_envelope(raw: JSON, expected: str, endpoint: str, source: str = NAME) -> PayloadError:
    message = raw.get("message") if isinstance(raw, Mapping) else None
    detail = f": {message}" if isinstance(message, str) else ""
    return PayloadError(
        source,
        f"expected {expected}, got {type(raw).__name__}{detail}",
        payload=raw,
        request=endpoint,
    )
