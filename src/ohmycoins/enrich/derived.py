"""Measures computed from stored data rather than fetched: NVT, supply inflation,
market cap to TVL, and the completeness score of an on-chain row.

What is stored and what is computed when read:
- `nvt` and `quality_score` of an on-chain row depend on that row alone, so
  `storage.measures.refresh_onchain` stores them right after the row is written or
  merged.
- the supply inflation rate needs an earlier observation, and market cap to TVL is a
  ratio of two columns a reader has at hand; both are computed when the API reads the
  rows (`inflation_rate`, `mcap_to_tvl`), so a late-arriving input never leaves a
  stale stored value behind.

Ratios keep `RATIO_DIGITS` significant digits: their inputs rarely carry more
meaning than that, and a 28-digit quotient would only be noise.
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Mapping, Sequence
from decimal import Context, Decimal
from typing import Any

from ohmycoins.timeframes import DAY_MS

__all__ = [
    "COMMON_FIELDS",
    "EXPECTED_FIELDS",
    "FETCHED_NVT_SOURCES",
    "INFLATION_LOOKBACK_MS",
    "INFLATION_SPAN_MS",
    "YEAR_MS",
    "expected_fields",
    "inflation_rate",
    "mcap_to_tvl",
    "nvt",
    "quality_score",
    "trailing_inflation",
]

RATIO_DIGITS = 12
_RATIO = Context(prec=RATIO_DIGITS)
_SCORE = Context(prec=4)
_EXACT = Context(prec=100)
"""Room for the exact products an inflation rate is one rounded quotient of."""
YEAR_MS = 365 * DAY_MS
"""The year an inflation rate is annualised to: 365 days."""
INFLATION_SPAN_MS = DAY_MS
INFLATION_LOOKBACK_MS = 7 * DAY_MS
"""A row's inflation rate compares it with the newest observation at least
`INFLATION_SPAN_MS` older (an hour's change is mostly noise of the supply feed), and
none when that one is more than `INFLATION_LOOKBACK_MS` older (too stale to say)."""

COMMON_FIELDS: tuple[str, ...] = (
    "block_height",
    "tx_count",
    "circulating_supply",
    "total_supply",
    "market_cap",
)
"""Fields every chain has, whatever its consensus: the set for an unknown network type."""

EXPECTED_FIELDS: Mapping[str, tuple[str, ...]] = {
    "pow": (
        *COMMON_FIELDS,
        "block_time_s",
        "hash_rate",
        "difficulty",
        "mempool_size",
        "fee_fast",
    ),
    "pos": (*COMMON_FIELDS, "staked_amount", "staking_ratio"),
}
"""The fields a row of an asset of each network type should have. Mining fields do not
count against proof-of-stake chains, staking fields not against proof-of-work ones.
Measures only keyed sources give (realized cap, MVRV, exchange flows) are extras:
present, they do not raise the score; missing, they do not lower it."""

FETCHED_NVT_SOURCES = frozenset({"glassnode"})
"""Sources that deliver an NVT of their own. A row one of them contributed to keeps
the NVT it holds; any other row's NVT is ours and is recomputed from its inputs."""


def expected_fields(network_type: str | None) -> tuple[str, ...]:
    """The fields expected of an asset of `network_type` (`COMMON_FIELDS` if unknown)."""
    return EXPECTED_FIELDS.get(network_type or "", COMMON_FIELDS)


def quality_score(values: Mapping[str, Any], network_type: str | None) -> Decimal:
    """Share of the expected fields present in `values`, in [0, 1] (4 digits)."""
    expected = expected_fields(network_type)
    present = sum(1 for name in expected if values.get(name) is not None)
    return _SCORE.divide(Decimal(present), Decimal(len(expected)))


def nvt(market_cap: Decimal | None, tx_volume_usd: Decimal | None) -> Decimal | None:
    """Network value to transactions: market cap ÷ on-chain transaction volume (USD).

    None when an input is missing or the volume is not positive."""
    if market_cap is None or tx_volume_usd is None or tx_volume_usd <= 0:
        return None
    return _RATIO.divide(market_cap, tx_volume_usd)


def mcap_to_tvl(market_cap: Decimal | None, tvl: Decimal | None) -> Decimal | None:
    """Market cap ÷ total value locked; None when an input is missing or TVL is not positive."""
    if market_cap is None or tvl is None or tvl <= 0:
        return None
    return _RATIO.divide(market_cap, tvl)


def inflation_rate(earlier: tuple[int, Decimal], later: tuple[int, Decimal]) -> Decimal | None:
    """Annualised change of circulating supply between two (ts, supply) observations.

    rate = (s2 - s1) / s1 * YEAR_MS / (t2 - t1): the relative change, scaled linearly
    to a 365-day year (0.0084 is 0.84 % a year; negative when supply is burnt). None
    when the observations are not in time order or the earlier supply is not positive."""
    (t1, s1), (t2, s2) = earlier, later
    if t2 <= t1 or s1 <= 0:
        return None
    numerator = _EXACT.multiply(_EXACT.subtract(s2, s1), YEAR_MS)
    return _RATIO.divide(numerator, _EXACT.multiply(s1, t2 - t1))


def trailing_inflation(
    history: Sequence[tuple[int, Decimal]], at: tuple[int, Decimal]
) -> Decimal | None:
    """The inflation rate at the (ts, supply) `at` against the `history` (oldest first)
    observation chosen as `INFLATION_SPAN_MS` says; None without one."""
    ts = at[0]
    index = bisect.bisect_right(history, ts - INFLATION_SPAN_MS, key=operator.itemgetter(0))
    if index == 0:
        return None
    base = history[index - 1]
    if base[0] < ts - INFLATION_LOOKBACK_MS:
        return None
    return inflation_rate(base, at)
