"""Domain records: the one vocabulary every layer speaks.

Records are frozen, slotted dataclasses. Conventions, the same for every record:
- times are UTC epoch milliseconds (`ts`), the unit of the candle contract, negative
  before 1970 (`timeframes.MIN_TS`, 1900, is the earliest a rule accepts);
- prices and amounts are `Decimal`, exactly as the source sent them, and are stored
  exactly (NUMERIC on PostgreSQL, decimal text on SQLite);
- `KEY` names the natural key: writing a record with the same key again updates the
  stored row according to `MERGE`, so re-running a collection never duplicates rows.

Construction does no checking, so parsing a million candles stays cheap; the rules
live in `ohmycoins.quality.rules` and run before anything is stored.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import types
import typing
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

UNIFIED_SYMBOL = re.compile(r"^[A-Z0-9]+/[A-Z0-9]+$")
"""A market as ccxt names it, base/quote: `BTC/USDT`."""

Level = tuple[Decimal, Decimal]
"""One order-book level: (price, amount)."""


class Merge(enum.Enum):
    """What happens when a stored row receives a record with the same key."""

    REPLACE = "replace"
    """The newer record wins (a candle still forming, a revised macro value)."""
    KEEP = "keep"
    """The stored row wins: the record is immutable (a trade)."""
    COALESCE = "coalesce"
    """Partial rows merge: a NULL never erases a value; fields a record names in
    `MONOTONIC` (block heights) never go back, those in `EARLIEST` (a first-fetch time)
    never move forward; tuples it names in `UNION` accumulate."""


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLCV bar; `ts` is the open time. `volume` is None where the source has none
    (CoinGecko's OHLC endpoint), never a made-up zero.

    A candle the exchange served has `derived_from` None. A rollup (retention, before
    detail is deleted) names what it was made of (`1m`, `1h`, `trades`) and in
    `minutes` how many minutes of detail it holds: a complete 1h rollup has 60, one
    over an hour with a hole or a quarantined minute fewer. A rollup never replaces a
    served candle, nor a rollup holding more minutes (`YIELDS_TO`, `GROWS`)."""

    exchange: str
    symbol: str
    timeframe: str
    ts: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal | None
    derived_from: str | None = None
    minutes: int | None = None

    TABLE: ClassVar[str] = "candles"
    KEY: ClassVar[tuple[str, ...]] = ("exchange", "symbol", "timeframe", "ts")
    MERGE: ClassVar[Merge] = Merge.REPLACE
    YIELDS_TO: ClassVar[str] = "derived_from"
    GROWS: ClassVar[str] = "minutes"


@dataclass(frozen=True, slots=True)
class Ticker:
    """Best prices and 24 h statistics of one market at one moment."""

    exchange: str
    symbol: str
    ts: int
    last: Decimal
    bid: Decimal | None = None
    ask: Decimal | None = None
    high_24h: Decimal | None = None
    low_24h: Decimal | None = None
    open_24h: Decimal | None = None
    base_volume_24h: Decimal | None = None
    quote_volume_24h: Decimal | None = None
    change_pct_24h: Decimal | None = None

    TABLE: ClassVar[str] = "tickers"
    KEY: ClassVar[tuple[str, ...]] = ("exchange", "symbol", "ts")
    MERGE: ClassVar[Merge] = Merge.REPLACE


@dataclass(frozen=True, slots=True)
class Trade:
    """One public trade; `side` is the taker's side, `buy` or `sell`."""

    exchange: str
    symbol: str
    trade_id: str
    ts: int
    price: Decimal
    amount: Decimal
    side: str

    TABLE: ClassVar[str] = "trades"
    KEY: ClassVar[tuple[str, ...]] = ("exchange", "symbol", "trade_id")
    MERGE: ClassVar[Merge] = Merge.KEEP


