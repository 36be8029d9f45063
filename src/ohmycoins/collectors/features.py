"""Feature jobs: the features of each candle series, kept up to date and rebuilt.

One job per series (`features_<exchange>_<BASE-QUOTE>_<timeframe>`), leased like
every collection and triggered by the candle sync of its series. A run:
1. reads the series' closed candles newer than its newest feature row, with the
   `max_warmup` candles before them (what every feature needs to be stable), and what
   the other ledgers knew about the asset;
2. computes the set over them (`enrich.feature_sets.compute`, pure);
3. appends the new rows, in a commit that does not wait for the disk: rows a crash
   loses are recomputed by the next run (`Dialect.begin_recomputable_write`).
A series with no feature rows yet is built in full (`rebuild`), as is one whose set
changed (a new version starts from nothing; the old version's rows stay).

Late candles: a candle written at or before the series' newest candle, new or changed
(a backfill filling a gap, a corrected candle), marks the series stale from it on
(`storage.feature_stale.mark_late_candles`, in the candle write itself). The next run
recomputes the rows from that candle to the newest: the later candles whose windows
(and recursive warm-ups) hold it, and their warm-up marks, since a filled gap moves
every later candle's position in the series. The mark is cleared once acted on.
Late news and other ledgers are not revisited: a rebuild takes them in
(`omc features build`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ohmycoins.collectors.clients import Sources
from ohmycoins.collectors.collect import derive, run_outcome
from ohmycoins.enrich.default_features import DEFAULT_SET
from ohmycoins.enrich.feature_joins import Ledgers
from ohmycoins.enrich.feature_sets import Bars, FeatureFrame, FeatureSet, compute
from ohmycoins.scheduling.registry import Collector, RunContext, RunOutcome
from ohmycoins.scheduling.schedule import Schedule
from ohmycoins.storage.database import Database, autocommitting, write_transaction
from ohmycoins.storage.feature_stale import Series, StaleMark, clear_stale
from ohmycoins.storage.features import (
    append_features,
    delete_features,
    read_bars,
    read_ledgers,
    register_set,
    series_state,
)
from ohmycoins.timeframes import now_ms, timeframe_ms

SOURCE = "features"
CHUNK = 100_000
"""Candles computed at once by a rebuild (with `max_warmup` more before each chunk)."""

Progress = Callable[[int, int], None]
"""Called with (candles done, candles in the rebuild)."""


def task_name(series: Series) -> str:
    """`features_binance_BTC-USDT_1m`: the job of one series."""
    return f"features_{series.exchange}_{series.symbol.replace('/', '-')}_{series.timeframe}"


@dataclass(frozen=True, slots=True)
class Input:
    """What one update reads: bars (context first), how many bars of the series precede
    them, the first new open time, the other ledgers, and the stale mark it takes in."""

    bars: Bars
    offset: int
    first_new: int
    ledgers: Ledgers
    stale: StaleMark | None = None


@dataclass(frozen=True, slots=True)
class Rebuild:
    """The series is to be recomputed from `since` (all of it when None), clearing the
    stale mark `stale` when given."""

    since: int | None
    stale: StaleMark | None = None


def closed_until(series: Series, at_ms: int) -> int:
    """The newest open time of a candle closed at `at_ms`."""
    return at_ms - timeframe_ms(series.timeframe)


def read_update(
    db: Database, series: Series, feature_set: FeatureSet, at_ms: int
) -> Input | Rebuild:
    """The closed candles newer than the newest feature row, with their context, and
    what the other ledgers knew of the asset over them; a `Rebuild` when the series has
    no rows of this set version, or rows made stale by a late candle. Three reads: the
    series' state, its candles, the ledgers."""
    with autocommitting(db) as conn:
        newest, stale = series_state(conn, series, feature_set.version)
        if newest is None:
            return Rebuild(None, stale)
        if stale is not None and stale.since <= newest:
            return Rebuild(stale.since, stale)
        until = closed_until(series, at_ms)
        warmup = feature_set.max_warmup
        bars = read_bars(conn, series, since=newest + 1, until=until, context=warmup)
        context = int(np.searchsorted(bars.ts, newest + 1))
        if context == len(bars):
            return Input(bars, 0, until + 1, Ledgers(), stale)
        first_new = int(bars.ts[context])
        ledgers = read_ledgers(conn, series, first_new, until)
    # a full context means every new bar is past every warm-up; a short one, the series' start
    offset = warmup if context == warmup else 0
    return Input(bars, offset, first_new, ledgers, stale)


Update = tuple[FeatureFrame, StaleMark | None] | Rebuild


def compute_update(feature_set: FeatureSet, data: Input | Rebuild) -> Update:
    """The features of the new bars only (a `Rebuild` is passed on: it computes as it
    writes, chunk by chunk)."""
    if isinstance(data, Rebuild):
        return data
    wanted = len(data.bars) - int(np.searchsorted(data.bars.ts, data.first_new))
    frame = compute(feature_set, data.bars, data.ledgers, offset=data.offset, last=wanted)
    return frame, data.stale


