"""The feature store: a full build of N 1m candles with the whole default set, storage
included, on SQLite and PostgreSQL, in rows/s; beside it, in the same run, the candle
features of the set computed with plain pandas `rolling`/`ewm` (what a notebook does,
compute only, nothing stored), and the set computed in memory by `compute` (the same
work, nothing stored). Then the incremental update of one series on one new candle
(read its context and ledgers, compute, store), p50 and p99.

The baseline is plain pandas written for speed, not against it: whole-column
operations only, and the one statistic pandas has no rolling method for (the mean
absolute deviation of CCI) over numpy's sliding windows rather than a Python
function per window (`rolling().apply`, the textbook form, is printed beside it).

    python bench/features.py --candles 1000000 --updates 200
    OMC_BENCH_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test python bench/features.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from sqlalchemy import text

from ohmycoins.collectors.features import rebuild, run_update
from ohmycoins.enrich.default_features import ALPHA_WINDOWS, DEFAULT_SET
from ohmycoins.enrich.feature_sets import Bars, compute
from ohmycoins.records import Candle
from ohmycoins.storage.database import Database
from ohmycoins.storage.feature_stale import Series
from ohmycoins.storage.upsert import upsert

MINUTE = 60_000
START = 1_700_000_040_000
SERIES = Series("binance", "BTC/USDT", "1m")


def candles(n: int, seed: int = 1) -> list[Candle]:
    """A random walk of `n` 1m candles, prices with two decimals."""
    rng = np.random.default_rng(seed)
    close = np.maximum(100.0, 30_000 + np.cumsum(rng.integers(-40, 41, n))) / 100 * 100
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) + rng.integers(0, 15, n)
    low = np.minimum(open_, close) - rng.integers(0, 15, n)
    volume = rng.integers(1, 5000, n) / 100
    rows = zip(open_.tolist(), high.tolist(), low.tolist(), close.tolist(), volume.tolist(),
               strict=True)  # fmt: skip
    return [
        Candle(
            "binance", "BTC/USDT", "1m", START + i * MINUTE, *(Decimal(f"{p:.2f}") for p in prices)
        )
        for i, prices in enumerate(rows)
    ]


def pandas_baseline(frame: pd.DataFrame) -> pd.DataFrame:
    """The candle features of the default set with pandas rolling/ewm only."""
    c, h, lo, o, v = frame.close, frame.high, frame.low, frame.open, frame.volume
    out: dict[str, pd.Series] = {}
    r1 = np.log(c).diff()
    for n in (1, 5, 15, 60):
        out[f"logret_{n}"] = np.log(c / c.shift(n))
    for n in (20, 60):
        out[f"realized_vol_{n}"] = np.sqrt((r1**2).rolling(n).sum())
        out[f"parkinson_vol_{n}"] = np.sqrt(
            (np.log(h / lo) ** 2).rolling(n).mean() / (4 * np.log(2))
        )
        gk = 0.5 * np.log(h / lo) ** 2 - (2 * np.log(2) - 1) * np.log(c / o) ** 2
        out[f"garman_klass_vol_{n}"] = np.sqrt(gk.rolling(n).mean().clip(lower=0))
    delta = c.diff()
    for n in (6, 14, 24):
        up = delta.clip(lower=0).ewm(alpha=1 / n, adjust=False).mean()
        down = (-delta.clip(upper=0)).ewm(alpha=1 / n, adjust=False).mean()
        out[f"rsi_{n}"] = 100 - 100 / (1 + up / down)
    macd = c.ewm(span=12, adjust=False).mean() - c.ewm(span=26, adjust=False).mean()
    out["macd_line"], out["macd_signal"] = macd, macd.ewm(span=9, adjust=False).mean()
    out["macd_hist"] = macd - out["macd_signal"]
    lowest, highest = lo.rolling(14).min(), h.rolling(14).max()
    k = (100 * (c - lowest) / (highest - lowest)).rolling(3).mean()
    out["stoch_k_14_3_3"], out["stoch_d_14_3_3"] = k, k.rolling(3).mean()
    out["willr_14"] = -100 * (highest - c) / (highest - lowest)
    typical = (h + lo + c) / 3
    out["cci_20"] = (typical - typical.rolling(20).mean()) / (0.015 * rolling_mad(typical, 20))
    tr = pd.concat([h - lo, (h - c.shift()).abs(), (lo - c.shift()).abs()], axis=1).max(axis=1)
    atr = tr.ewm(alpha=1 / 14, adjust=False).mean()
    out["atr_14"], out["natr_14"] = atr, 100 * atr / c
    up_move, down_move = h.diff(), -lo.diff()
    plus = (up_move.where((up_move > down_move) & (up_move > 0), 0)).ewm(alpha=1 / 14).mean()
    minus = (down_move.where((down_move > up_move) & (down_move > 0), 0)).ewm(alpha=1 / 14).mean()
    dx = 100 * (plus - minus).abs() / (plus + minus)
    out["adx_14"] = dx.ewm(alpha=1 / 14, adjust=False).mean()
    flow = typical * v
    positive = flow.where(typical.diff() > 0, 0).rolling(14).sum()
    negative = flow.where(typical.diff() < 0, 0).rolling(14).sum()
    out["mfi_14"] = 100 - 100 / (1 + positive / negative)
    out["obv_change_20"] = (np.sign(delta) * v).cumsum().diff(20)
    for n in (12, 26, 50, 100):
        out[f"ema_dist_{n}"] = c / c.ewm(span=n, adjust=False).mean() - 1
    for n in (10, 20, 50, 200):
        out[f"sma_dist_{n}"] = c / c.rolling(n).mean() - 1
    mid, std = c.rolling(20).mean(), c.rolling(20).std(ddof=0)
    out["bb_upper"], out["bb_middle"], out["bb_lower"] = mid + 2 * std, mid, mid - 2 * std
    log_volume = np.log1p(v)
    for d in ALPHA_WINDOWS:
        out[f"roc_{d}"] = c.shift(d) / c
        out[f"ma_{d}"] = c.rolling(d).mean() / c
        out[f"std_{d}"] = c.rolling(d).std() / c
        out[f"max_{d}"] = h.rolling(d).max() / c
        out[f"min_{d}"] = lo.rolling(d).min() / c
        out[f"qtlu_{d}"] = c.rolling(d).quantile(0.8) / c
        out[f"qtld_{d}"] = c.rolling(d).quantile(0.2) / c
        out[f"rsv_{d}"] = (c - lo.rolling(d).min()) / (
            h.rolling(d).max() - lo.rolling(d).min() + 1e-12
        )
        out[f"corr_{d}"] = c.rolling(d).corr(log_volume)
    out["volume_zscore_20"] = (v - v.rolling(20).mean()) / v.rolling(20).std()
    out["vwap_dist_20"] = c / ((typical * v).rolling(20).sum() / v.rolling(20).sum()) - 1
    return pd.DataFrame(out)


def rolling_mad(values: pd.Series, window: int) -> pd.Series:
    """The mean absolute deviation over each window, all windows at once."""
    windows = sliding_window_view(values.to_numpy(), window)
    mad = np.abs(windows - windows.mean(axis=1, keepdims=True)).mean(axis=1)
    return pd.Series(np.r_[np.full(window - 1, np.nan), mad], index=values.index)


def textbook_mad(values: pd.Series, window: int) -> pd.Series:
    """The same with `rolling().apply`: a Python call per window."""
    return values.rolling(window).apply(lambda x: np.abs(x - x.mean()).mean(), raw=True)


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def bench_backend(
    label: str, db: Database, series: list[Candle], updates: int, baseline: float
) -> None:
    body, tail = series[:-updates], series[-updates:]
    upsert(db, body)
    at = body[-1].ts + MINUTE
    seconds = timed(lambda: rebuild(db, SERIES, DEFAULT_SET, at_ms=at))
    print(f"{label:<10} full build   {len(body) / seconds:>12,.0f} rows/s  ({seconds:.1f} s, "
          f"stored; {baseline / seconds:.2f}x pandas)")  # fmt: skip
    latencies = []
    for candle in tail:
        upsert(db, [candle])
        latencies.append(timed(lambda c=candle: run_update(db, SERIES, DEFAULT_SET, c.ts + MINUTE)))
    p50 = statistics.median(latencies) * 1000
    p99 = float(np.percentile(latencies, 99)) * 1000
    print(f"{label:<10} incremental  p50 {p50:.1f} ms  p99 {p99:.1f} ms  ({updates} updates)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, default=1_000_000)
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--postgres", default=os.environ.get("OMC_BENCH_POSTGRES_URL"))
    args = parser.parse_args()
    series = candles(args.candles + args.updates)
    n = args.candles
    print(f"{n:,} 1m candles, {len(DEFAULT_SET.columns)} features ({DEFAULT_SET.version})")
    frame = pd.DataFrame({name: [float(getattr(c, name)) for c in series[:n]]
                          for name in ("open", "high", "low", "close", "volume")})  # fmt: skip
    baseline = timed(lambda: pandas_baseline(frame))
    print(f"{'pandas':<10} baseline     {n / baseline:>12,.0f} rows/s  ({baseline:.1f} s, "
          "candle features only, not stored)")  # fmt: skip
    textbook = timed(lambda: textbook_mad(frame.close, 20)) - timed(
        lambda: rolling_mad(frame.close, 20)
    )
    print(f"{'pandas':<10} textbook CCI (rolling().apply) would add {textbook:.1f} s")
    bars = Bars.of(
        [np.arange(n, dtype=np.int64) * MINUTE, *(frame[c].to_numpy() for c in frame)], MINUTE
    )
    seconds = timed(lambda: compute(DEFAULT_SET, bars))
    width = len(DEFAULT_SET.columns)
    print(f"{'compute':<10} in memory    {n / seconds:>12,.0f} rows/s  ({seconds:.1f} s, "
          f"all {width} features, not stored; {baseline / seconds:.2f}x pandas)")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite:///{folder}/bench.db")
        db.upgrade()
        bench_backend("sqlite", db, series, args.updates, baseline)
        db.dispose()
    if args.postgres:
        db = Database(args.postgres)
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS omc_bench_features CASCADE"))
            conn.execute(text("CREATE SCHEMA omc_bench_features"))
        db.dispose()
        separator = "&" if "?" in args.postgres else "?"
        db = Database(f"{args.postgres}{separator}options=-csearch_path%3Domc_bench_features")
        db.upgrade()
        try:
            bench_backend("postgres", db, series, args.updates, baseline)
        finally:
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA omc_bench_features CASCADE"))
            db.dispose()


if __name__ == "__main__":
    main()