@dataclass(frozen=True, slots=True)
class OrderBook:
    """An L2 snapshot: bids best (highest) first, asks best (lowest) first.

    The derived measures are stored beside the levels so the API and features can
    query them without decoding the book.
    """

    exchange: str
    symbol: str
    ts: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]

    TABLE: ClassVar[str] = "orderbooks"
    KEY: ClassVar[tuple[str, ...]] = ("exchange", "symbol", "ts")
    MERGE: ClassVar[Merge] = Merge.REPLACE
    DERIVED: ClassVar[tuple[str, ...]] = (
        "mid",
        "spread",
        "imbalance",
        "bid_liquidity_0_1pct",
        "ask_liquidity_0_1pct",
        "bid_liquidity_1pct",
        "ask_liquidity_1pct",
    )

    @property
    def mid(self) -> Decimal | None:
        if not self.bids or not self.asks:
            return None
        return (self.bids[0][0] + self.asks[0][0]) / 2

    @property
    def spread(self) -> Decimal | None:
        if not self.bids or not self.asks:
            return None
        return self.asks[0][0] - self.bids[0][0]

    @property
    def imbalance(self) -> Decimal | None:
        """(bid amount - ask amount) / (bid amount + ask amount), in [-1, 1]."""
        bid_amount = sum((amount for _, amount in self.bids), Decimal(0))
        ask_amount = sum((amount for _, amount in self.asks), Decimal(0))
        total = bid_amount + ask_amount
        return (bid_amount - ask_amount) / total if total else None

    def liquidity_within(self, pct: Decimal) -> tuple[Decimal, Decimal] | None:
        """Quote value of bids and of asks priced within `pct` percent of the mid."""
        mid = self.mid
        if mid is None:
            return None
        band = mid * pct / 100
        bids = sum((p * a for p, a in self.bids if p >= mid - band), Decimal(0))
        asks = sum((p * a for p, a in self.asks if p <= mid + band), Decimal(0))
        return bids, asks

    @property
    def bid_liquidity_0_1pct(self) -> Decimal | None:
        both = self.liquidity_within(Decimal("0.1"))
        return both[0] if both else None

    @property
    def ask_liquidity_0_1pct(self) -> Decimal | None:
        both = self.liquidity_within(Decimal("0.1"))
        return both[1] if both else None

    @property
    def bid_liquidity_1pct(self) -> Decimal | None:
        both = self.liquidity_within(Decimal(1))
        return both[0] if both else None

    @property
    def ask_liquidity_1pct(self) -> Decimal | None:
        both = self.liquidity_within(Decimal(1))
        return both[1] if both else None


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """An asset's aggregate market data (CoinGecko /coins/markets) at one moment."""

    source: str
    asset_id: str
    ts: int
    symbol: str
    vs_currency: str
    price: Decimal
    market_cap: Decimal | None = None
    rank: int | None = None
    volume_24h: Decimal | None = None
    high_24h: Decimal | None = None
    low_24h: Decimal | None = None
    open_24h: Decimal | None = None
    change_pct_24h: Decimal | None = None
    circulating_supply: Decimal | None = None
    total_supply: Decimal | None = None
    max_supply: Decimal | None = None

    TABLE: ClassVar[str] = "market_snapshots"
    KEY: ClassVar[tuple[str, ...]] = ("source", "asset_id", "vs_currency", "ts")
    MERGE: ClassVar[Merge] = Merge.REPLACE


@dataclass(frozen=True, slots=True)
class Asset:
    """A coin of the universe; `asset_id` is its CoinGecko id where it has one."""

    asset_id: str
    symbol: str
    name: str
    updated_ts: int
    coingecko_id: str | None = None
    network_type: str | None = None
    rank: int | None = None
    active: bool = True

    TABLE: ClassVar[str] = "assets"
    KEY: ClassVar[tuple[str, ...]] = ("asset_id",)
    MERGE: ClassVar[Merge] = Merge.COALESCE


@dataclass(frozen=True, slots=True)
class ProtocolFundamental:
    """A DeFi protocol's fundamentals for one UTC day (`day` is midnight, epoch ms)."""

    protocol: str
    day: int
    ts: int
    source: str
    name: str | None = None
    category: str | None = None
    chain: str | None = None
    tvl: Decimal | None = None
    fees_24h: Decimal | None = None
    fees_7d: Decimal | None = None
    fees_30d: Decimal | None = None
    revenue_24h: Decimal | None = None
    revenue_7d: Decimal | None = None
    revenue_30d: Decimal | None = None
    market_cap: Decimal | None = None

    TABLE: ClassVar[str] = "protocol_fundamentals"
    KEY: ClassVar[tuple[str, ...]] = ("protocol", "day")
    MERGE: ClassVar[Merge] = Merge.COALESCE


