"""Rollups equal the aggregates computed here independently (fractions, not the module's
decimal sums), exactly."""

from __future__ import annotations

import dataclasses
import random
import statistics
from decimal import Decimal as D
from fractions import Fraction

import pytest

from ohmycoins.enrich import rollups
from ohmycoins.records import Candle
from tests import factories as f
from tests.support.candles import aggregate

HOUR = 3_600_000
DAY = 24 * HOUR
START = 1_700_006_400_000  # 2023-11-15 00:00 UTC, a day boundary


def _minute_candles(minutes: list[int], rng: random.Random, start: int = START) -> list[Candle]:
    candles = []
    for minute in minutes:
        open_ = D(rng.randint(3_000_000, 3_100_000)) / 100
        high = open_ + D(rng.randint(0, 999)) / 1000
        low = open_ - D(rng.randint(0, 999)) / 1000
        # volumes with more significant digits than a 28-digit context keeps
        volume = D(f"{rng.randint(1, 10**20)}.{rng.randint(0, 10**15):015d}")
        close = low + (high - low) / 2
        candles.append(
            f.candle(
                ts=start + minute * 60_000,
                open=open_,
                high=high,
                low=low,
                close=close,
                volume=volume,
            )
        )
    return candles


def test_minute_candles_roll_up_into_hours_and_a_day_exactly() -> None:
    rng = random.Random(18)
    candles = _minute_candles(list(range(24 * 60)), rng)
    rng.shuffle(candles)
    hours = rollups.candle_rollups(candles, "1h")
    assert [h.ts for h in hours] == [START + i * HOUR for i in range(24)]
    for hour in hours:
        parts = [c for c in candles if hour.ts <= c.ts < hour.ts + HOUR]
        open_, high, low, close, volume = aggregate(parts)
        assert (hour.open, hour.high, hour.low, hour.close) == (open_, high, low, close)
        assert hour.volume is not None and Fraction(hour.volume) == volume
        assert (hour.derived_from, hour.minutes, rollups.complete(hour)) == ("1m", 60, True)
    [day] = rollups.candle_rollups(candles, "1d")
    open_, high, low, close, volume = aggregate(candles)
    assert (day.open, day.high, day.low, day.close) == (open_, high, low, close)
    assert day.volume is not None and Fraction(day.volume) == volume
    assert day.minutes == 1440
    [from_hours] = rollups.candle_rollups(hours, "1d")
    assert from_hours == dataclasses.replace(day, derived_from="1h")


def test_an_hour_missing_minutes_says_how_many_it_has() -> None:
    rng = random.Random(7)
    minutes = [m for m in range(60) if m not in (5, 6)]
    [hour] = rollups.candle_rollups(_minute_candles(minutes, rng), "1h")
    assert (hour.minutes, rollups.complete(hour)) == (58, False)
    [day] = rollups.candle_rollups([hour], "1d")
    assert (day.minutes, rollups.complete(day)) == (58, False)


def test_a_missing_volume_is_no_volume_not_a_smaller_sum() -> None:
    candles = _minute_candles([0, 1], random.Random(1))
    candles[1] = f.candle(ts=candles[1].ts, volume=None)
    [hour] = rollups.candle_rollups(candles, "1h")
    assert hour.volume is None


def test_a_rollup_into_a_finer_timeframe_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot roll"):
        rollups.candle_rollups([f.candle(timeframe="1h")], "1h")


def _trades(rng: random.Random, count: int) -> list:
    trades = []
    for index in range(count):
        ts = START + rng.randint(0, 2 * HOUR - 1)
        price = D(rng.randint(3_000_000, 3_100_000)) / 100
        amount = D(f"0.{rng.randint(1, 10**30):030d}")
        side = rng.choice(("buy", "sell"))
        trades.append(f.trade(trade_id=str(index), ts=ts, price=price, amount=amount, side=side))
    return trades


