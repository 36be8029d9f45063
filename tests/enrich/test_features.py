"""Per-interval trade statistics on trades whose answers are worked out by hand."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from ohmycoins.enrich.features import large_trade_threshold, trade_stats
from tests import factories


def _trade(i: int, ts: int, price: str, amount: str, side: str):
    return factories.trade(trade_id=str(i), ts=ts, price=D(price), amount=D(amount), side=side)


def test_vwap_volumes_and_large_trades() -> None:
    trades = [
        _trade(1, 0, "100", "1", "buy"),
        _trade(2, 10_000, "110", "3", "sell"),
        _trade(3, 59_999, "90", "1", "buy"),
        _trade(4, 60_000, "200", "10", "sell"),
    ]
    first, second = trade_stats(trades, 60_000, large_quantile=0.75)
    assert (first.ts, first.count, first.volume) == (0, 3, D(5))
    assert first.vwap == (D(100) + D(330) + D(90)) / 5
    assert (first.buy_volume, first.sell_volume, first.buy_sell_ratio) == (D(2), D(3), D(2) / D(3))
    assert first.large_trades == 0
    assert (second.count, second.vwap, second.large_trades) == (1, D(200), 0)
    assert second.buy_sell_ratio == 0
    assert trade_stats(trades, 60_000, large_quantile=0.5)[1].large_trades == 1


def test_threshold_needs_a_real_quantile() -> None:
    assert large_trade_threshold([], 0.9) is None
    with pytest.raises(ValueError, match="quantile"):
        large_trade_threshold([factories.trade()], 1.5)
