"""Feature jobs: the features of each candle series, kept up to date and rebuilt.

One job per series (`features_<exchange>_<BASE-QUOTE>_<timeframe>`), leased like
every collection and triggered by the candle sync of its series. A run:
1. reads the series' closed candles newer than its newest feature row, with the
   `max_warmup` candles before them (what every feature needs to be stable), and what
   the other ledgers knew about the asset;
2. computes the set over them (`enrich.feature_sets.compute`, pure);
3. appends the new rows.
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
from ohmycoins.storage.database import Database, write_transaction
from ohmycoins.storage.feature_stale import Series, StaleMark, clear_stale, stale_mark
from ohmycoins.storage.features import (
    append_features,
    delete_features,
    newest_feature_ts,
    read_bars,
    read_ledgers,
    register_set,
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
    no rows of this set version, or rows made stale by a late candle."""
    with db.engine.connect() as conn:
        stale = stale_mark(conn, series)
        newest = newest_feature_ts(conn, series, feature_set.version)
        if newest is None:
            return Rebuild(None, stale)
        if stale is not None and stale.since <= newest:
            return Rebuild(stale.since, stale)
        until = closed_until(series, at_ms)
        fresh = read_bars(conn, series, since=newest + 1, until=until)
        if not len(fresh):
            return Input(fresh, 0, until + 1, Ledgers(), stale)
        context = read_bars(conn, series, until=newest, newest=feature_set.max_warmup)
        ledgers = read_ledgers(conn, series, int(fresh.ts[0]), until)
    # a full context means every new bar is past every warm-up; a short one, the series' start
    offset = feature_set.max_warmup if len(context) == feature_set.max_warmup else 0
    return Input(context + fresh, offset, int(fresh.ts[0]), ledgers, stale)


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
    """Append the new rows (the set version is registered: the build did it), or
    rebuild; then clear the stale mark acted on."""
    if isinstance(update, Rebuild):
        written = rebuild(db, series, feature_set, since=update.since, at_ms=at_ms)
        stale = update.stale
    else:
        frame, stale = update
        written = write_rows(db, series, feature_set, frame, register=False)
    if stale is not None:
        with write_transaction(db, f"stale mark of {series}") as conn:
            clear_stale(conn, series, stale)
    return written


def write_rows(
    db: Database, series: Series, feature_set: FeatureSet, frame: FeatureFrame, *,
    register: bool = True,
) -> int:  # fmt: skip
    if not len(frame):
        return 0
    with write_transaction(db, f"features of {series}") as conn:
        if register:
            register_set(conn, feature_set, now_ms())
        return append_features(conn, series, feature_set.version, frame)


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
        context = (
            read_bars(conn, series, until=since - 1, newest=feature_set.max_warmup)
            if since is not None
            else None
        )
        bars = read_bars(conn, series, since=since, until=until)
    # a bar's index is its position in the series when the context reaches the series'
    # start, and past every warm-up when the context is full: either way, its warm-up
    if context is not None and len(context):
        bars = context + bars
    first = 0 if context is None else len(context)
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
