"""No candle is lost to a fault: what a sync cannot store stays missing and later syncs
fetch it; a hole is recorded only where the simulator truly has no candle, and the time
before a listing is never one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ohmycoins.collectors.candle_gaps import (
    FINAL_CHECKS,
    MAX_RETRY_MS,
    judge,
    retry_after,
    still_missing,
)
from ohmycoins.collectors.candles import CandleSync
from ohmycoins.quality.gaps import merge_spans, missing_ranges
from ohmycoins.records import Candle
from ohmycoins.sim import FaultKind, FaultPlan, FaultRule, SimulatorHandle, running_simulator
from ohmycoins.storage.cursors import (
    Hole,
    Missing,
    SeriesKey,
    read_holes,
    read_missing,
    record_holes,
)
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import read_records
from ohmycoins.storage.tables import candle_holes, candle_missing

from .conftest import HOLE, LISTED_MS, MINUTE, NOW_MS, SINCE_MS, now, retries, sim_config, truth

DAY = 1_440 * MINUTE
KLINES = "/api/v3/klines"
CLOSED = NOW_MS - NOW_MS % MINUTE

EVERY_FAULT = FaultPlan(
    rules=(
        FaultRule(FaultKind.SERVER_ERROR, probability=0.12, path=KLINES),
        FaultRule(FaultKind.TIMEOUT, probability=0.03, path=KLINES),
        FaultRule(FaultKind.MALFORMED_JSON, probability=0.05, path=KLINES),
        FaultRule(FaultKind.TRUNCATED_JSON, probability=0.05, path=KLINES),
        FaultRule(FaultKind.NAN, probability=0.25, path=KLINES, rows=2),
        FaultRule(FaultKind.NEGATIVE, probability=0.1, path=KLINES),
        FaultRule(FaultKind.GAP, probability=0.1, path=KLINES, rows=2),
        FaultRule(FaultKind.DUPLICATE_CANDLES, probability=0.05, path=KLINES),
        FaultRule(FaultKind.OUT_OF_ORDER, probability=0.05, path=KLINES),
    ),
    seed=1507,
)

# (symbol, since, until): one range holds the maintenance window, one starts before the
# listing, and the last is synced during an outage, so some pages surely fail.
SERIES = (
    ("BTC/USDT", SINCE_MS, SINCE_MS + 2 * DAY),
    ("ETH/USDT", LISTED_MS - DAY, LISTED_MS + DAY),
    ("SOL/USDT", SINCE_MS, SINCE_MS + DAY),
)


def _stored(db: Database, symbol: str) -> list[Candle]:
    return read_records(db, Candle, symbol=symbol, timeframe="1m")


def _absent_on_exchange(sim: SimulatorHandle, symbol: str, since: int, until: int) -> list:
    """The simulator's own minutes without a candle, from its listing on."""
    times = [candle.ts for candle in truth(sim, symbol, "1m", since, until)]
    return missing_ranges(times, max(since, LISTED_MS), until, MINUTE)


def _hole_spans(db: Database, symbol: str) -> list[tuple[int, int]]:
    with db.engine.connect() as conn:
        holes = read_holes(conn, "binance", symbol, "1m")
    return merge_spans([(h.start_ts, h.end_ts) for h in holes], MINUTE)


def _missing(db: Database, symbol: str) -> list:
    with db.engine.connect() as conn:
        return read_missing(conn, SeriesKey("binance", "candles", symbol, "1m"))


def _klines_requests(sim: SimulatorHandle) -> int:
    return sim.stats.requests_by_path.get(KLINES, 0)


