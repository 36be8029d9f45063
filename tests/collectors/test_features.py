"""Feature jobs on both backends, on stored candles: TA-Lib features equal TA-Lib on the
same stored candles; features recomputed on data cut at random points equal the stored
ones (no look-ahead); grown candle by candle equals a full rebuild; a changed set
writes a new version and leaves the old rows as they were."""

from __future__ import annotations

import random

import numpy as np
import pytest
import talib

from ohmycoins.collectors import features as jobs
from ohmycoins.collectors.market import trigger_features
from ohmycoins.enrich.default_features import DEFAULT_SET
from ohmycoins.enrich.feature_sets import FeatureSet, compute
from ohmycoins.scheduling.registry import Registry, RunContext
from ohmycoins.scheduling.tasks import list_tasks, sync_tasks
from ohmycoins.storage.database import Database
from ohmycoins.storage.feature_stale import Series
from ohmycoins.storage.features import read_bars, read_features, stored_versions
from ohmycoins.storage.upsert import upsert
from tests import factories
from tests.support.candles import MINUTE, START, random_walk

SERIES = Series("binance", "BTC/USDT", "1m")
DAY = 24 * 60 * MINUTE
N = 1000
TALIB = {
    "rsi_14": lambda b: talib.RSI(b.close, 14),
    "macd_line": lambda b: talib.MACD(b.close, 12, 26, 9)[0],
    "macd_signal": lambda b: talib.MACD(b.close, 12, 26, 9)[1],
    "macd_hist": lambda b: talib.MACD(b.close, 12, 26, 9)[2],
    "bb_upper": lambda b: talib.BBANDS(b.close, 20, 2.0, 2.0, 0)[0],
    "bb_middle": lambda b: talib.BBANDS(b.close, 20, 2.0, 2.0, 0)[1],
    "bb_lower": lambda b: talib.BBANDS(b.close, 20, 2.0, 2.0, 0)[2],
    "stoch_k_14_3_3": lambda b: talib.STOCH(b.high, b.low, b.close, 14, 3, 0, 3, 0)[0],
    "stoch_d_14_3_3": lambda b: talib.STOCH(b.high, b.low, b.close, 14, 3, 0, 3, 0)[1],
    "willr_14": lambda b: talib.WILLR(b.high, b.low, b.close, 14),
    "cci_20": lambda b: talib.CCI(b.high, b.low, b.close, 20),
    "adx_14": lambda b: talib.ADX(b.high, b.low, b.close, 14),
    "atr_14": lambda b: talib.ATR(b.high, b.low, b.close, 14),
    "natr_14": lambda b: talib.NATR(b.high, b.low, b.close, 14),
    "mfi_14": lambda b: talib.MFI(b.high, b.low, b.close, b.volume, 14),
    "obv_change_20": lambda b: _change(talib.OBV(b.close, b.volume), 20),
    "ema_dist_50": lambda b: b.close / talib.EMA(b.close, 50) - 1,
    "sma_dist_200": lambda b: b.close / talib.SMA(b.close, 200) - 1,
    "rsi_6": lambda b: talib.RSI(b.close, 6),
    "corr_20": lambda b: talib.CORREL(b.close, np.log1p(b.volume), 20),
}


def _change(values: np.ndarray, lag: int) -> np.ndarray:
    out = np.full_like(values, np.nan)
    out[lag:] = values[lag:] - values[:-lag]
    return out


def _stored(db: Database, version: str = DEFAULT_SET.version) -> tuple[list[int], np.ndarray]:
    page = read_features(db, SERIES, version)
    return page.ts, page.values


def _build(db: Database, n: int = N, feature_set: FeatureSet = DEFAULT_SET) -> int:
    upsert(db, random_walk(n))
    return jobs.rebuild(db, SERIES, feature_set, at_ms=START + n * MINUTE)


def test_talib_features_equal_talib_on_the_stored_candles(db: Database) -> None:
    assert _build(db) == N
    with db.engine.connect() as conn:
        bars = read_bars(conn, SERIES)
    ts, values = _stored(db)
    assert ts == bars.ts.tolist()
    for name, direct in TALIB.items():
        spec = DEFAULT_SET.features[DEFAULT_SET.columns.index(name)]
        ours = values[:, DEFAULT_SET.columns.index(name)]
        assert np.isnan(ours[: spec.warmup]).all(), name
        np.testing.assert_array_equal(ours[spec.warmup :], direct(bars)[spec.warmup :], name)


