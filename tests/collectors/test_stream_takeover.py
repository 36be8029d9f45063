"""SIGKILL the worker that holds a stream: another takes it within the lease, the trades
it missed are fetched over REST by id, and the stored trade ids stay consecutive with no
duplicate. Real processes, the real simulator (its websocket and REST), one SQLite file."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from ohmycoins.records import Trade
from ohmycoins.scheduling.tasks import get_task, sync_tasks
from ohmycoins.sim import SimulatorConfig, SimulatorHandle
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import RECORD_TABLES
from ohmycoins.timeframes import now_ms
from tests.collectors import stream_worker_proc
from tests.support.threaded import simulator_thread

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
STARTUP_S = 60.0
LEASE_S = 2.0


class WorkerProcess:
    def __init__(self, *args: str) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        command = [sys.executable, "-m", "tests.collectors.stream_worker_proc", *args]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.strip())

    def owner(self) -> str:
        line = self.lines.get(timeout=STARTUP_S)
        assert line.startswith("READY "), line
        return line.split(" ", 1)[1]


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with simulator_thread(SimulatorConfig(seed=3, symbols=("BTCUSDT",), stream_rate=20.0)) as h:
        yield h


def trade_ids(db: Database) -> list[int]:
    with db.engine.connect() as conn:
        table = RECORD_TABLES[Trade]
        return sorted(int(i) for i in conn.execute(select(table.c.trade_id)).scalars())


def wait_for(condition: Callable[[], bool], timeout: float = STARTUP_S) -> None:
    """Poll the database (written by other processes: there is no event to await)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_killed_streams_worker_is_replaced_without_a_hole(
    sqlite_db: Database, sim: SimulatorHandle
) -> None:
    streams, _ = stream_worker_proc.registry(sqlite_db, sim.base_url, sim.ws_url)
    sync_tasks(sqlite_db, streams, now_ms())
    args = (sqlite_db.url, sim.base_url, sim.ws_url, "--lease", str(LEASE_S))
    first = WorkerProcess(*args)
    owner = first.owner()
    wait_for(lambda: len(trade_ids(sqlite_db)) >= 20)
    assert get_task(sqlite_db, "binance_stream").lease_owner == owner
    first.process.kill()  # SIGKILL: no release, no flush
    first.process.wait(timeout=10)
    killed_at = trade_ids(sqlite_db)[-1]
    second = WorkerProcess(*args)
    try:
        taker = second.owner()
        wait_for(lambda: get_task(sqlite_db, "binance_stream").lease_owner == taker)
        wait_for(lambda: trade_ids(sqlite_db)[-1] >= killed_at + 60)
    finally:
        second.process.terminate()
        assert second.process.wait(timeout=30) == 0
    ids = trade_ids(sqlite_db)
    assert ids == list(range(ids[0], ids[-1] + 1))  # consecutive: the gap was filled
    assert len(ids) == len(set(ids))
