"""The default feature set: what every closed candle gets, 100+ features by name.

Names carry their parameters (`rsi_14`, `sma_dist_50`). Some are a contract other
tools use as they are: `rsi_14`; `macd_line`, `macd_signal`, `macd_hist` (12, 26, 9);
`bb_upper`, `bb_middle`, `bb_lower` (20, 2).

Warm-ups: a windowed statistic is stable once its window is full; a recursive one
(EMA, Wilder's smoothing in RSI, ATR, ADX) once its seed weighs less than 1e-6, i.e.
after `CONVERGED / alpha` bars (`recursive`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from ohmycoins.enrich.feature_joins import LEDGER_REACH_MS
from ohmycoins.enrich.feature_sets import CONVERGED, Feature, FeatureSet, feature
from ohmycoins.timeframes import DAY_MS, HOUR_MS

ALPHA_WINDOWS = (5, 10, 20, 30, 60)
"""The windows of the Alpha158-style rolling shape features."""
MACRO_SERIES = (
    "DGS10",
    "DFF",
    "CPIAUCSL",
    "M2SL",
    "DTWEXBGS",
    "yahoo:^GSPC",
    "yahoo:DX-Y.NYB",
    "yahoo:^VIX",
)
"""Macro series joined by first release (FRED) or daily close (Yahoo)."""
ONCHAIN_COLUMNS = ("hash_rate", "tx_count", "active_addresses", "fee_fast", "mempool_size")


def ema_warmup(length: int) -> int:
    """Bars before an EMA of `length` (alpha 2 / (length + 1)) is stable."""
    return math.ceil(CONVERGED * (length + 1) / 2) + length


def wilder_warmup(length: int) -> int:
    """Bars before Wilder's smoothing of `length` (alpha 1 / length) is stable."""
    return math.ceil(CONVERGED * length) + length


def talib(
    name: str,
    function: str,
    inputs: tuple[str, ...],
    warmup: int,
    *,
    output: int = 0,
    transform: str = "raw",
    lag: int | None = None,
    args: Mapping[str, float] | None = None,
    **more: float,
) -> Feature:
    """A TA-Lib-backed feature (see `feature_sets._talib` for the transforms); `args`
    and `more` are TA-Lib's keyword arguments."""
    extra = {"lag": lag} if lag is not None else {}
    merged = {**(args or {}), **more}
    return feature(
        name,
        "talib",
        inputs,
        warmup,
        function=function,
        args=tuple(sorted(merged.items())),
        output=output,
        transform=transform,
        **extra,
    )


HLC = ("high", "low", "close")
HLCV = ("high", "low", "close", "volume")


def _returns_and_volatility() -> list[Feature]:
    features = [
        feature(f"logret_{n}", "log_return", ("close",), n, window=n) for n in (1, 5, 15, 60)
    ]
    for n in (20, 60):
        features += [
            feature(f"realized_vol_{n}", "realized_vol", ("close",), n + 1, window=n),
            feature(f"parkinson_vol_{n}", "parkinson_vol", ("high", "low"), n, window=n),
            feature(f"garman_klass_vol_{n}", "garman_klass_vol", ("open", *HLC), n, window=n),
        ]
    return features


def _momentum_and_trend() -> list[Feature]:
    features = [
        talib(f"rsi_{n}", "RSI", ("close",), wilder_warmup(n), timeperiod=n) for n in (6, 14, 24)
    ]
    macd = ema_warmup(26) + ema_warmup(9)
    args: dict[str, float] = {"fastperiod": 12, "slowperiod": 26, "signalperiod": 9}
    features += [
        talib(name, "MACD", ("close",), macd, output=index, args=args)
        for index, name in enumerate(("macd_line", "macd_signal", "macd_hist"))
    ]
    stoch: dict[str, float] = {"fastk_period": 14, "slowk_period": 3, "slowd_period": 3}
    features += [
        talib("stoch_k_14_3_3", "STOCH", HLC, 18, output=0, args=stoch),
        talib("stoch_d_14_3_3", "STOCH", HLC, 20, output=1, args=stoch),
        talib("willr_14", "WILLR", HLC, 14, timeperiod=14),
        talib("cci_20", "CCI", HLC, 20, timeperiod=20),
        talib("adx_14", "ADX", HLC, 2 * wilder_warmup(14), timeperiod=14),
        talib("atr_14", "ATR", HLC, wilder_warmup(14), timeperiod=14),
        talib("natr_14", "NATR", HLC, wilder_warmup(14), timeperiod=14),
        talib("mfi_14", "MFI", HLCV, 15, timeperiod=14),
        talib("obv_change_20", "OBV", ("close", "volume"), 21, transform="change", lag=20),
    ]
    features += [
        talib(
            f"ema_dist_{n}", "EMA", ("close",), ema_warmup(n), transform="close_over", timeperiod=n
        )
        for n in (12, 26, 50, 100)
    ]
    features += [
        talib(f"sma_dist_{n}", "SMA", ("close",), n, transform="close_over", timeperiod=n)
        for n in (10, 20, 50, 200)
    ]
    return features