def test_features_cut_at_random_points_equal_the_stored_ones(db: Database) -> None:
    """freqtrade's look-ahead analysis: recompute on the candles up to t only."""
    _build(db)
    with db.engine.connect() as conn:
        bars = read_bars(conn, SERIES)
    ts, values = _stored(db)
    rng = random.Random(19)
    for cut in sorted(rng.sample(range(DEFAULT_SET.max_warmup, N), 5)):
        truncated = compute(DEFAULT_SET, bars.slice(0, cut + 1))
        np.testing.assert_array_equal(truncated.values[-1], values[cut], f"cut at {ts[cut]}")


def test_grown_candle_by_candle_equals_a_full_rebuild(db: Database) -> None:
    candles = random_walk(N)
    upsert(db, candles[: N - 12])
    clock = [START + (N - 12) * MINUTE]
    assert jobs.rebuild(db, SERIES, DEFAULT_SET, at_ms=clock[0]) == N - 12
    for candle in candles[N - 12 :]:
        upsert(db, [candle])
        clock[0] = candle.ts + MINUTE
        assert jobs.run_update(db, SERIES, DEFAULT_SET, clock[0]) == 1
    assert jobs.run_update(db, SERIES, DEFAULT_SET, clock[0]) == 0  # nothing new
    grown_ts, grown = _stored(db)
    jobs.rebuild(db, SERIES, DEFAULT_SET, at_ms=clock[0])
    full_ts, full = _stored(db)
    assert grown_ts == full_ts and len(full_ts) == N
    # recursive indicators restart from a max_warmup-bar context: equal within 1e-6
    np.testing.assert_allclose(grown, full, rtol=1e-6, atol=1e-6)
    tail = slice(N - 12, N)
    exact = [DEFAULT_SET.columns.index(n) for n in ("sma_dist_200", "qtlu_60", "bb_upper")]
    # windowed ones agree to rounding (TA-Lib's running sums start elsewhere)
    np.testing.assert_allclose(grown[tail][:, exact], full[tail][:, exact], rtol=1e-12)


@pytest.mark.parametrize("built", [-1, 0, 1])
def test_updates_at_the_edge_of_the_longest_warm_up_equal_a_full_build(
    db: Database, built: int
) -> None:
    """The first update's context one bar short of the longest warm-up (the series'
    start: its row still inside that warm-up, marked), exactly the warm-up (every bar of
    the series: the same values as a full build), then one bar past it (the series'
    start no longer read)."""
    warmup = DEFAULT_SET.max_warmup
    candles = random_walk(warmup + built + 2)
    upsert(db, candles[: warmup + built])
    assert jobs.rebuild(db, SERIES, DEFAULT_SET, at_ms=candles[warmup + built].ts) == warmup + built
    for candle in candles[warmup + built :]:
        upsert(db, [candle])
        assert jobs.run_update(db, SERIES, DEFAULT_SET, candle.ts + MINUTE) == 1
    grown = read_features(db, SERIES, DEFAULT_SET.version)
    jobs.rebuild(db, SERIES, DEFAULT_SET, at_ms=candles[-1].ts + MINUTE)
    full = read_features(db, SERIES, DEFAULT_SET.version)
    assert grown.ts == full.ts and grown.warm_up == full.warm_up
    assert grown.warm_up[warmup + built] is (built < 0)
    if built <= 0:  # the first update read every bar before it: the full build's values
        first = warmup + built
        np.testing.assert_allclose(grown.values[first], full.values[first], rtol=1e-12)
    np.testing.assert_allclose(grown.values, full.values, rtol=1e-6, atol=1e-6)


def test_an_update_past_the_ledgers_reach_equals_a_full_build(db: Database) -> None:
    """A news item and a catalyst a day before the series: a full build reads them (its
    reach starts two days before the first candle), an update two days later does not.
    Both must still agree: the counts are NULL once the last item is older than the
    coverage, whoever computes them."""
    n = 3100  # a little over two days of 1m candles
    candles = random_walk(n)
    upsert(db, candles[: n - 3])
    upsert(db, [factories.news_item(published_ts=START - DAY)])
    upsert(db, [factories.catalyst_event(ts=START - DAY, assets=("BTC",))])
    assert jobs.rebuild(db, SERIES, DEFAULT_SET, at_ms=candles[n - 3].ts) == n - 3
    for candle in candles[n - 3 :]:
        upsert(db, [candle])
        assert jobs.run_update(db, SERIES, DEFAULT_SET, candle.ts + MINUTE) == 1
    grown = read_features(db, SERIES, DEFAULT_SET.version)
    jobs.rebuild(db, SERIES, DEFAULT_SET, at_ms=candles[-1].ts + MINUTE)
    full = read_features(db, SERIES, DEFAULT_SET.version)
    counts = [DEFAULT_SET.columns.index(c) for c in ("news_count_24h", "catalyst_count_24h")]
    assert (full.values[0, counts] == 0).all()  # covered at the start
    assert np.isnan(full.values[-3:, counts]).all()  # the items are over two days old
    np.testing.assert_array_equal(grown.values[-3:, counts], full.values[-3:, counts])