async def test_every_fault_then_a_healthy_run_stores_every_candle(
    db: Database, sim: SimulatorHandle, make_client
) -> None:
    sim.set_faults(EVERY_FAULT)
    client = make_client(sim, timeout_ms=300)
    await client.load_markets()
    faulty = CandleSync(client, db, clock=now, page_size=200, retry=retries(2))
    reports = [await faulty.sync(symbol, "1m", since, until) for symbol, since, until in SERIES[:2]]
    sim.set_outage(True)
    reports.append(await faulty.sync(*SERIES[2][:1], "1m", *SERIES[2][1:]))
    sim.set_outage(False)
    assert sum(sim.stats.faults_injected.values()) > 20
    assert sum(report.missing for report in reports) > 0  # the faults cost candles this run
    assert sum(report.failed_pages for report in reports) > 0
    for report in reports:
        assert report.quality is not None
        assert (report.quality.completeness < 1) == (report.missing > 0)
    for symbol, since, until in SERIES:
        expected = {candle.ts: candle for candle in truth(sim, symbol, "1m", since, until)}
        assert all(expected[candle.ts] == candle for candle in _stored(db, symbol))
        assert set(_hole_spans(db, symbol)) <= set(_absent_on_exchange(sim, symbol, since, until))

    sim.set_faults(FaultPlan())
    later = lambda: NOW_MS + DAY  # noqa: E731  every missing candle's retry is due
    healthy = CandleSync(make_client(sim), db, clock=later, page_size=200)
    reports = [await healthy.sync(symbol, "1m", since, until) for symbol, since, until in SERIES]
    for report in reports:
        assert report.missing == 0 and report.quality is not None
        assert report.quality.completeness == 1
    for symbol, since, until in SERIES:
        assert _stored(db, symbol) == truth(sim, symbol, "1m", since, until)
        assert _missing(db, symbol) == []
        assert _hole_spans(db, symbol) == _absent_on_exchange(sim, symbol, since, until)
    assert _hole_spans(db, "BTC/USDT") == [(HOLE[0], HOLE[1] - MINUTE)]
    assert _hole_spans(db, "ETH/USDT") == []  # before the listing is no hole


def _snapshot(db: Database) -> dict[str, Any]:
    with db.engine.connect() as conn:
        return {
            "candles": _stored(db, "SOL/USDT"),
            "holes": conn.execute(select(candle_holes).order_by("start_ts")).all(),
            "missing": conn.execute(select(candle_missing)).all(),
        }


async def test_identical_backfills_agree(
    sqlite_db: Database, sim: SimulatorHandle, make_client
) -> None:
    client = make_client(sim)
    await client.load_markets()
    sync = CandleSync(client, sqlite_db, clock=now)
    since, until = LISTED_MS - 3 * DAY, LISTED_MS + DAY
    first = await sync.sync("SOL/USDT", "1m", since, until)
    assert first.holes == [] and first.expected == DAY // MINUTE
    assert first.quality is not None and first.quality.overall == 1
    before = _snapshot(sqlite_db)
    assert before["candles"] == truth(sim, "SOL/USDT", "1m", since, until)
    requests = _klines_requests(sim)
    again = await sync.sync("SOL/USDT", "1m", since, until)
    assert _snapshot(sqlite_db) == before
    assert _klines_requests(sim) == requests and again.holes == []
    earlier = await sync.sync("SOL/USDT", "1m", since - 30 * DAY, until)
    assert _snapshot(sqlite_db) == before and earlier.expected == first.expected