@dataclass(frozen=True, slots=True)
class OnchainMetric:
    """Network, supply, valuation, development and staking measures of one asset.

    Several sources fill different fields of the same (asset, ts); rows merge with
    the COALESCE rule and `sources` lists who contributed. `ts` is the start of the
    `PERIOD` the values were observed in (`floor_ts(now, PERIOD)`), so what different
    sources observe in the same hour meets in one row.
    """

    asset: str
    ts: int
    sources: tuple[str, ...]
    block_height: int | None = None
    block_time_s: Decimal | None = None
    hash_rate: Decimal | None = None
    difficulty: Decimal | None = None
    tx_count: int | None = None
    tx_volume_usd: Decimal | None = None
    active_addresses: int | None = None
    mempool_size: int | None = None
    fee_fast: Decimal | None = None
    fee_medium: Decimal | None = None
    fee_slow: Decimal | None = None
    gas_price_gwei: Decimal | None = None
    circulating_supply: Decimal | None = None
    total_supply: Decimal | None = None
    max_supply: Decimal | None = None
    market_cap: Decimal | None = None
    realized_cap: Decimal | None = None
    mvrv: Decimal | None = None
    nvt: Decimal | None = None
    exchange_inflow: Decimal | None = None
    exchange_outflow: Decimal | None = None
    commits_4w: int | None = None
    stars: int | None = None
    contributors: int | None = None
    staked_amount: Decimal | None = None
    staking_ratio: Decimal | None = None
    tvl: Decimal | None = None
    quality_score: Decimal | None = None

    PERIOD: ClassVar[str] = "1h"
    TABLE: ClassVar[str] = "onchain_metrics"
    KEY: ClassVar[tuple[str, ...]] = ("asset", "ts")
    MERGE: ClassVar[Merge] = Merge.COALESCE
    MONOTONIC: ClassVar[tuple[str, ...]] = ("block_height",)
    UNION: ClassVar[tuple[str, ...]] = ("sources",)


@dataclass(frozen=True, slots=True)
class NewsItem:
    """A news article; `item_id` is derived from its canonical URL.

    `published_ts` is the time the source says it was published, None where no date
    could be read (the date is unknown, never replaced by another time); `fetched_ts`
    is when it was first fetched (None on rows stored before it was recorded)."""

    item_id: str
    url: str
    title: str
    outlet: str
    published_ts: int | None
    source: str
    summary: str | None = None
    currencies: tuple[str, ...] = ()
    sentiment_label: str | None = None
    sentiment_score: Decimal | None = None
    sentiment_confidence: Decimal | None = None
    sentiment_model: str | None = None
    fetched_ts: int | None = None

    TABLE: ClassVar[str] = "news_items"
    KEY: ClassVar[tuple[str, ...]] = ("item_id",)
    MERGE: ClassVar[Merge] = Merge.COALESCE
    EARLIEST: ClassVar[tuple[str, ...]] = ("fetched_ts",)

    @property
    def listed_ts(self) -> int | None:
        """The time the item is listed and windowed by: its publish time, or where that
        is unknown the time it was first fetched (when it became known to us)."""
        return self.fetched_ts if self.published_ts is None else self.published_ts


@dataclass(frozen=True, slots=True)
class SocialPost:
    """A post on a social platform (a Reddit submission, a tweet)."""

    platform: str
    post_id: str
    ts: int
    community: str | None = None
    author: str | None = None
    title: str | None = None
    text: str | None = None
    url: str | None = None
    score: int | None = None
    comments: int | None = None
    currencies: tuple[str, ...] = ()
    sentiment_label: str | None = None
    sentiment_score: Decimal | None = None
    sentiment_confidence: Decimal | None = None
    sentiment_model: str | None = None

    TABLE: ClassVar[str] = "social_posts"
    KEY: ClassVar[tuple[str, ...]] = ("platform", "post_id")
    MERGE: ClassVar[Merge] = Merge.COALESCE


@dataclass(frozen=True, slots=True)
class CommunityMetric:
    """Community size of one asset in one `PERIOD` (see `OnchainMetric`); partial rows merge."""

    asset: str
    ts: int
    sources: tuple[str, ...]
    reddit_subscribers: int | None = None
    reddit_active_accounts: int | None = None
    telegram_users: int | None = None
    twitter_followers: int | None = None

    PERIOD: ClassVar[str] = "1h"
    TABLE: ClassVar[str] = "community_metrics"
    KEY: ClassVar[tuple[str, ...]] = ("asset", "ts")
    MERGE: ClassVar[Merge] = Merge.COALESCE
    UNION: ClassVar[tuple[str, ...]] = ("sources",)


