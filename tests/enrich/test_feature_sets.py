"""Feature sets, pure: the contract names, versioning, rolling statistics against an
independent pandas computation, warm-up marks, and the as-of joins of the other
ledgers (a value known after a candle's close never changes its features)."""

from __future__ import annotations

import dataclasses
import math
from decimal import Decimal as D

import numpy as np
import pandas as pd
import pytest

from ohmycoins.enrich.default_features import DEFAULT_SET, macro_name
from ohmycoins.enrich.feature_joins import LEDGER_REACH_MS, Ledgers
from ohmycoins.enrich.feature_sets import Bars, FeatureSet, compute, feature
from ohmycoins.records import Candle
from ohmycoins.storage.features import bars_of as storage_bars_of
from tests import factories
from tests.support.candles import MINUTE, random_walk

HOUR = 60 * MINUTE
CONTRACT = ["rsi_14", "macd_line", "macd_signal", "macd_hist", "bb_upper", "bb_middle", "bb_lower"]


def bars_of(candles: list[Candle]) -> Bars:
    rows = [(c.ts, c.open, c.high, c.low, c.close, c.volume) for c in candles]
    return storage_bars_of(rows, MINUTE)


def frame_of(candles: list[Candle]) -> pd.DataFrame:
    bars = bars_of(candles)
    return pd.DataFrame({n: bars.column(n) for n in ("open", "high", "low", "close", "volume")})


def column(feature_set: FeatureSet, frame, name: str) -> np.ndarray:
    return frame.values[:, feature_set.columns.index(name)]


def test_default_set_has_the_contract_names_and_enough_features() -> None:
    names = DEFAULT_SET.columns
    assert len(names) >= 75
    assert set(CONTRACT) <= set(names)
    for family in ("logret_", "parkinson_vol_", "garman_klass_vol_", "realized_vol_", "stoch_",
                   "willr_", "cci_", "adx_", "atr_", "mfi_", "obv_", "ema_dist_", "sma_dist_",
                   "qtlu_", "rsv_", "corr_", "volume_zscore_", "vwap_dist_"):  # fmt: skip
        assert any(name.startswith(family) for name in names), family
    for window in (5, 10, 20, 30, 60):
        for stat in ("roc", "ma", "std", "max", "min", "qtlu", "qtld", "rsv", "corr"):
            assert f"{stat}_{window}" in names


def test_the_version_is_pinned_and_moves_with_any_definition() -> None:
    # a changed definition must change this: update it knowingly, old rows keep theirs
    assert DEFAULT_SET.version == "default-f8d3cb541235"
    rsi = DEFAULT_SET.features[DEFAULT_SET.columns.index("rsi_14")]
    changed = dataclasses.replace(rsi, warmup=rsi.warmup + 1)
    features = tuple(changed if f is rsi else f for f in DEFAULT_SET.features)
    assert FeatureSet("default", features).version != DEFAULT_SET.version
    assert FeatureSet("default", DEFAULT_SET.features).version == DEFAULT_SET.version
    assert FeatureSet("default", DEFAULT_SET.features, revision=2).version != DEFAULT_SET.version


def test_a_set_refuses_unknown_kinds_and_twice_named_features() -> None:
    with pytest.raises(ValueError, match="unknown kinds"):
        FeatureSet("x", (feature("a", "nope", ("close",), 0),))
    with pytest.raises(ValueError, match="twice"):
        FeatureSet("x", (feature("a", "log_return", ("close",), 1, window=1),) * 2)


def test_rolling_statistics_equal_an_independent_pandas_computation() -> None:
    candles = random_walk(400)
    frame = compute(DEFAULT_SET, bars_of(candles))
    df = frame_of(candles)
    c, h, low, o, v = df["close"], df["high"], df["low"], df["open"], df["volume"]
    r1 = np.log(c).diff()
    typical = (h + low + c) / 3
    expected = {
        "logret_15": np.log(c / c.shift(15)),
        "realized_vol_20": np.sqrt((r1**2).rolling(20).sum()),
        "parkinson_vol_60": np.sqrt((np.log(h / low) ** 2).rolling(60).mean() / (4 * math.log(2))),
        "garman_klass_vol_20": np.sqrt(
            (0.5 * np.log(h / low) ** 2 - (2 * math.log(2) - 1) * np.log(c / o) ** 2)
            .rolling(20)
            .mean()
        ),
        "qtlu_30": c.rolling(30).quantile(0.8) / c,
        "qtld_10": c.rolling(10).quantile(0.2) / c,
        "volume_zscore_20": (v - v.rolling(20).mean()) / v.rolling(20).std(),
        "vwap_dist_20": c / ((typical * v).rolling(20).sum() / v.rolling(20).sum()) - 1,
        "ma_60": c.rolling(60).mean() / c,
        "std_20": c.rolling(20).std(ddof=0) / c,
        "max_30": h.rolling(30).max() / c,
        "min_5": low.rolling(5).min() / c,
        "roc_10": c.shift(10) / c,
        "rsv_20": (c - low.rolling(20).min())
        / (h.rolling(20).max() - low.rolling(20).min() + 1e-12),
        "corr_60": c.rolling(60).corr(np.log1p(v)),
        "sma_dist_50": c / c.rolling(50).mean() - 1,
    }
    for name, series in expected.items():
        warmup = DEFAULT_SET.features[DEFAULT_SET.columns.index(name)].warmup
        ours = column(DEFAULT_SET, frame, name)
        assert np.isnan(ours[:warmup]).all(), name
        np.testing.assert_allclose(ours[warmup:], series[warmup:], rtol=1e-9,
                                   atol=1e-12, err_msg=name)  # fmt: skip