async def test_a_quarantined_candle_whose_refetch_fails_stays_missing(
    sqlite_db: Database, sim: SimulatorHandle, make_client
) -> None:
    client = make_client(sim)
    await client.load_markets()
    sync = CandleSync(client, sqlite_db, clock=now, retry=retries(1))
    await sync.sync("BTC/USDT", "1m", SINCE_MS, SINCE_MS + 60 * MINUTE)  # records the listing
    faulty = SINCE_MS + 2 * DAY, SINCE_MS + 2 * DAY + 200 * MINUTE
    sim.set_faults(
        FaultPlan(
            rules=(
                FaultRule(FaultKind.NAN, count=1, path=KLINES),  # the page: one row quarantined
                FaultRule(FaultKind.SERVER_ERROR, count=1, path=KLINES),  # its refetch
            )
        )
    )
    report = await sync.sync("BTC/USDT", "1m", *faulty)
    assert report.quarantined == 1 and report.holes == [] and report.missing == 1
    assert report.quality is not None and report.quality.completeness < 1
    [missing] = _missing(sqlite_db, "BTC/USDT")
    assert missing.candles == 1 and missing.attempts == 1 and missing.next_try_ts > NOW_MS
    assert _hole_spans(sqlite_db, "BTC/USDT") == []

    elsewhere = SINCE_MS + 2 * DAY + 360 * MINUTE, SINCE_MS + 2 * DAY + 420 * MINUTE
    report = await sync.sync("BTC/USDT", "1m", *elsewhere)  # before its retry is due
    assert _missing(sqlite_db, "BTC/USDT") == [missing] and report.missing == 1
    assert report.quality is not None and report.quality.completeness < 1

    due = CandleSync(client, sqlite_db, clock=lambda: missing.next_try_ts)
    report = await due.sync("BTC/USDT", "1m", *elsewhere)  # another range: retried all the same
    assert report.missing == 0 and report.refetched == 1
    assert report.quality is not None and report.quality.overall == 1
    assert _missing(sqlite_db, "BTC/USDT") == []
    assert _stored(sqlite_db, "BTC/USDT") == [
        *truth(sim, "BTC/USDT", "1m", SINCE_MS, SINCE_MS + 60 * MINUTE),
        *truth(sim, "BTC/USDT", "1m", *faulty),
        *truth(sim, "BTC/USDT", "1m", *elsewhere),
    ]


RECENT = (CLOSED - 40 * MINUTE, CLOSED - 30 * MINUTE)  # a window near now: maybe published late


async def test_a_recent_hole_is_verified_again_until_final(
    sqlite_db: Database, make_client
) -> None:
    async with running_simulator(sim_config(holes=(HOLE, RECENT))) as sim:
        client = make_client(sim)
        await client.load_markets()
        since = CLOSED - 120 * MINUTE
        report = await CandleSync(client, sqlite_db, clock=now).sync(
            "BTC/USDT", "1m", since, CLOSED
        )
        assert [(h.start_ts, h.candles, h.checks) for h in report.holes] == [(RECENT[0], 10, 1)]
        checks, clock = [1], NOW_MS
        for _ in range(FINAL_CHECKS + 1):
            clock += 10 * MINUTE
            sync = CandleSync(client, sqlite_db, clock=lambda at=clock: at)
            requests = _klines_requests(sim)
            await sync.sync("BTC/USDT", "1m", since, CLOSED)
            with sqlite_db.engine.connect() as conn:
                [hole] = read_holes(conn, "binance", "BTC/USDT", "1m")
            checks.append(hole.checks)
            assert (hole.start_ts, hole.end_ts) == (RECENT[0], RECENT[1] - MINUTE)
            assert _klines_requests(sim) - requests == (1 if checks[-2] < FINAL_CHECKS else 0)
        assert checks == [1, 2, 3, 4, 4, 4]


async def test_candles_published_late_fill_a_recent_hole(sqlite_db: Database, make_client) -> None:
    since = CLOSED - 120 * MINUTE
    async with running_simulator(sim_config(holes=(HOLE, RECENT))) as sim:
        client = make_client(sim)
        await client.load_markets()
        await CandleSync(client, sqlite_db, clock=now).sync("ETH/USDT", "1m", since, CLOSED)
    assert _hole_spans(sqlite_db, "ETH/USDT") == [(RECENT[0], RECENT[1] - MINUTE)]
    async with running_simulator(sim_config()) as published:
        client = make_client(published)
        await client.load_markets()
        later = CandleSync(client, sqlite_db, clock=lambda: NOW_MS + 5 * MINUTE)
        report = await later.sync("ETH/USDT", "1m", since, CLOSED)
        assert report.refetched == 10
        assert _stored(sqlite_db, "ETH/USDT") == truth(published, "ETH/USDT", "1m", since, CLOSED)
    assert _hole_spans(sqlite_db, "ETH/USDT") == []


KEY = SeriesKey("binance", "candles", "BTC/USDT", "1m")