@dataclass(frozen=True, slots=True)
class CatalystEvent:
    """A market-moving event with an impact score from 1 (minor) to 10 (major).

    The same event reported by several sources is one row: its assets, sources and
    urls accumulate and its impact keeps the highest score given.
    """

    event_id: str
    event_type: str
    ts: int
    title: str
    impact: int
    assets: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    exchange: str | None = None

    TABLE: ClassVar[str] = "catalyst_events"
    KEY: ClassVar[tuple[str, ...]] = ("event_id",)
    MERGE: ClassVar[Merge] = Merge.COALESCE
    MONOTONIC: ClassVar[tuple[str, ...]] = ("impact",)
    UNION: ClassVar[tuple[str, ...]] = ("assets", "sources", "urls")


@dataclass(frozen=True, slots=True)
class MacroObservation:
    """One value of a macro series; `value` is None where the source has none (FRED ".").

    `ts` is the date the value describes; `released_ts` the day it was first published
    (FRED's `realtime_start` of its first vintage: March's CPI in mid-April), None where
    the source does not say. Point-in-time features join a value by its release."""

    series_id: str
    ts: int
    source: str
    value: Decimal | None
    released_ts: int | None = None

    TABLE: ClassVar[str] = "macro_observations"
    KEY: ClassVar[tuple[str, ...]] = ("series_id", "ts")
    MERGE: ClassVar[Merge] = Merge.REPLACE


@dataclass(frozen=True, slots=True)
class CollectorRun:
    """One run of one collector, with its numbers and quality score."""

    run_id: str
    collector: str
    status: str
    started_ts: int
    finished_ts: int | None = None
    records_written: int = 0
    records_quarantined: int = 0
    accuracy: Decimal | None = None
    completeness: Decimal | None = None
    timeliness: Decimal | None = None
    quality: Decimal | None = None
    error: str | None = None

    TABLE: ClassVar[str] = "collector_runs"
    KEY: ClassVar[tuple[str, ...]] = ("run_id",)
    MERGE: ClassVar[Merge] = Merge.REPLACE


@dataclass(frozen=True, slots=True)
class QuarantinedRecord:
    """A record that broke a rule, kept with the rule and the raw payload it came from."""

    fingerprint: str
    record_type: str
    source: str
    rule: str
    payload: str
    ts: int

    TABLE: ClassVar[str] = "quarantine"
    KEY: ClassVar[tuple[str, ...]] = ("fingerprint",)
    MERGE: ClassVar[Merge] = Merge.KEEP
    SEEN: ClassVar[tuple[str, ...]] = ("source", "ts")
    """Fields that say where and when the row was seen, not what it is: the same
    violation seen again is the same row, not a conflicting one (see `Conflict`)."""


@dataclass(frozen=True, slots=True)
class TradeStats:
    """Trade statistics of one market over one hour (`ts`: its open), rolled up from
    the trades before they are deleted. Volumes are in the base currency; `quote_volume`
    is the exact sum of price times amount."""

    exchange: str
    symbol: str
    ts: int
    trades: int
    buy_trades: int
    sell_trades: int
    volume: Decimal
    buy_volume: Decimal
    sell_volume: Decimal
    quote_volume: Decimal
    largest_amount: Decimal

    TABLE: ClassVar[str] = "trade_stats"
    KEY: ClassVar[tuple[str, ...]] = ("exchange", "symbol", "ts")
    MERGE: ClassVar[Merge] = Merge.REPLACE
    GROWS: ClassVar[str] = "trades"


@dataclass(frozen=True, slots=True)
class BookStats:
    """Spread and depth statistics of one market's order-book snapshots over one hour
    (`ts`: its open), rolled up before the snapshots are deleted. Means are the exact
    sum divided by `snapshots`, rounded to 28 significant digits; depths are the quote
    value within 1 % of the mid."""

    exchange: str
    symbol: str
    ts: int
    snapshots: int
    spread_min: Decimal | None
    spread_max: Decimal | None
    spread_mean: Decimal | None
    mid_mean: Decimal | None
    bid_depth_1pct_mean: Decimal | None
    ask_depth_1pct_mean: Decimal | None
    imbalance_mean: Decimal | None

    TABLE: ClassVar[str] = "book_stats"
    KEY: ClassVar[tuple[str, ...]] = ("exchange", "symbol", "ts")
    MERGE: ClassVar[Merge] = Merge.REPLACE
    GROWS: ClassVar[str] = "snapshots"