def test_the_open_candle_gets_no_features(db: Database) -> None:
    upsert(db, random_walk(300))
    # at START + 299.5 min the candle opened at 299 min is still open
    assert jobs.rebuild(db, SERIES, DEFAULT_SET, at_ms=START + 299 * MINUTE + 30_000) == 299


def test_a_changed_definition_is_a_new_version_and_old_rows_stay(db: Database) -> None:
    _build(db, 300)
    old_ts, old = _stored(db)
    spec = DEFAULT_SET.features[DEFAULT_SET.columns.index("rsi_14")]
    changed = FeatureSet(
        "default",
        tuple(f if f is not spec else type(spec)("rsi_14", spec.kind, spec.inputs, spec.warmup,
              (*[p for p in spec.params if p[0] != "args"], ("args", (("timeperiod", 10),))))
              for f in DEFAULT_SET.features),
    )  # fmt: skip
    assert changed.version != DEFAULT_SET.version
    assert jobs.rebuild(db, SERIES, changed, at_ms=START + 300 * MINUTE) == 300
    with db.engine.connect() as conn:
        assert stored_versions(conn, "default") == [DEFAULT_SET.version, changed.version]
    again_ts, again = _stored(db)
    assert again_ts == old_ts
    np.testing.assert_array_equal(again, old)
    _, new = _stored(db, changed.version)
    rsi = DEFAULT_SET.columns.index("rsi_14")
    assert not np.allclose(new[250:, rsi], old[250:, rsi])


async def test_the_job_builds_then_updates(db: Database) -> None:
    candles = random_walk(200)
    upsert(db, candles[:150])
    now = [START + 150 * MINUTE]
    assert await jobs.refresh(db, SERIES, clock=lambda: now[0]) == 150
    upsert(db, candles[150:])
    now[0] = START + 200 * MINUTE
    assert await jobs.refresh(db, SERIES, clock=lambda: now[0]) == 50
    ts, _ = _stored(db)
    assert ts == [c.ts for c in candles]


def test_columns_and_pages(db: Database) -> None:
    _build(db, 120)
    page = read_features(db, SERIES, DEFAULT_SET.version, columns=["rsi_14", "logret_1"],
                         start=START + 10 * MINUTE, limit=50)  # fmt: skip
    assert page.columns == ["rsi_14", "logret_1"] and page.values.shape == (50, 2)
    assert page.ts[0] == START + 10 * MINUTE and page.more
    rest = read_features(db, SERIES, DEFAULT_SET.version, after=page.ts[-1], limit=500)
    assert rest.ts[0] == page.ts[-1] + MINUTE and not rest.more
    with pytest.raises(KeyError, match="nope"):
        read_features(db, SERIES, DEFAULT_SET.version, columns=["nope"])


async def test_a_candle_sync_triggers_the_job_of_its_series(db: Database) -> None:
    job = jobs.feature_job(db, SERIES)
    assert job.name == "features_binance_BTC-USDT_1m"
    sync_tasks(db, Registry([job]), 1_000)
    other = Series("binance", "ETH/USDT", "1m")  # no job registered: left alone
    trigger_features(db, [SERIES, other])
    [task] = list_tasks(db)
    assert task.next_run_ts > 1_000
    upsert(db, random_walk(100))
    context = RunContext(job.name, job.name, job.source, task.next_run_ts, None, 1, db)
    outcome = await job.run(context)
    assert outcome.records_written == 100 and outcome.status == "ok"


@pytest.mark.parametrize("since_index", [100, 900])
def test_a_rebuild_since_a_time_matches_the_full_build(db: Database, since_index: int) -> None:
    """From near the start (short context: warm-up marks still due) or deep in."""
    _build(db)
    full_ts, full = _stored(db)
    full_warm = read_features(db, SERIES, DEFAULT_SET.version).warm_up
    since = START + since_index * MINUTE
    assert jobs.rebuild(db, SERIES, DEFAULT_SET, since=since, at_ms=START + N * MINUTE) == (
        N - since_index
    )
    again = read_features(db, SERIES, DEFAULT_SET.version)
    assert again.ts == full_ts and again.warm_up == full_warm
    np.testing.assert_allclose(again.values, full, rtol=1e-6, atol=1e-6)
