"""Features computed from stored data (not fetched): per-interval trade statistics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from ohmycoins.records import Trade


@dataclass(frozen=True, slots=True)
class TradeStats:
    """Trades of one interval: count, VWAP, taker buy/sell volumes and large trades."""

    ts: int
    count: int
    volume: Decimal
    vwap: Decimal
    buy_volume: Decimal
    sell_volume: Decimal
    large_trades: int

    @property
    def buy_sell_ratio(self) -> Decimal | None:
        """Taker buy volume ÷ taker sell volume (None when nothing was sold)."""
        return self.buy_volume / self.sell_volume if self.sell_volume else None


def large_trade_threshold(trades: Sequence[Trade], quantile: float) -> Decimal | None:
    """The trade size at `quantile` (e.g. 0.95) of `trades` (nearest rank)."""
    if not trades:
        return None
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must be in (0, 1), got {quantile}")
    sizes = sorted(t.amount for t in trades)
    return sizes[min(len(sizes) - 1, int(quantile * len(sizes)))]


def trade_stats(
    trades: Sequence[Trade], interval_ms: int, large_quantile: float = 0.95
) -> list[TradeStats]:
    """Per-interval statistics, oldest first; a trade is large when its size is above
    the `large_quantile` size of all `trades` given."""
    threshold = large_trade_threshold(trades, large_quantile)
    buckets: dict[int, list[Trade]] = {}
    for trade in trades:
        buckets.setdefault(trade.ts - trade.ts % interval_ms, []).append(trade)
    stats = []
    for ts in sorted(buckets):
        group = buckets[ts]
        volume = sum((t.amount for t in group), Decimal(0))
        notional = sum((t.price * t.amount for t in group), Decimal(0))
        buys = sum((t.amount for t in group if t.side == "buy"), Decimal(0))
        large = sum(1 for t in group if threshold is not None and t.amount > threshold)
        stats.append(
            TradeStats(ts, len(group), volume, notional / volume, buys, volume - buys, large)
        )
    return stats
