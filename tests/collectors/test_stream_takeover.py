"""SIGKILL the worker that holds a stream: another takes it within the lease, the trades
it missed are fetched over REST by id, and the stored trade ids stay consecutive with no
duplicate. Real processes, the real simulator (its websocket and REST), one SQLite file."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from ohmycoins.records import Trade
from ohmycoins.scheduling.tasks import get_task, sync_tasks
from ohmycoins.sim import SimulatorConfig, SimulatorHandle
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import RECORD_TABLES
from ohmycoins.timeframes import now_ms
from tests.collectors import stream_worker_proc
from tests.scheduling.processes import WorkerProcess, wait_for
from tests.support.threaded import simulator_thread

pytestmark = pytest.mark.slow

STARTUP_S = 60.0
LEASE_S = 2.0


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with simulator_thread(SimulatorConfig(seed=3, symbols=("BTCUSDT",), stream_rate=20.0)) as h:
        yield h


def trade_ids(db: Database) -> list[int]:
    with db.engine.connect() as conn:
        table = RECORD_TABLES[Trade]
        return sorted(int(i) for i in conn.execute(select(table.c.trade_id)).scalars())


def test_a_killed_streams_worker_is_replaced_without_a_hole(
    sqlite_db: Database, sim: SimulatorHandle
) -> None:
    streams, _ = stream_worker_proc.registry(sqlite_db, sim.base_url, sim.ws_url)
    sync_tasks(sqlite_db, streams, now_ms())
    args = (sqlite_db.url, sim.base_url, sim.ws_url, "--lease", str(LEASE_S))
    first = WorkerProcess("tests.collectors.stream_worker_proc", *args)
    owner = first.expect("READY ", STARTUP_S).split(" ", 1)[1]
    wait_for(lambda: len(trade_ids(sqlite_db)) >= 20, STARTUP_S)
    assert get_task(sqlite_db, "binance_stream").lease_owner == owner
    first.process.kill()  # SIGKILL: no release, no flush
    first.process.wait(timeout=10)
    killed_at = trade_ids(sqlite_db)[-1]
    second = WorkerProcess("tests.collectors.stream_worker_proc", *args)
    try:
        taker = second.expect("READY ", STARTUP_S).split(" ", 1)[1]
        wait_for(lambda: get_task(sqlite_db, "binance_stream").lease_owner == taker, STARTUP_S)
        wait_for(lambda: trade_ids(sqlite_db)[-1] >= killed_at + 60, STARTUP_S)
    finally:
        second.process.terminate()
        assert second.process.wait(timeout=30) == 0
    ids = trade_ids(sqlite_db)
    assert ids == list(range(ids[0], ids[-1] + 1))  # consecutive: the gap was filled
    assert len(ids) == len(set(ids))
