"""Rollups: detail summed up before retention deletes it. Pure: records in, records out.

- candles into a coarser timeframe: open the first, high the max, low the min, close
  the last, volume the sum (None when a part has none), exactly;
- trades into 1m candles and hourly `TradeStats`;
- order-book snapshots into hourly `BookStats` (spread and depth);
- news items and social posts into daily `SentimentDaily` per currency.

Sums are exact: they run in a context that raises rather than rounds (`EXACT`). Means
are the exact sum divided by the count, rounded once to 28 significant digits (the
default context, as `statistics.mean` on decimals).

A rolled-up candle marks itself (`derived_from`) and counts the `minutes` of detail it
holds: only the stored detail counts, so an hour with a hole of the exchange or a
quarantined minute (neither is a stored candle) says 59 or fewer of its 60 minutes and
is never shown as complete.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Hashable, Iterable, Sequence
from decimal import Decimal
from typing import TypeVar

from ohmycoins.records import (
    BookStats,
    Candle,
    NewsItem,
    OrderBook,
    SentimentDaily,
    SocialPost,
    Trade,
    TradeStats,
)
from ohmycoins.timeframes import floor_ts, timeframe_ms

EXACT = decimal.Context(
    prec=decimal.MAX_PREC,
    Emax=decimal.MAX_EMAX,
    Emin=decimal.MIN_EMIN,
    traps=[decimal.Inexact, decimal.InvalidOperation, decimal.Overflow],
)
"""Sums of decimals, exactly: any rounding would raise."""
MEAN = decimal.Context(prec=28)
"""A mean's one rounding: 28 significant digits, half to even."""

MINUTE_MS = 60_000
TRADES = "trades"
"""`derived_from` of a candle made from trades."""
STATS_TIMEFRAME = "1h"
"""Trade and book statistics are hourly."""
SENTIMENT_DAY = "1d"
ALL_CURRENCIES = "*"

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def exact_sum(values: Iterable[Decimal]) -> Decimal:
    """The exact sum of decimals (0 when none)."""
    total = Decimal(0)
    for value in values:
        total = EXACT.add(total, value)
    return total


def mean(values: Sequence[Decimal]) -> Decimal | None:
    """The exact sum over the count, rounded once; None when there are no values."""
    if not values:
        return None
    return MEAN.divide(exact_sum(values), Decimal(len(values)))