@dataclass(frozen=True, slots=True)
class SentimentDaily:
    """Sentiment of one UTC day (`day`: midnight) of news items or social posts (`kind`),
    for one currency they mention (`*`: all of them), rolled up before they are deleted.
    `score_mean` is `score_sum / scored` rounded to 28 significant digits."""

    kind: str
    currency: str
    day: int
    items: int
    scored: int
    positive: int
    negative: int
    neutral: int
    score_sum: Decimal | None
    score_mean: Decimal | None

    TABLE: ClassVar[str] = "sentiment_daily"
    KEY: ClassVar[tuple[str, ...]] = ("kind", "currency", "day")
    MERGE: ClassVar[Merge] = Merge.REPLACE
    GROWS: ClassVar[str] = "items"


@dataclass(frozen=True, slots=True)
class Conflict:
    """A record of an immutable type (`Merge.KEEP`) whose key is already stored, or
    came earlier in the same batch, with other values: the first one is kept as it is,
    and this one is refused, to be quarantined with both versions."""

    stored: Record
    received: Record

    def fields(self) -> tuple[str, ...]:
        """The fields whose values differ."""
        return tuple(
            field.name
            for field in dataclasses.fields(self.received)
            if getattr(self.stored, field.name) != getattr(self.received, field.name)
        )


def same_row(stored: Any, received: Any) -> bool:
    """Whether an immutable record received again is the one stored (decimals compare by
    value: `0.10` is `0.1`), ignoring the fields its type names in `SEEN`."""
    if stored == received:
        return True
    seen = getattr(received, "SEEN", ())
    return all(
        getattr(stored, f.name) == getattr(received, f.name)
        for f in dataclasses.fields(received)
        if f.name not in seen
    )


Record = (
    Candle
    | Ticker
    | Trade
    | OrderBook
    | MarketSnapshot
    | Asset
    | ProtocolFundamental
    | OnchainMetric
    | NewsItem
    | SocialPost
    | CommunityMetric
    | CatalystEvent
    | MacroObservation
    | CollectorRun
    | QuarantinedRecord
    | TradeStats
    | BookStats
    | SentimentDaily
)

RECORD_TYPES: tuple[type[Record], ...] = (
    Candle,
    Ticker,
    Trade,
    OrderBook,
    MarketSnapshot,
    Asset,
    ProtocolFundamental,
    OnchainMetric,
    NewsItem,
    SocialPost,
    CommunityMetric,
    CatalystEvent,
    MacroObservation,
    CollectorRun,
    QuarantinedRecord,
    TradeStats,
    BookStats,
    SentimentDaily,
)


@dataclass(frozen=True, slots=True)
class FieldType:
    """One field of a record type as storage, validation and clients need it."""

    name: str
    annotation: Any
    """The declared type without `None`, e.g. `Decimal` or `tuple[str, ...]`."""
    kind: type
    """Its runtime class: `Decimal`, `int`, `str`, `bool` or `tuple`."""
    nullable: bool


_FIELD_TYPES: dict[type[Any], tuple[FieldType, ...]] = {}


def field_types(record_type: type[Any]) -> tuple[FieldType, ...]:
    """The fields of a record type in declaration order, read once from its annotations."""
    if record_type in _FIELD_TYPES:
        return _FIELD_TYPES[record_type]
    hints = typing.get_type_hints(record_type)
    fields = []
    for field in dataclasses.fields(record_type):
        annotation = hints[field.name]
        args = typing.get_args(annotation)
        nullable = isinstance(annotation, types.UnionType) and type(None) in args
        if nullable:
            (annotation,) = [arg for arg in args if arg is not type(None)]
        kind = typing.get_origin(annotation) or annotation
        fields.append(FieldType(field.name, annotation, kind, nullable))
    _FIELD_TYPES[record_type] = tuple(fields)
    return _FIELD_TYPES[record_type]


def field_names(record_type: type[Any]) -> tuple[str, ...]:
    return tuple(field.name for field in field_types(record_type))


def time_fields(record_type: type[Any]) -> tuple[str, ...]:
    """The fields holding times (epoch ms, negative before 1970): `ts`, `day` and
    the `…_ts` fields."""
    return tuple(
        field.name
        for field in field_types(record_type)
        if field.kind is int and (field.name in ("ts", "day") or field.name.endswith("_ts"))
    )


def decimal_fields(record_type: type[Any]) -> tuple[str, ...]:
    """The fields holding exact decimals (prices, amounts, measures)."""
    return tuple(field.name for field in field_types(record_type) if field.kind is Decimal)
