"""Response bodies as the OpenAPI schema describes them.

Prices and amounts are exact decimal strings (`"0.00001234"`), never JSON numbers,
so no digit the source sent is lost to a float. Times are UTC epoch milliseconds.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

DECIMAL_PATTERN = r"^-?\d+(\.\d+)?$"
DecimalStr = Annotated[
    str,
    Field(
        description="Exact decimal as a string, as the source sent it (no float rounding).",
        examples=["37000.10"],
        pattern=DECIMAL_PATTERN,
    ),
]
EpochMs = Annotated[int, Field(description="UTC epoch milliseconds, negative before 1970.")]
NextCursor = Annotated[
    str | None,
    Field(description="Pass as `cursor` to get the next page; null on the last page."),
]


class Message(BaseModel):
    detail: str


class Health(BaseModel):
    status: Literal["ok"]
    demo: bool = Field(
        default=False,
        description="This process collects the built-in exchange simulator (`omc run "
        "--demo`): its data are simulated, stored under the exchange `sim`.",
    )


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    database: Literal["ok", "unreachable", "migrations pending"]
    detail: str | None = None


class AlertOut(BaseModel):
    rule: str = Field(
        description="stale, quality, circuit_open, quarantine_spike, disk_full, backup_failed."
    )
    subject: str = Field(description="What it is about: a collector, a source, a path.")
    state: Literal["firing", "resolved"]
    message: str
    since_ts: EpochMs = Field(description="When it started firing.")
    updated_ts: EpochMs
    resolved_ts: EpochMs | None = None
    sent_ts: EpochMs | None = Field(
        default=None, description="When the last message about it was delivered."
    )


class AlertsOut(BaseModel):
    firing: int = Field(description="How many of the alerts listed are firing.")
    alerts: list[AlertOut]


class CandleOut(BaseModel):
    exchange: str
    symbol: str
    timeframe: str
    ts: EpochMs = Field(description="Open time of the candle, UTC epoch milliseconds.")
    open: DecimalStr
    high: DecimalStr
    low: DecimalStr
    close: DecimalStr
    volume: DecimalStr | None = Field(description="Base volume; null where the source has none.")
    derived_from: str | None = Field(
        default=None,
        description="Null for a candle the exchange served; for a rollup kept after its "
        "detail was deleted, what it was made of: `1m`, `1h` or `trades`.",
    )
    minutes: int | None = Field(
        default=None,
        description="For a rollup, the minutes of detail it holds (60 of 60 for a complete "
        "hour); null for a candle the exchange served.",
    )


class CandlePage(BaseModel):
    data: list[CandleOut]
    next: NextCursor


class TradeOut(BaseModel):
    exchange: str
    symbol: str
    trade_id: str
    ts: EpochMs
    price: DecimalStr
    amount: DecimalStr
    side: Literal["buy", "sell"] = Field(description="The taker's side.")


class TradePage(BaseModel):
    data: list[TradeOut]
    next: NextCursor


class TickerOut(BaseModel):
    exchange: str
    symbol: str
    ts: EpochMs
    last: DecimalStr
    bid: DecimalStr | None
    ask: DecimalStr | None
    high_24h: DecimalStr | None
    low_24h: DecimalStr | None
    open_24h: DecimalStr | None
    base_volume_24h: DecimalStr | None
    quote_volume_24h: DecimalStr | None
    change_pct_24h: DecimalStr | None


class OrderBookOut(BaseModel):
    exchange: str
    symbol: str
    ts: EpochMs
    bids: list[tuple[DecimalStr, DecimalStr]] = Field(
        description="[price, amount] levels, best (highest) first."
    )
    asks: list[tuple[DecimalStr, DecimalStr]] = Field(
        description="[price, amount] levels, best (lowest) first."
    )
    mid: DecimalStr | None
    spread: DecimalStr | None
    imbalance: DecimalStr | None = Field(
        description="(bid amount - ask amount) / (bid amount + ask amount), in [-1, 1]."
    )


class MarketOut(BaseModel):
    source: str
    asset_id: str
    ts: EpochMs
    symbol: str
    vs_currency: str
    price: DecimalStr
    market_cap: DecimalStr | None
    rank: int | None
    volume_24h: DecimalStr | None
    high_24h: DecimalStr | None
    low_24h: DecimalStr | None
    open_24h: DecimalStr | None
    change_pct_24h: DecimalStr | None
    circulating_supply: DecimalStr | None
    total_supply: DecimalStr | None
    max_supply: DecimalStr | None


class AssetOut(BaseModel):
    asset_id: str
    symbol: str
    name: str
    updated_ts: EpochMs
    coingecko_id: str | None
    network_type: str | None
    rank: int | None
    active: bool


class CollectorOut(BaseModel):
    name: str
    source: str | None = Field(description="Null when no collector of this process runs it.")
    enabled: bool | None
    paused: bool
    running: bool = Field(description="A worker holds a live lease on it now.")
    priority: int
    interval_seconds: float | None
    cron: str | None
    next_run_ts: EpochMs
    last_run_ts: EpochMs | None
    last_status: str | None
    last_error: str | None
    circuit_state: Literal["closed", "open", "half_open"]
    consecutive_failures: int


class RunOut(BaseModel):
    run_id: str
    status: str
    started_ts: EpochMs
    finished_ts: EpochMs | None
    records_written: int
    records_quarantined: int
    quality: DecimalStr | None
    error: str | None


class CollectorHealth(BaseModel):
    name: str
    source: str | None
    status: Literal["ok", "failing", "circuit_open", "paused", "never_run"]
    last_run: RunOut | None
    last_error: str | None
    circuit_state: Literal["closed", "open", "half_open"]
    last_success_ts: EpochMs | None
    freshness_seconds: float | None = Field(
        description="Seconds since the last successful run finished; null if none did."
    )
    quota_used: int | None = Field(description="Calls to its source this UTC month.")
    quota_limit: int | None = Field(description="The source's monthly quota, if any.")


class SwitchedOff(BaseModel):
    name: str
    source: str
    ledger: str
    status: str = Field(description="Why it does not run, e.g. `disabled: no API key`.")


class StreamHealth(BaseModel):
    """A live stream's latest report (published by the worker that holds it)."""

    messages: int
    messages_per_second: float
    exchange_lag_ms: int | None = Field(description="Receive time minus the exchange's.")
    publish_lag_ms: int | None = Field(description="From receiving to publishing a batch.")
    reconnects: int
    resyncs: int = Field(description="Books discarded and rebuilt from a fresh snapshot.")
    stale_seconds: float = Field(description="Time spent on sockets that had gone quiet.")
    quiet_seconds: float | None = Field(description="Seconds since the last message.")
    queue_depth: int
    spilled: int = Field(description="Latest-value records dropped on a full queue.")
    stored: int
    quarantined: int
    filled: int = Field(description="Missed trades fetched over REST by id.")
    reported_ts: EpochMs


class CollectorsHealth(BaseModel):
    collectors: list[CollectorHealth]
    streams: dict[str, StreamHealth] = Field(
        default_factory=dict, description="Live streams by collector name."
    )
    disabled: list[SwitchedOff] = Field(
        description="Collectors that cannot run as configured (a keyed source without its key)."
    )
    quota_used: dict[str, int] = Field(description="Calls per source this UTC month.")