def test_trades_roll_up_into_minute_candles_and_hourly_statistics() -> None:
    rng = random.Random(3)
    trades = _trades(rng, 500)
    rng.shuffle(trades)
    candles = rollups.trade_candles(trades)
    for candle in candles:
        parts = sorted(
            (t for t in trades if candle.ts <= t.ts < candle.ts + 60_000),
            key=lambda t: (t.ts, int(t.trade_id)),
        )
        assert (candle.open, candle.close) == (parts[0].price, parts[-1].price)
        assert (candle.high, candle.low) == (
            max(t.price for t in parts),
            min(t.price for t in parts),
        )
        assert Fraction(candle.volume) == sum(Fraction(t.amount) for t in parts)
        assert (candle.timeframe, candle.derived_from, candle.minutes) == ("1m", "trades", 1)
    assert sum(1 for _ in candles) == len({t.ts // 60_000 for t in trades})
    stats = rollups.trade_stats(trades)
    assert [s.ts for s in stats] == [START, START + HOUR]
    for stat in stats:
        parts = [t for t in trades if stat.ts <= t.ts < stat.ts + HOUR]
        buys = [t for t in parts if t.side == "buy"]
        assert (stat.trades, stat.buy_trades, stat.sell_trades) == (
            len(parts),
            len(buys),
            len(parts) - len(buys),
        )
        assert Fraction(stat.volume) == sum(Fraction(t.amount) for t in parts)
        assert Fraction(stat.buy_volume) == sum(Fraction(t.amount) for t in buys)
        quote = sum(Fraction(t.price) * Fraction(t.amount) for t in parts)
        assert Fraction(stat.quote_volume) == quote
        assert stat.largest_amount == max(t.amount for t in parts)


def test_book_snapshots_roll_up_into_hourly_spread_and_depth() -> None:
    rng = random.Random(5)
    books = []
    for index in range(90):
        bid = D(rng.randint(3_000_000, 3_100_000)) / 100
        ask = bid + D(rng.randint(1, 300)) / 100
        books.append(
            f.orderbook(
                ts=START + index * 60_000,
                bids=((bid, D(rng.randint(1, 900)) / 8),),
                asks=((ask, D(rng.randint(1, 900)) / 16),),
            )
        )
    books.append(f.orderbook(ts=START + 5, asks=()))  # one-sided: no spread, no mid
    stats = rollups.book_stats(books)
    assert [s.ts for s in stats] == [START, START + HOUR]
    for stat in stats:
        parts = [b for b in books if stat.ts <= b.ts < stat.ts + HOUR]
        spreads = [b.spread for b in parts if b.spread is not None]
        assert stat.snapshots == len(parts)
        assert (stat.spread_min, stat.spread_max) == (min(spreads), max(spreads))
        assert stat.spread_mean == statistics.mean(spreads)
        assert stat.mid_mean == statistics.mean([b.mid for b in parts if b.mid is not None])
        depths = [b.bid_liquidity_1pct for b in parts if b.bid_liquidity_1pct is not None]
        assert stat.bid_depth_1pct_mean == statistics.mean(depths)


def test_sentiment_rolls_up_into_daily_aggregates_per_currency() -> None:
    items = [
        f.news_item(
            item_id="a",
            published_ts=START + 1,
            currencies=("BTC",),
            sentiment_label="positive",
            sentiment_score=D("0.5"),
        ),
        f.news_item(
            item_id="b",
            published_ts=START + 2,
            currencies=("BTC", "ETH"),
            sentiment_label="negative",
            sentiment_score=D("-0.25"),
        ),
        f.news_item(
            item_id="c",
            published_ts=None,
            fetched_ts=START + DAY + 3,
            currencies=(),
            sentiment_label=None,
            sentiment_score=None,
        ),
        f.news_item(item_id="d", published_ts=None, fetched_ts=None),
    ]
    daily = {(d.currency, d.day): d for d in rollups.sentiment_daily("news", items)}
    assert set(daily) == {("*", START), ("BTC", START), ("ETH", START), ("*", START + DAY)}
    everything = daily["*", START]
    assert (everything.items, everything.scored, everything.positive, everything.negative) == (
        2,
        2,
        1,
        1,
    )
    assert everything.score_sum == D("0.25") and everything.score_mean == D("0.125")
    assert daily["ETH", START].score_mean == D("-0.25")
    unscored = daily["*", START + DAY]
    assert (unscored.items, unscored.scored, unscored.score_mean) == (1, 0, None)
    posts = rollups.sentiment_daily("social", [f.social_post(sentiment_score=D("0.1"))])
    assert {p.kind for p in posts} == {"social"}