def test_warm_up_rows_are_null_and_marked() -> None:
    frame = compute(DEFAULT_SET, bars_of(random_walk(900)))
    rsi = column(DEFAULT_SET, frame, "rsi_14")
    warmup = DEFAULT_SET.features[DEFAULT_SET.columns.index("rsi_14")].warmup
    assert np.isnan(rsi[:warmup]).all() and not np.isnan(rsi[warmup:]).any()
    assert frame.warm_up[: DEFAULT_SET.max_warmup].all()
    assert not frame.warm_up[DEFAULT_SET.max_warmup :].any()
    # a tail whose offset says it is deep in the series is past every warm-up
    tail = compute(DEFAULT_SET, bars_of(random_walk(900)), offset=10_000)
    assert not tail.warm_up.any()


def test_missing_inputs_are_null_never_zero() -> None:
    frame = compute(DEFAULT_SET, bars_of(random_walk(300, volume=False)))
    for name in ("volume_zscore_20", "vwap_dist_20", "mfi_14", "obv_change_20", "corr_20",
                 "news_count_24h", "catalyst_count_24h", "macro_dgs10", "mcap_rank",
                 "taker_imbalance", "spread_bps", "onchain_hash_rate"):  # fmt: skip
        assert np.isnan(column(DEFAULT_SET, frame, name)).all(), name
    assert not np.isnan(column(DEFAULT_SET, frame, "bb_middle")[20:]).any()


def _ledger_set() -> FeatureSet:
    names = ("news_count_1h", "news_sentiment_1h", "catalyst_impact_max_24h",
             "catalyst_count_24h", macro_name("CPIAUCSL"), macro_name("yahoo:^VIX"),
             "onchain_hash_rate", "mcap_rank", "taker_imbalance", "large_trades",
             "spread_bps", "book_imbalance_10")  # fmt: skip
    return FeatureSet("ledgers", tuple(f for f in DEFAULT_SET.features if f.name in names))


def _at(feature_set: FeatureSet, bars: Bars, ledgers: Ledgers, row: int) -> dict[str, float]:
    """One row's features, NULL as None (so rows compare equal)."""
    frame = compute(feature_set, bars, ledgers)
    values = [None if math.isnan(v) else v for v in frame.values[row].tolist()]
    return dict(zip(frame.columns, values, strict=True))