def group(items: Iterable[T], key: Callable[[T], K]) -> dict[K, list[T]]:
    """Items by key, each group in the order given."""
    groups: dict[K, list[T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


def minutes_of(candle: Candle) -> int:
    """Minutes of detail a candle holds: its whole length when the exchange served it."""
    if candle.derived_from is None:
        return timeframe_ms(candle.timeframe) // MINUTE_MS
    return candle.minutes or 0


def complete(candle: Candle) -> bool:
    """Served by the exchange, or a rollup holding every minute of its timeframe."""
    return minutes_of(candle) * MINUTE_MS >= timeframe_ms(candle.timeframe)


def candle_rollups(candles: Iterable[Candle], timeframe: str) -> list[Candle]:
    """Candles of one finer timeframe rolled up into `timeframe`, one per series and
    period, in (exchange, symbol, ts) order."""
    step = timeframe_ms(timeframe)
    periods = group(candles, lambda c: (c.exchange, c.symbol, c.ts - c.ts % step))
    rolled = []
    for (exchange, symbol, ts), parts in sorted(periods.items()):
        parts.sort(key=lambda c: c.ts)
        finer = {c.timeframe for c in parts}
        if len(finer) != 1 or timeframe_ms(next(iter(finer))) >= step:
            raise ValueError(f"cannot roll {sorted(finer)} candles up into {timeframe}")
        volumes = [c.volume for c in parts]
        rolled.append(
            Candle(
                exchange,
                symbol,
                timeframe,
                ts,
                parts[0].open,
                max(c.high for c in parts),
                min(c.low for c in parts),
                parts[-1].close,
                None if None in volumes else exact_sum(v for v in volumes if v is not None),
                derived_from=parts[0].timeframe,
                minutes=sum(minutes_of(c) for c in parts),
            )
        )
    return rolled


def trade_order(trade: Trade) -> tuple[int, int, int | str]:
    """Trades in time order; within one millisecond by id (numerically where numeric)."""
    trade_id = trade.trade_id
    return (trade.ts, 0, int(trade_id)) if trade_id.isdigit() else (trade.ts, 1, trade_id)


def trade_candles(trades: Iterable[Trade]) -> list[Candle]:
    """1m candles of trades: open the first trade's price, close the last's, volume the
    summed amounts; one minute of detail each, marked as made from trades."""
    minutes = group(trades, lambda t: (t.exchange, t.symbol, t.ts - t.ts % MINUTE_MS))
    candles = []
    for (exchange, symbol, ts), parts in sorted(minutes.items()):
        parts.sort(key=trade_order)
        prices = [t.price for t in parts]
        candles.append(
            Candle(
                exchange,
                symbol,
                "1m",
                ts,
                prices[0],
                max(prices),
                min(prices),
                prices[-1],
                exact_sum(t.amount for t in parts),
                derived_from=TRADES,
                minutes=1,
            )
        )
    return candles


def trade_stats(trades: Iterable[Trade]) -> list[TradeStats]:
    """Hourly statistics of trades: counts and volumes by side, quote volume, the
    largest trade."""
    hours = group(trades, lambda t: (t.exchange, t.symbol, floor_ts(t.ts, STATS_TIMEFRAME)))
    stats = []
    for (exchange, symbol, ts), parts in sorted(hours.items()):
        buys = [t for t in parts if t.side == "buy"]
        sells = [t for t in parts if t.side == "sell"]
        stats.append(
            TradeStats(
                exchange,
                symbol,
                ts,
                trades=len(parts),
                buy_trades=len(buys),
                sell_trades=len(sells),
                volume=exact_sum(t.amount for t in parts),
                buy_volume=exact_sum(t.amount for t in buys),
                sell_volume=exact_sum(t.amount for t in sells),
                quote_volume=exact_sum(EXACT.multiply(t.price, t.amount) for t in parts),
                largest_amount=max(t.amount for t in parts),
            )
        )
    return stats


def book_stats(books: Iterable[OrderBook]) -> list[BookStats]:
    """Hourly spread and depth statistics of order-book snapshots. A mean is over the
    snapshots that have the value (a one-sided book has no spread)."""
    hours = group(books, lambda b: (b.exchange, b.symbol, floor_ts(b.ts, STATS_TIMEFRAME)))
    stats = []
    for (exchange, symbol, ts), parts in sorted(hours.items()):
        spreads = _present(b.spread for b in parts)
        stats.append(
            BookStats(
                exchange,
                symbol,
                ts,
                snapshots=len(parts),
                spread_min=min(spreads) if spreads else None,
                spread_max=max(spreads) if spreads else None,
                spread_mean=mean(spreads),
                mid_mean=mean(_present(b.mid for b in parts)),
                bid_depth_1pct_mean=mean(_present(b.bid_liquidity_1pct for b in parts)),
                ask_depth_1pct_mean=mean(_present(b.ask_liquidity_1pct for b in parts)),
                imbalance_mean=mean(_present(b.imbalance for b in parts)),
            )
        )
    return stats


def sentiment_daily(kind: str, items: Iterable[NewsItem | SocialPost]) -> list[SentimentDaily]:
    """Daily sentiment of news items (`kind` `news`, by the time they are listed at) or
    social posts (`social`, by their time): per currency mentioned and over all of them
    (`*`). Items with no time are left out."""
    rows: list[tuple[str, int, NewsItem | SocialPost]] = []
    for item in items:
        ts = item.listed_ts if isinstance(item, NewsItem) else item.ts
        if ts is None:
            continue
        day = floor_ts(ts, SENTIMENT_DAY)
        for currency in (ALL_CURRENCIES, *sorted(set(item.currencies))):
            rows.append((currency, day, item))
    daily = []
    for (currency, day), parts in sorted(group(rows, lambda r: (r[0], r[1])).items()):
        found = [item for _, _, item in parts]
        scores = _present(item.sentiment_score for item in found)
        labels = [item.sentiment_label for item in found]
        daily.append(
            SentimentDaily(
                kind,
                currency,
                day,
                items=len(found),
                scored=len(scores),
                positive=labels.count("positive"),
                negative=labels.count("negative"),
                neutral=labels.count("neutral"),
                score_sum=exact_sum(scores) if scores else None,
                score_mean=mean(scores),
            )
        )
    return daily


def _present(values: Iterable[Decimal | None]) -> list[Decimal]:
    return [value for value in values if value is not None]
