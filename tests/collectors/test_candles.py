"""Candle backfill against the exchange simulator through ccxt's real binance class:
the stored series equals the simulator's ground truth, whatever the exchange does."""

from __future__ import annotations

import pytest

from ohmycoins.collectors.candles import CandleSync
from ohmycoins.records import Candle, QuarantinedRecord
from ohmycoins.sim import FaultKind, FaultPlan, FaultRule, SimulatorHandle
from ohmycoins.sources.binance import binance_spot_weight
from ohmycoins.sources.exchange import WeightBudget
from ohmycoins.storage.cursors import read_holes
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import read_records

from .conftest import HOLE, MINUTE, NOW_MS, SINCE_MS, SYMBOLS, now, retries, truth

UNTIL = NOW_MS - NOW_MS % MINUTE  # every closed candle up to now


async def _backfill(sync: CandleSync, timeframe: str = "1m") -> list:
    return [await sync.sync(symbol, timeframe, SINCE_MS, UNTIL) for symbol in SYMBOLS]


def _stored(db: Database, symbol: str, timeframe: str = "1m") -> list[Candle]:
    return read_records(db, Candle, symbol=symbol, timeframe=timeframe)


async def test_backfill_equals_ground_truth(
    sqlite_db: Database, sim: SimulatorHandle, make_client
) -> None:
    client = make_client(sim)
    await client.load_markets()
    reports = await _backfill(CandleSync(client, sqlite_db, clock=now))
    for symbol in SYMBOLS:
        expected = truth(sim, symbol, "1m", SINCE_MS, UNTIL)
        assert len(expected) > 3 * 1440
        assert _stored(sqlite_db, symbol) == expected
    report = reports[0]
    assert report.complete and report.quarantined == 0
    assert report.quality is not None and report.quality.overall == 1
    hole_candles = (HOLE[1] - HOLE[0]) // MINUTE
    with sqlite_db.engine.connect() as conn:
        holes = read_holes(conn, "binance", "BTC/USDT", "1m")
    assert [(h.start_ts, h.candles) for h in holes] == [(HOLE[0], hole_candles)]


async def test_second_run_fetches_nothing_old(
    sqlite_db: Database, sim: SimulatorHandle, make_client
) -> None:
    client = make_client(sim)
    await client.load_markets()
    sync = CandleSync(client, sqlite_db, clock=now)
    await sync.sync("BTC/USDT", "1m", SINCE_MS, UNTIL)
    before = sim.stats.requests_by_path.get("/api/v3/klines", 0)
    report = await sync.sync("BTC/USDT", "1m", SINCE_MS, UNTIL)
    assert sim.stats.requests_by_path.get("/api/v3/klines", 0) == before
    assert report.stored == 0 and report.complete


@pytest.mark.parametrize("timeframe", ["5m", "1h", "4h", "1d"])
async def test_higher_timeframes(
    sqlite_db: Database, sim: SimulatorHandle, make_client, timeframe: str
) -> None:
    client = make_client(sim)
    await client.load_markets()
    await CandleSync(client, sqlite_db, clock=now).sync("ETH/USDT", timeframe, SINCE_MS, UNTIL)
    assert _stored(sqlite_db, "ETH/USDT", timeframe) == truth(
        sim, "ETH/USDT", timeframe, SINCE_MS, UNTIL
    )


FAULTS = [
    (FaultKind.SERVER_ERROR, None),
    (FaultKind.TIMEOUT, None),
    (FaultKind.MALFORMED_JSON, None),
    (FaultKind.TRUNCATED_JSON, None),
    (FaultKind.DUPLICATE_CANDLES, None),
    (FaultKind.OUT_OF_ORDER, None),
    (FaultKind.GAP, None),
    (FaultKind.NAN, "must be a number"),
    (FaultKind.NEGATIVE, "must be"),
]


@pytest.mark.parametrize(("kind", "reason"), FAULTS, ids=[k.value for k, _ in FAULTS])
async def test_each_fault_is_survived(
    sqlite_db: Database, sim: SimulatorHandle, make_client, kind: FaultKind, reason: str | None
) -> None:
    sim.set_faults(FaultPlan(rules=(FaultRule(kind, count=3, path="/api/v3/klines", rows=2),)))
    client = make_client(sim, timeout_ms=300)
    await client.load_markets()
    sync = CandleSync(client, sqlite_db, clock=now, retry=retries())
    report = await sync.sync("BTC/USDT", "1m", SINCE_MS, UNTIL)
    assert sim.stats.faults_injected.get(kind.value, 0) == 3
    assert report.complete
    assert _stored(sqlite_db, "BTC/USDT") == truth(sim, "BTC/USDT", "1m", SINCE_MS, UNTIL)
    quarantined = read_records(sqlite_db, QuarantinedRecord)
    if reason is None:
        assert quarantined == []
    else:
        assert quarantined and all(reason in q.rule for q in quarantined)
        assert all(q.record_type == "Candle" and q.source == "binance" for q in quarantined)
    assert sim.stats.banned == 0