def _bands() -> list[Feature]:
    bands: dict[str, float] = {"timeperiod": 20, "nbdevup": 2.0, "nbdevdn": 2.0, "matype": 0}
    return [
        talib(name, "BBANDS", ("close",), 20, output=index, args=bands)
        for index, name in enumerate(("bb_upper", "bb_middle", "bb_lower"))
    ]


def _alpha158_shape() -> list[Feature]:
    """qlib Alpha158's rolling shape: ROC, MA, STD, MAX, MIN, QTLU, QTLD, RSV, CORR,
    each normalised by the close as Alpha158 does."""
    features: list[Feature] = []
    for d in ALPHA_WINDOWS:
        period: dict[str, float] = {"timeperiod": d}
        features += [
            talib(f"roc_{d}", "ROCR", ("close",), d, transform="inverse", args=period),
            talib(f"ma_{d}", "SMA", ("close",), d, transform="over_close", args=period),
            talib(
                f"std_{d}",
                "STDDEV",
                ("close",),
                d,
                transform="over_close",
                args={**period, "nbdev": 1.0},
            ),
            talib(f"max_{d}", "MAX", ("high",), d, transform="over_close", args=period),
            talib(f"min_{d}", "MIN", ("low",), d, transform="over_close", args=period),
            feature(f"qtlu_{d}", "quantile_over_close", ("close",), d, window=d, q=0.8),
            feature(f"qtld_{d}", "quantile_over_close", ("close",), d, window=d, q=0.2),
            feature(f"rsv_{d}", "rsv", HLC, d, window=d),
            talib(f"corr_{d}", "CORREL", ("close", "log_volume"), d, args=period),
        ]
    return features


def _volume() -> list[Feature]:
    return [
        feature("volume_zscore_20", "volume_zscore", ("volume",), 20, window=20),
        feature("vwap_dist_20", "vwap_distance", HLCV, 20, window=20),
    ]


def _flow_and_book() -> list[Feature]:
    return [
        feature("taker_imbalance", "taker_imbalance", ("trades",), 0),
        feature("large_trades", "large_trades", ("trades",), 0, quantile=0.95, lookback_ms=DAY_MS),
        feature("spread_bps", "spread_bps", ("orderbooks",), 0),
        feature("book_imbalance_10", "book_imbalance", ("orderbooks",), 0, levels=10),
    ]


def macro_name(series_id: str) -> str:
    """`macro_dgs10`, `macro_gspc`, `macro_dx_y_nyb`: a series id as a column name."""
    plain = series_id.removeprefix("yahoo:").lower()
    return "macro_" + re.sub(r"[^a-z0-9]+", "_", plain).strip("_")


def _ledgers() -> list[Feature]:
    features: list[Feature] = []
    for source, table in (("news", "news_items"), ("social", "social_posts")):
        for label, window in (("1h", HOUR_MS), ("24h", DAY_MS)):
            features += [
                feature(
                    f"{source}_count_{label}",
                    "item_count",
                    (table,),
                    0,
                    source=source,
                    window_ms=window,
                    covered_ms=LEDGER_REACH_MS,
                ),
                feature(
                    f"{source}_sentiment_{label}",
                    "item_sentiment",
                    (table,),
                    0,
                    source=source,
                    window_ms=window,
                ),
            ]
    features += [
        feature(
            "catalyst_impact_max_24h",
            "catalyst_impact",
            ("catalyst_events",),
            0,
            window_ms=DAY_MS,
            covered_ms=LEDGER_REACH_MS,
        ),
        feature(
            "catalyst_count_24h",
            "catalyst_count",
            ("catalyst_events",),
            0,
            window_ms=DAY_MS,
            covered_ms=LEDGER_REACH_MS,
        ),
    ]
    features += [
        feature(f"onchain_{c}", "onchain", ("onchain_metrics",), 0, column=c, max_age_ms=2 * DAY_MS)
        for c in ONCHAIN_COLUMNS
    ]
    features += [
        feature(macro_name(s), "macro", ("macro_observations",), 0, series_id=s)
        for s in MACRO_SERIES
    ]
    features.append(feature("mcap_rank", "mcap_rank", ("market_snapshots",), 0, max_age_ms=DAY_MS))
    return features


DEFAULT_SET = FeatureSet(
    "default",
    tuple(
        _returns_and_volatility()
        + _momentum_and_trend()
        + _bands()
        + _alpha158_shape()
        + _volume()
        + _flow_and_book()
        + _ledgers()
    ),
)
"""The set every closed candle gets (`omc features build`, the feature jobs)."""

FEATURE_SETS = {DEFAULT_SET.name: DEFAULT_SET}