def write_update(
    db: Database, series: Series, feature_set: FeatureSet, at_ms: int, update: Update
) -> int:
    """Append the new rows and clear the stale mark acted on, together (the set version
    is registered: the build did it); or rebuild, then clear the mark."""
    if not isinstance(update, Rebuild):
        frame, stale = update
        return write_rows(db, series, feature_set, frame, register=False, stale=stale)
    written = rebuild(db, series, feature_set, since=update.since, at_ms=at_ms)
    if update.stale is not None:
        with write_transaction(db, f"stale mark of {series}") as conn:
            clear_stale(conn, series, update.stale)
    return written


def write_rows(
    db: Database, series: Series, feature_set: FeatureSet, frame: FeatureFrame, *,
    register: bool = True, stale: StaleMark | None = None,
) -> int:  # fmt: skip
    """Append the frame's rows, registering the set version first unless told not to and
    clearing the stale mark `stale` in the same transaction. Lost rows are recomputed
    from the candles by the next run, so the commit need not wait for the disk."""
    if not len(frame) and stale is None:
        return 0
    with write_transaction(db, f"features of {series}") as conn:
        db.backend.begin_recomputable_write(conn)
        if register:
            register_set(conn, feature_set, now_ms())
        written = append_features(conn, series, feature_set.version, frame) if len(frame) else 0
        if stale is not None:
            clear_stale(conn, series, stale)
    return written


def run_update(db: Database, series: Series, feature_set: FeatureSet, at_ms: int) -> int:
    """`refresh` in the calling thread (the CLI, benchmarks)."""
    data = read_update(db, series, feature_set, at_ms)
    return write_update(db, series, feature_set, at_ms, compute_update(feature_set, data))


async def refresh(
    db: Database,
    series: Series,
    feature_set: FeatureSet = DEFAULT_SET,
    *,
    clock: Callable[[], int] = now_ms,
) -> int:
    """Compute and store the features of the series' new closed candles: returns how
    many rows were written. A series without rows of this set version is built in full."""
    at = clock()
    return await derive(
        functools.partial(read_update, db, series, feature_set, at),
        functools.partial(compute_update, feature_set),
        functools.partial(write_update, db, series, feature_set, at),
    )


def rebuild(
    db: Database,
    series: Series,
    feature_set: FeatureSet = DEFAULT_SET,
    *,
    since: int | None = None,
    at_ms: int | None = None,
    progress: Progress | None = None,
) -> int:
    """Recompute the series' feature rows from `since` (its first candle by default) to
    its newest closed candle, replacing the stored ones of this set version; chunk by
    chunk, each with the `max_warmup` candles before it."""
    until = closed_until(series, at_ms if at_ms is not None else now_ms())
    with db.engine.connect() as conn:
        bars = read_bars(conn, series, since=since, until=until, context=feature_set.max_warmup)
    # a bar's index is its position in the series when the context reaches the series'
    # start, and past every warm-up when the context is full: either way, its warm-up
    first = 0 if since is None else int(np.searchsorted(bars.ts, since))
    total = len(bars) - first
    with write_transaction(db, f"features of {series}") as conn:
        register_set(conn, feature_set, now_ms())
        delete_features(conn, series, feature_set.version, since)
    written = 0
    for start in range(first, len(bars), CHUNK):
        written += _rebuild_chunk(db, series, feature_set, bars, start)
        if progress is not None:
            progress(written, total)
    return written


def _rebuild_chunk(
    db: Database, series: Series, feature_set: FeatureSet, bars: Bars, start: int
) -> int:
    """The rows of bars[start:start + CHUNK], computed with the bars before them."""
    low = max(0, start - feature_set.max_warmup)
    part = bars.slice(low, start + CHUNK)
    with db.engine.connect() as conn:
        ledgers = read_ledgers(conn, series, int(part.ts[start - low]), int(part.ts[-1]))
    frame = compute(feature_set, part, ledgers, offset=low, last=len(part) - (start - low))
    return write_rows(db, series, feature_set, frame)


def series_of(sources: Sources) -> list[Series]:
    """Every candle series the process collects."""
    universe = sources.settings.universe
    return [
        Series(client.id, symbol, timeframe)
        for client in sources.exchanges.values()
        for symbol in universe.symbols
        for timeframe in universe.timeframes
    ]


def default_collectors(sources: Sources) -> list[Collector]:
    """One feature job per candle series, at its candles' pace (and triggered by them)."""
    return [feature_job(sources.db, series) for series in series_of(sources)]


def feature_job(db: Database, series: Series) -> Collector:
    """The job of one series."""

    async def run(_context: RunContext) -> RunOutcome:
        return run_outcome(await refresh(db, series))

    schedule = Schedule.every(max(60.0, timeframe_ms(series.timeframe) / 1000))
    return Collector(task_name(series), "exchange", SOURCE, schedule, run, priority=4)