async def test_budget_is_paced_without_429_or_418(sqlite_db: Database, make_client) -> None:
    from ohmycoins.sim import running_simulator

    from .conftest import sim_config

    async with running_simulator(sim_config(weight_limit=24, window_seconds=1.0)) as handle:
        budget = WeightBudget(limit=24, window_s=1.0, weight_of=binance_spot_weight)
        client = make_client(handle, budget=budget)
        await client.load_markets()
        sync = CandleSync(client, sqlite_db, clock=now, page_size=500)
        await sync.sync("SOL/USDT", "1m", SINCE_MS, SINCE_MS + 12 * 500 * MINUTE)
        assert handle.stats.rate_limited == 0 and handle.stats.banned == 0
        assert (
            client.window is not None and client.window.spent > 24
        )  # more than one window: it had to wait
        expected = truth(handle, "SOL/USDT", "1m", SINCE_MS, SINCE_MS + 12 * 500 * MINUTE)
        assert _stored(sqlite_db, "SOL/USDT") == expected


async def _exhaust(handle: SimulatorHandle, make_client, weight: int) -> None:
    """Another process on the same IP spends `weight` of the window (klines cost 2)."""
    other = make_client(handle, budget=WeightBudget(10_000, 1.0, binance_spot_weight))
    for _ in range(weight // 2):
        await other.api.publicGetKlines({"symbol": "BTCUSDT", "interval": "1m", "limit": 1})


async def test_429_retry_after_is_honoured_without_418(sqlite_db: Database, make_client) -> None:
    from ohmycoins.sim import running_simulator

    from .conftest import sim_config

    async with running_simulator(sim_config(weight_limit=40, window_seconds=1.0)) as handle:
        client = make_client(handle, budget=WeightBudget(40, 1.0, binance_spot_weight))
        await client.load_markets()
        handle.reset()
        await _exhaust(handle, make_client, 40)
        sync = CandleSync(client, sqlite_db, clock=now, page_size=500, retry=retries())
        end = SINCE_MS + 6 * 500 * MINUTE
        report = await sync.sync("BTC/USDT", "1m", SINCE_MS, end)
        assert report.complete
        assert handle.stats.banned == 0
        assert _stored(sqlite_db, "BTC/USDT") == truth(handle, "BTC/USDT", "1m", SINCE_MS, end)


async def test_418_stops_hard(sqlite_db: Database, make_client) -> None:
    import ccxt.async_support as ccxt_async
    from ccxt.base.errors import DDoSProtection

    from ohmycoins.errors import BannedError
    from ohmycoins.sim import running_simulator
    from ohmycoins.sources.exchange import rewrite_hosts

    from .conftest import sim_config

    # the limiter's clock stands mid-window: on the wall clock, a window that ended between
    # the rogue's 429 and our first request would answer that request 429, not 418
    config = sim_config(
        weight_limit=10, window_seconds=60.0, ban_seconds=120.0, clock=lambda: 1_800_000_030.0
    )
    async with running_simulator(config) as handle:
        rogue = ccxt_async.binance({"enableRateLimit": False})  # another process on our IP
        rogue.urls["api"] = rewrite_hosts(rogue.urls["api"], handle.base_url)
        try:
            with pytest.raises(DDoSProtection):
                for _ in range(10):  # past the budget (429), then ignoring it (418)
                    await rogue.publicGetKlines({"symbol": "BTCUSDT", "interval": "1m"})
        finally:
            await rogue.close()
        assert handle.stats.rate_limited >= 1
        client = make_client(handle)
        with pytest.raises(BannedError):
            await client.load_markets()
        requests = handle.stats.requests
        with pytest.raises(BannedError):
            await CandleSync(client, sqlite_db, clock=now).sync("BTC/USDT", "1m", SINCE_MS, UNTIL)
        assert handle.stats.requests == requests  # nothing more was sent while banned
