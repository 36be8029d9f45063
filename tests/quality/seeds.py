"""Glass data with known integrity problems, and the findings they must give.

The values sit where a float comparison of decimal text would be wrong (equal as
floats, different exactly), so a check that compared floats or text would miss or
invent findings.
"""

from __future__ import annotations

from decimal import Decimal as D

from ohmycoins.records import (
    Asset,
    CommunityMetric,
    MarketSnapshot,
    OnchainMetric,
    ProtocolFundamental,
    Record,
)
from tests import factories as f

HOUR = 3_600_000
DAY = 86_400_000
H0 = 1_700_002_800_000  # an hour boundary
D0 = 1_699_920_000_000  # a UTC midnight


def clean_records() -> list[Record]:
    """Glass data that breaks no rule, with values at the edges of every check."""
    return [
        Asset("bitcoin", "BTC", "Bitcoin", H0, network_type="pow"),
        Asset("ethereum", "ETH", "Ethereum", H0, network_type="pos"),
        *(
            OnchainMetric(
                "bitcoin",
                H0 + i * HOUR,
                ("blockchain_info",),
                block_height=817_000 + i,
                circulating_supply=D("19500000"),
                total_supply=D("21000000.0"),  # equal to max, written differently
                max_supply=D("21000000"),
                quality_score=D("1.0000"),
            )
            for i in range(3)
        ),
        OnchainMetric(
            "ethereum", H0, ("coingecko",), circulating_supply=D("120000000"), quality_score=D("0")
        ),
        f.market_snapshot(ts=H0, circulating_supply=D("21000000"), total_supply=D("21000000")),
        *(
            ProtocolFundamental("uniswap", D0 + i * DAY, D0 + i * DAY, "defillama", tvl=tvl)
            for i, tvl in enumerate([D("100"), D("150"), D("75")])  # +50 %, -50 %: not over
        ),
        ProtocolFundamental("aave", D0, D0, "defillama", tvl=D("10"), revenue_24h=D("-5")),
        ProtocolFundamental("aave", D0 + 3 * DAY, D0, "defillama", tvl=D("100")),  # after a gap
        ProtocolFundamental("lido", D0, D0, "defillama", tvl=D("0")),
        ProtocolFundamental("lido", D0 + DAY, D0, "defillama", tvl=D("500")),  # from zero
        CommunityMetric("bitcoin", H0, ("coingecko",), reddit_subscribers=0),
    ]


def broken_records() -> list[Record]:
    """One record per problem; `EXPECTED` lists what the checks must find."""
    return [
        OnchainMetric(
            "dogecoin",
            H0,
            ("coingecko",),
            circulating_supply=D("21000000.000000000000000001"),  # > total by 1e-18
            total_supply=D("21000000"),
        ),
        OnchainMetric(
            "litecoin",
            H0,
            ("coingecko",),
            total_supply=D("84000001"),
            max_supply=D("84000000"),
            quality_score=D("1.00000000000000000001"),
        ),
        OnchainMetric("solana", H0, ("coingecko",), staked_amount=D("-0.000000000000000001")),
        OnchainMetric("solana", H0 + HOUR, ("coingecko",), tx_count=-3, quality_score=D("-0.5")),
        OnchainMetric("bitcoin", H0 + 5 * HOUR, ("mempool",), block_height=816_990),
        MarketSnapshot(
            "coingecko",
            "tether",
            H0,
            "USDT",
            "usd",
            D("1"),
            circulating_supply=D("100"),
            max_supply=D("99.99"),
        ),
        ProtocolFundamental("curve", D0, D0, "defillama", tvl=D("100")),
        ProtocolFundamental("curve", D0 + DAY, D0, "defillama", tvl=D("150.0000000001")),
        ProtocolFundamental("curve", D0 + 2 * DAY, D0, "defillama", tvl=D("1"), fees_24h=D("-1")),
        CommunityMetric("dogecoin", H0, ("coingecko",), telegram_users=-1),
    ]


EXPECTED = {
    ("supply_order", "onchain_metrics", ("dogecoin", H0)),
    ("supply_order", "onchain_metrics", ("litecoin", H0)),
    ("quality_score_range", "onchain_metrics", ("litecoin", H0)),
    ("negative_value", "onchain_metrics", ("solana", H0)),
    ("negative_value", "onchain_metrics", ("solana", H0 + HOUR)),
    ("quality_score_range", "onchain_metrics", ("solana", H0 + HOUR)),
    ("block_height_decrease", "onchain_metrics", ("bitcoin", H0 + 5 * HOUR)),
    ("supply_order", "market_snapshots", ("coingecko", "tether", "usd", H0)),
    ("negative_value", "protocol_fundamentals", ("curve", D0 + 2 * DAY)),
    ("negative_value", "community_metrics", ("dogecoin", H0)),
    ("tvl_jump", "protocol_fundamentals", ("curve", D0 + DAY)),
    ("tvl_jump", "protocol_fundamentals", ("curve", D0 + 2 * DAY)),
}
"""(check, table, natural key) of every finding the broken records add to the clean ones."""
