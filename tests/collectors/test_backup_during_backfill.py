"""A backup taken while a backfill against the simulator is writing holds one moment:
it restores into an empty database with every table's rows as its manifest says, and
every restored row is one the backfill wrote."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from ohmycoins.collectors.candles import CandleSync
from ohmycoins.records import Candle
from ohmycoins.sim import SimulatorHandle
from ohmycoins.storage.backup import backup, restore
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import read_records
from tests.conftest import POSTGRES_URL, sqlite_url
from tests.support.databases import fresh_postgres, table_rows

from .conftest import MINUTE, NOW_MS, SINCE_MS, SYMBOLS, now

UNTIL = NOW_MS - NOW_MS % MINUTE


@pytest.fixture(params=["sqlite", "postgres"])
def two_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The URLs of a database to back up and of an empty one to restore into."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "source"), sqlite_url(tmp_path / "target")
        return
    if not POSTGRES_URL:
        pytest.skip("OMC_TEST_POSTGRES_URL is not set (no PostgreSQL to test against)")
    with fresh_postgres(POSTGRES_URL) as source, fresh_postgres(POSTGRES_URL) as target:
        yield source, target


async def test_backup_while_a_backfill_writes(
    two_databases: tuple[str, str], sim: SimulatorHandle, make_client, tmp_path: Path
) -> None:
    source_url, target_url = two_databases
    source, target = Database(source_url), Database(target_url)
    source.upgrade()
    taken: list[asyncio.Task[tuple[Path, object]]] = []

    def start_backup(series: str, done: int, total: int) -> None:
        """At the first page stored, the backup starts beside the backfill's writes."""
        if not taken and done > 0:
            taken.append(asyncio.create_task(asyncio.to_thread(backup, source, tmp_path, 1)))

    client = make_client(sim)
    await client.load_markets()
    sync = CandleSync(client, source, clock=now, on_progress=start_backup)
    try:
        for symbol in SYMBOLS:
            await sync.sync(symbol, "1m", SINCE_MS, UNTIL)
        path, manifest = await taken[0]
        restored = restore(target, path)
        assert restored == manifest
        rows = table_rows(target)
        assert {name: len(found) for name, found in rows.items()} == manifest.tables
        backed_up = read_records(target, Candle)
        assert backed_up, "the backup started after the first page was stored"
        assert set(backed_up) <= set(read_records(source, Candle))
        assert len(read_records(source, Candle)) > 3 * 3 * 1440  # the backfill went on
    finally:
        source.dispose()
        target.dispose()