def test_missing_candles_back_off_and_keep_their_wait() -> None:
    old = [
        Missing(0, 2 * MINUTE, 3, 2, NOW_MS - 1),  # due: tried again now
        Missing(10 * MINUTE, 11 * MINUTE, 2, 5, NOW_MS + 99),  # still waiting
    ]
    spans = [(MINUTE, 2 * MINUTE), (10 * MINUTE, 12 * MINUTE)]
    assert still_missing(spans, old, NOW_MS, MINUTE) == [
        Missing(MINUTE, 2 * MINUTE, 2, 3, NOW_MS + 4 * MINUTE),
        Missing(10 * MINUTE, 11 * MINUTE, 2, 5, NOW_MS + 99),
        Missing(12 * MINUTE, 12 * MINUTE, 1, 1, NOW_MS + MINUTE),
    ]
    assert retry_after(MINUTE, 40) == MAX_RETRY_MS


def test_a_hole_needs_a_settled_time_and_a_known_listing() -> None:
    absent, twice = [(0, 9 * MINUTE)], [(0, 5 * MINUTE)]
    verdict = judge(KEY, absent, twice, [], [], 3 * MINUTE, NOW_MS)
    assert [(h.start_ts, h.end_ts, h.checks) for h in verdict.holes] == [(0, 3 * MINUTE, 4)]
    assert [(m.start_ts, m.end_ts) for m in verdict.missing] == [(4 * MINUTE, 9 * MINUTE)]
    unknown = judge(KEY, absent, twice, [], [], None, NOW_MS)
    assert unknown.holes == [] and [(m.start_ts, m.end_ts) for m in unknown.missing] == absent


def test_a_hole_verified_again_loses_what_was_found() -> None:
    hole = Hole("binance", "BTC/USDT", "1m", 0, 9 * MINUTE, 10, 2, NOW_MS - DAY)
    absent = [(0, 3 * MINUTE), (6 * MINUTE, 9 * MINUTE)]  # 4..5 were published late
    verdict = judge(KEY, absent, [(0, 3 * MINUTE)], [hole], [], NOW_MS, NOW_MS)
    assert verdict.holes == [] and verdict.missing == []
    assert [(h.start_ts, h.end_ts, h.checks, h.found_ts) for h in verdict.rechecked] == [
        (0, 3 * MINUTE, 3, NOW_MS),  # proven again
        (6 * MINUTE, 9 * MINUTE, 2, NOW_MS - DAY),  # its refetch failed: as it was
    ]


async def test_holes_left_by_earlier_versions_are_verified_once_more(
    sqlite_db: Database, sim: SimulatorHandle, make_client
) -> None:
    """Earlier versions recorded the time before a listing, and candles whose refetch
    failed, as holes: the migration leaves them one check short of final."""

    def old_hole(first: int, last: int) -> Hole:
        return Hole("binance", "BTC/USDT", "1m", first, last, 0, FINAL_CHECKS - 1, 0)

    false_hole = (SINCE_MS + DAY, SINCE_MS + DAY + 2 * MINUTE)
    with sqlite_db.engine.begin() as conn:
        record_holes(conn, [old_hole(LISTED_MS - DAY, LISTED_MS - MINUTE), old_hole(*false_hole)])
        record_holes(conn, [old_hole(HOLE[0], HOLE[1] - MINUTE)])
    client = make_client(sim)
    await client.load_markets()
    report = await CandleSync(client, sqlite_db, clock=now).sync(
        "BTC/USDT", "1m", SINCE_MS, SINCE_MS + 60 * MINUTE
    )
    assert report.refetched == 3
    with sqlite_db.engine.connect() as conn:
        holes = read_holes(conn, "binance", "BTC/USDT", "1m")
    assert [(h.start_ts, h.end_ts, h.checks) for h in holes] == [
        (HOLE[0], HOLE[1] - MINUTE, FINAL_CHECKS)
    ]
    assert _stored(sqlite_db, "BTC/USDT") == [
        *truth(sim, "BTC/USDT", "1m", SINCE_MS, SINCE_MS + 60 * MINUTE),
        *truth(sim, "BTC/USDT", "1m", false_hole[0], false_hole[1] + MINUTE),
    ]