def test_values_known_after_a_close_never_change_that_candle() -> None:
    """Row 60 opens at t and closes at t + 1 min: what was known before the close joins,
    a macro value released, news published or a catalyst known at or after it does not."""
    bars = bars_of(random_walk(120))
    t = int(bars.ts[60])
    close = t + MINUTE
    known = Ledgers(
        news=[factories.news_item(item_id="a", published_ts=close - 1, sentiment_score=D("0.5"))],
        catalysts=[factories.catalyst_event(ts=close - HOUR, impact=6, assets=("BTC",))],
        macro=[
            factories.macro_observation(
                series_id="CPIAUCSL",
                ts=t - 60 * 24 * HOUR,
                value=D("310"),
                released_ts=t - 20 * 24 * HOUR,
            ),
            factories.macro_observation(
                series_id="yahoo:^VIX", source="yahoo", ts=close - 25 * HOUR, value=D("14.5")
            ),
        ],
        onchain=[factories.onchain_metric(asset="bitcoin", ts=close - 2 * HOUR, hash_rate=D(7))],
        ranks=[factories.market_snapshot(ts=close - 5 * MINUTE, rank=1)],
    )
    before = _at(_ledger_set(), bars, known, 60)
    assert before["news_count_1h"] == 1 and before["news_sentiment_1h"] == 0.5
    assert before["catalyst_impact_max_24h"] == 6 and before["catalyst_count_24h"] == 1
    assert before["macro_cpiaucsl"] == 310 and before["macro_vix"] == 14.5
    assert before["onchain_hash_rate"] == 7 and before["mcap_rank"] == 1
    late = Ledgers(
        news=[*known.news, factories.news_item(item_id="b", published_ts=close,
                                               sentiment_score=D("-1"))],
        catalysts=[*known.catalysts, factories.catalyst_event(event_id="e2", ts=close,
                                                              impact=10, assets=("BTC",))],
        macro=[
            *known.macro,
            # March's value described before t but released after the close: not seen
            factories.macro_observation(series_id="CPIAUCSL", ts=t - 30 * 24 * HOUR,
                                        value=D("999"), released_ts=close),
            # today's close is known at the end of its day, after this candle
            factories.macro_observation(series_id="yahoo:^VIX", source="yahoo",
                                        ts=close - HOUR, value=D("40")),
            # a FRED value without a release date is never guessed into the past
            factories.macro_observation(series_id="CPIAUCSL", ts=t - 10 * 24 * HOUR,
                                        value=D("888"), released_ts=None),
        ],
        onchain=[*known.onchain, factories.onchain_metric(asset="bitcoin", ts=close - HOUR + 1,
                                                          hash_rate=D(9))],
        ranks=[*known.ranks, factories.market_snapshot(ts=close, rank=2)],
    )  # fmt: skip
    assert _at(_ledger_set(), bars, late, 60) == before
    after = _at(_ledger_set(), bars, late, 61)  # the next candle closes after them all
    assert after["news_count_1h"] == 2 and after["catalyst_impact_max_24h"] == 10
    assert after["macro_cpiaucsl"] == 999  # released now; the undated 888 never shows
    assert after["mcap_rank"] == 2


def test_no_ledger_rows_for_the_asset_are_null_then_counts_start() -> None:
    bars = bars_of(random_walk(30))
    first = int(bars.ts[10])
    news = [factories.news_item(published_ts=first + 30_000, sentiment_score=None)]
    frame = compute(_ledger_set(), bars, Ledgers(news=news))
    count = column(_ledger_set(), frame, "news_count_1h")
    assert np.isnan(count[:10]).all() and (count[10:] == 1).all()
    assert np.isnan(column(_ledger_set(), frame, "news_sentiment_1h")).all()  # none scored


def test_counts_are_zero_while_the_ledger_covers_the_asset_and_null_after() -> None:
    """A count is 0 while an item of the asset was known in the coverage before the cut
    (two days: how far back the ledgers are read), NULL once the last is older."""
    bars = bars_of(random_walk(30))
    first = int(bars.ts[0])
    cut_of_row_10 = int(bars.ts[10]) + MINUTE
    news = [factories.news_item(published_ts=cut_of_row_10 - LEDGER_REACH_MS - 1)]
    catalysts = [factories.catalyst_event(ts=first - 36 * HOUR, assets=("BTC",))]
    frame = compute(_ledger_set(), bars, Ledgers(news=news, catalysts=catalysts))
    count = column(_ledger_set(), frame, "news_count_1h")
    assert (count[:10] == 0).all() and np.isnan(count[10:]).all()
    assert (column(_ledger_set(), frame, "catalyst_count_24h") == 0).all()
    assert (column(_ledger_set(), frame, "catalyst_impact_max_24h") == 0).all()


def test_trades_and_books_inside_each_candle() -> None:
    bars = bars_of(random_walk(3))
    t = int(bars.ts[1])
    trades = [
        factories.trade(trade_id="1", ts=t + 1, amount=D(1), side="buy"),
        factories.trade(trade_id="2", ts=t + 2, amount=D(3), side="sell"),
        factories.trade(trade_id="3", ts=t + 3, amount=D(50), side="buy"),
    ]
    books = [factories.orderbook(ts=t + 5, bids=((D(99), D(3)),), asks=((D(101), D(1)),))]
    frame = compute(_ledger_set(), bars, Ledgers(trades=trades, books=books))
    row = dict(zip(frame.columns, frame.values[1].tolist(), strict=True))
    assert row["taker_imbalance"] == pytest.approx((51 - 3) / 54)
    assert row["large_trades"] == 1  # 50 is above the 95% size of the day's trades
    assert row["spread_bps"] == pytest.approx(2 / 100 * 10_000)
    assert row["book_imbalance_10"] == pytest.approx(0.5)
    for name in ("taker_imbalance", "large_trades", "spread_bps"):
        assert math.isnan(frame.values[0, frame.columns.index(name)])
