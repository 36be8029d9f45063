"""Small factories: one valid record of each type, with overridable fields."""

from __future__ import annotations

import dataclasses
from decimal import Decimal as D
from typing import Any

from ohmycoins.records import (
    Asset,
    Candle,
    CatalystEvent,
    CollectorRun,
    CommunityMetric,
    MacroObservation,
    MarketSnapshot,
    NewsItem,
    OnchainMetric,
    OrderBook,
    ProtocolFundamental,
    QuarantinedRecord,
    Record,
    SocialPost,
    Ticker,
    Trade,
)

T0 = 1_700_000_040_000  # a minute boundary in 2023


def candle(**changes: Any) -> Candle:
    base = Candle(
        "binance",
        "BTC/USDT",
        "1m",
        T0,
        D("37000.10"),
        D("37010.5"),
        D("36990"),
        D("37005.25"),
        D("12.34567890"),
    )
    return dataclasses.replace(base, **changes)


def ticker(**changes: Any) -> Ticker:
    base = Ticker(
        "binance",
        "BTC/USDT",
        T0,
        D("37005.25"),
        D("37005.24"),
        D("37005.26"),
        D("37500"),
        D("36500"),
        D("36800"),
        D("1234.5"),
        D("45678901.23"),
        D("0.56"),
    )
    return dataclasses.replace(base, **changes)


def trade(**changes: Any) -> Trade:
    base = Trade("binance", "BTC/USDT", "1001", T0 + 1234, D("37001.01"), D("0.00120000"), "buy")
    return dataclasses.replace(base, **changes)


def orderbook(**changes: Any) -> OrderBook:
    base = OrderBook(
        "binance",
        "BTC/USDT",
        T0,
        bids=((D("37000.00"), D("1.5")), (D("36999.50"), D("2"))),
        asks=((D("37000.50"), D("0.7")), (D("37010.00"), D("3.25"))),
    )
    return dataclasses.replace(base, **changes)


def market_snapshot(**changes: Any) -> MarketSnapshot:
    base = MarketSnapshot(
        "coingecko",
        "bitcoin",
        T0,
        "BTC",
        "usd",
        D("37005.1"),
        market_cap=D("723000000000"),
        rank=1,
        volume_24h=D("15000000000.5"),
        high_24h=D("37500"),
        low_24h=D("36500"),
        open_24h=D("36800"),
        change_pct_24h=D("-0.45"),
        circulating_supply=D("19550000"),
        total_supply=D("21000000"),
        max_supply=D("21000000"),
    )
    return dataclasses.replace(base, **changes)


def asset(**changes: Any) -> Asset:
    base = Asset(
        "bitcoin", "BTC", "Bitcoin", T0, coingecko_id="bitcoin", network_type="pow", rank=1
    )
    return dataclasses.replace(base, **changes)


def protocol_fundamental(**changes: Any) -> ProtocolFundamental:
    base = ProtocolFundamental(
        "uniswap",
        1_699_920_000_000,
        T0,
        "defillama",
        name="Uniswap",
        category="Dexes",
        chain="Ethereum",
        tvl=D("3500000000.12"),
        fees_24h=D("1200000"),
        revenue_24h=D("-3.5"),
    )
    return dataclasses.replace(base, **changes)


def onchain_metric(**changes: Any) -> OnchainMetric:
    base = OnchainMetric(
        "BTC",
        T0,
        ("mempool",),
        block_height=817_000,
        hash_rate=D("790000000000000000000.123"),
        difficulty=D("64678587803496.8"),
        tx_count=350_000,
        mempool_size=120_000,
        fee_fast=D("31"),
        quality_score=D("0.75"),
    )
    return dataclasses.replace(base, **changes)


def news_item(**changes: Any) -> NewsItem:
    base = NewsItem(
        "n1",
        "https://example.com/btc-etf",
        "Bitcoin ETF approved",
        "example",
        T0,
        "rss",
        summary="A summary.",
        currencies=("BTC",),
        sentiment_label="positive",
        sentiment_score=D("0.62"),
        sentiment_confidence=D("0.8"),
        sentiment_model="vader-crypto",
    )
    return dataclasses.replace(base, **changes)


def social_post(**changes: Any) -> SocialPost:
    base = SocialPost(
        "reddit",
        "t3_abc",
        T0,
        community="Bitcoin",
        author="satoshi",
        title="HODL",
        text="to the moon",
        url="https://reddit.com/r/Bitcoin/abc",
        score=-3,
        comments=12,
        currencies=("BTC",),
    )
    return dataclasses.replace(base, **changes)


def community_metric(**changes: Any) -> CommunityMetric:
    base = CommunityMetric(
        "bitcoin",
        T0,
        ("coingecko",),
        reddit_subscribers=5_000_000,
        telegram_users=None,
        twitter_followers=6_000_000,
    )
    return dataclasses.replace(base, **changes)


def catalyst_event(**changes: Any) -> CatalystEvent:
    base = CatalystEvent(
        "listing:binance:PYTH",
        "listing",
        T0,
        "Binance will list PYTH",
        7,
        assets=("PYTH",),
        sources=("binance",),
        urls=("https://binance.com/en/support/announcement/x",),
        exchange="binance",
    )
    return dataclasses.replace(base, **changes)


def macro_observation(**changes: Any) -> MacroObservation:
    base = MacroObservation("DGS10", 1_699_920_000_000, "fred", D("4.63"))
    return dataclasses.replace(base, **changes)


def collector_run(**changes: Any) -> CollectorRun:
    base = CollectorRun(
        "run-1",
        "binance_candles_1m",
        "ok",
        T0,
        T0 + 800,
        1000,
        2,
        D("0.998"),
        D("1"),
        D("0.95"),
        D("0.98"),
        None,
    )
    return dataclasses.replace(base, **changes)


def quarantined_record(**changes: Any) -> QuarantinedRecord:
    base = QuarantinedRecord(
        "f" * 32, "Candle", "binance", "Candle.volume=-1: must be >= 0", '{"volume":"-1"}', T0
    )
    return dataclasses.replace(base, **changes)


ONE_OF_EACH: tuple[Record, ...] = (
    candle(),
    ticker(),
    trade(),
    orderbook(),
    market_snapshot(),
    asset(),
    protocol_fundamental(),
    onchain_metric(),
    news_item(),
    social_post(),
    community_metric(),
    catalyst_event(),
    macro_observation(),
    collector_run(),
    quarantined_record(),
)
