"""Late candles on every backend: a corrected candle or a filled gap marks its series
stale, and the next run of the feature job recomputes the rows from it on, ending with
what a full build of the same candles stores; candles written again as they are, or
appended, mark nothing."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import numpy as np

from ohmycoins.collectors import features as jobs
from ohmycoins.enrich.default_features import DEFAULT_SET
from ohmycoins.storage.database import Database, write_transaction
from ohmycoins.storage.feature_stale import Series, clear_stale, stale_mark
from ohmycoins.storage.features import FeaturePage, read_features
from ohmycoins.storage.upsert import upsert
from tests.support.candles import MINUTE, START, random_walk

SERIES = Series("binance", "BTC/USDT", "1m")
N = 1200
NOW = START + N * MINUTE


def _page(db: Database) -> FeaturePage:
    return read_features(db, SERIES, DEFAULT_SET.version)


def _mark(db: Database) -> int | None:
    with db.engine.connect() as conn:
        mark = stale_mark(conn, SERIES)
    return None if mark is None else mark.since


async def _refresh(db: Database) -> int:
    return await jobs.refresh(db, SERIES, clock=lambda: NOW)


def _assert_equals_a_full_build(db: Database) -> FeaturePage:
    """The stored rows against a full build of the stored candles (then kept)."""
    job = _page(db)
    jobs.rebuild(db, SERIES, DEFAULT_SET, at_ms=NOW)
    full = _page(db)
    assert job.ts == full.ts and job.warm_up == full.warm_up
    np.testing.assert_allclose(job.values, full.values, rtol=1e-6, atol=1e-6)
    return full


async def test_a_corrected_candle_gets_its_features_and_the_later_ones_recomputed(
    db: Database,
) -> None:
    candles = random_walk(N)
    upsert(db, candles)
    assert await _refresh(db) == N
    before = _page(db)
    late = 1000
    fixed = dataclasses.replace(candles[late], close=candles[late].close + Decimal("3.17"))
    upsert(db, [fixed])
    assert _mark(db) == fixed.ts
    assert await _refresh(db) == N - late
    assert _mark(db) is None
    after = _assert_equals_a_full_build(db)
    np.testing.assert_array_equal(after.values[:late], before.values[:late])
    sma = DEFAULT_SET.columns.index("sma_dist_10")
    changed = ~np.isclose(after.values[:, sma], before.values[:, sma], rtol=1e-12, equal_nan=True)
    assert np.flatnonzero(changed).tolist() == list(range(late, late + 10))
    assert await _refresh(db) == 0  # acted on once


async def test_a_filled_gap_gets_features_and_moves_the_later_warm_ups(db: Database) -> None:
    """The gap sits inside the longest warm-up: filling it moves every later candle's
    position in the series, so warm-up marks change past the gap too."""
    candles = random_walk(N)
    gap = slice(300, 340)
    upsert(db, candles[: gap.start] + candles[gap.stop :])
    assert await _refresh(db) == N - 40
    upsert(db, candles[gap])
    assert _mark(db) == candles[gap.start].ts
    assert await _refresh(db) == N - gap.start
    full = _assert_equals_a_full_build(db)
    assert full.ts == [c.ts for c in candles]
    assert full.warm_up.index(False) == DEFAULT_SET.max_warmup


async def test_candles_written_again_or_appended_mark_nothing(db: Database) -> None:
    candles = random_walk(N + 5)
    upsert(db, candles[:N])
    assert await _refresh(db) == N
    upsert(db, candles[N - 50 : N])  # a refetched page, as stored
    upsert(db, candles[N:])  # new candles after the newest
    assert _mark(db) is None
    assert await jobs.refresh(db, SERIES, clock=lambda: NOW + 5 * MINUTE) == 5


def test_the_oldest_mark_wins_and_a_newer_mark_outlives_a_clear(db: Database) -> None:
    candles = random_walk(100)
    upsert(db, candles)
    upsert(db, [dataclasses.replace(candles[60], volume=Decimal("1.5"))])
    upsert(db, [dataclasses.replace(candles[40], volume=Decimal("2.5"))])
    upsert(db, [dataclasses.replace(candles[80], volume=Decimal("3.5"))])
    with db.engine.connect() as conn:
        seen = stale_mark(conn, SERIES)
    assert seen is not None and seen.since == candles[40].ts
    upsert(db, [dataclasses.replace(candles[90], volume=Decimal("4.5"))])  # after the read
    with write_transaction(db, "test") as conn:
        clear_stale(conn, SERIES, seen)
    assert _mark(db) == candles[40].ts  # kept: the job had not seen the last mark
