"""Response bodies of the glass, macro and quality endpoints, as the OpenAPI schema
describes them. Decimals are exact strings, times UTC epoch milliseconds (see
`schemas.py`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ohmycoins.api.schemas import DecimalStr, EpochMs, NextCursor

Sources = list[str]


class ProtocolOut(BaseModel):
    protocol: str = Field(description="DeFiLlama protocol slug, e.g. `uniswap`.")
    day: EpochMs = Field(description="The UTC day (its midnight) the values are for.")
    ts: EpochMs = Field(description="When the values were observed.")
    source: str
    name: str | None
    category: str | None
    chain: str | None
    tvl: DecimalStr | None = Field(description="Total value locked, USD.")
    fees_24h: DecimalStr | None
    fees_7d: DecimalStr | None
    fees_30d: DecimalStr | None
    revenue_24h: DecimalStr | None
    revenue_7d: DecimalStr | None
    revenue_30d: DecimalStr | None
    market_cap: DecimalStr | None
    mcap_to_tvl: DecimalStr | None = Field(
        description="market_cap / tvl, computed when read; null without both."
    )


class ProtocolPage(BaseModel):
    data: list[ProtocolOut]
    next: NextCursor


class OnchainOut(BaseModel):
    asset: str = Field(description="CoinGecko id of the asset, e.g. `bitcoin`.")
    ts: EpochMs = Field(description="Start of the hour the values were observed in.")
    sources: Sources = Field(description="The sources that contributed to the row.")
    block_height: int | None
    block_time_s: DecimalStr | None
    hash_rate: DecimalStr | None = Field(description="Hashes per second.")
    difficulty: DecimalStr | None
    tx_count: int | None
    tx_volume_usd: DecimalStr | None
    active_addresses: int | None
    mempool_size: int | None
    fee_fast: DecimalStr | None
    fee_medium: DecimalStr | None
    fee_slow: DecimalStr | None
    gas_price_gwei: DecimalStr | None
    circulating_supply: DecimalStr | None
    total_supply: DecimalStr | None
    max_supply: DecimalStr | None
    market_cap: DecimalStr | None
    realized_cap: DecimalStr | None
    mvrv: DecimalStr | None
    nvt: DecimalStr | None = Field(
        description="Fetched where a source gives it, else market_cap / tx_volume_usd."
    )
    exchange_inflow: DecimalStr | None
    exchange_outflow: DecimalStr | None
    commits_4w: int | None
    stars: int | None
    contributors: int | None
    staked_amount: DecimalStr | None
    staking_ratio: DecimalStr | None
    tvl: DecimalStr | None
    quality_score: DecimalStr | None = Field(
        description="Share of the fields expected for the asset's network type present, 0 to 1."
    )
    inflation_rate: DecimalStr | None = Field(
        description="Annualised change of circulating supply against the newest observation "
        "at least a day (at most a week) older, computed when read; 0.01 is 1 % a year."
    )
    mcap_to_tvl: DecimalStr | None = Field(
        description="market_cap / tvl, computed when read; null without both."
    )


class OnchainPage(BaseModel):
    data: list[OnchainOut]
    next: NextCursor


class CommunityOut(BaseModel):
    asset: str
    ts: EpochMs
    sources: Sources
    reddit_subscribers: int | None
    reddit_active_accounts: int | None
    telegram_users: int | None
    twitter_followers: int | None


class CommunityPage(BaseModel):
    data: list[CommunityOut]
    next: NextCursor


class MacroOut(BaseModel):
    series_id: str = Field(description="The series, e.g. `DGS10` (FRED) or `yahoo:^GSPC`.")
    ts: EpochMs = Field(description="The observation's date, UTC midnight.")
    source: str
    value: DecimalStr | None = Field(description="Null where the source has no value.")


class MacroPage(BaseModel):
    data: list[MacroOut]
    next: NextCursor


class FindingOut(BaseModel):
    check: str = Field(description="The integrity check, e.g. `supply_order`.")
    table: str
    key: dict[str, str | int] = Field(description="The natural key of the row.")
    detail: str
    severity: Literal["violation", "anomaly"]


class IntegrityOut(BaseModel):
    violations: int = Field(description="Findings that cannot be right.")
    anomalies: int = Field(description="Findings that are possible but worth a look.")
    findings: list[FindingOut]


class FieldCoverageOut(BaseModel):
    field: str
    present: int = Field(description="Rows of the window that have the field.")
    percent: float | None = Field(description="present / rows * 100; null without rows.")


class TableCoverageOut(BaseModel):
    table: str
    rows: int
    fields: list[FieldCoverageOut]


class CoverageOut(BaseModel):
    hours: float
    since_ts: EpochMs
    until_ts: EpochMs
    tables: list[TableCoverageOut]
