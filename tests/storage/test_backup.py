"""`omc backup` / `omc restore`: every table's rows come back equal, on SQLite and
PostgreSQL; a restore refuses a database that is not empty, and a damaged backup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ohmycoins.collectors.ingest import store
from ohmycoins.errors import StorageError
from ohmycoins.storage.backup import backup, backups_in, manifest_path, prune, restore
from ohmycoins.storage.database import Database
from tests import factories as f
from tests.conftest import POSTGRES_URL, sqlite_url
from tests.support.databases import fresh_postgres, table_rows

AT = 1_796_000_000_000


def _fill(db: Database) -> None:
    """Rows in many tables, with the values that are easy to get wrong: decimals with
    many places, lists, NULLs, negative times."""
    candles = [f.candle(ts=f.T0 + i * 60_000) for i in range(50)]
    candles.append(f.candle(symbol="ETH/USDT", ts=-60_000, volume=f.D("0.000000000001")))
    store(db, candles, source="binance")
    store(db, [f.orderbook(), f.trade(), f.ticker()], source="binance")
    store(db, [f.news_item(), f.social_post(), f.catalyst_event()], source="rss")
    store(db, [f.collector_run(), f.quarantined_record()], source="test")


def _roundtrip(source: Database, target_url: str, tmp_path: Path) -> None:
    _fill(source)
    path, manifest = backup(source, tmp_path / "backups", AT)
    assert path.name.startswith("ohmycoins-") and manifest_path(path).exists()
    assert manifest.tables["candles"] == 51 and manifest.revision == source.current_revision()
    target = Database(target_url)
    try:
        assert restore(target, path) == manifest
        assert table_rows(target) == table_rows(source)
        assert target.is_current()
    finally:
        target.dispose()


def test_sqlite_backup_restores_every_row(sqlite_db: Database, tmp_path: Path) -> None:
    _roundtrip(sqlite_db, sqlite_url(tmp_path / "restored"), tmp_path)


@pytest.mark.postgres
def test_postgres_backup_restores_every_row(tmp_path: Path) -> None:
    if not POSTGRES_URL:
        pytest.skip("OMC_TEST_POSTGRES_URL is not set (no PostgreSQL to test against)")
    with fresh_postgres(POSTGRES_URL) as source_url, fresh_postgres(POSTGRES_URL) as target_url:
        source = Database(source_url)
        try:
            source.upgrade()
            _roundtrip(source, target_url, tmp_path)
        finally:
            source.dispose()


def test_restore_refuses_a_database_that_is_not_empty(sqlite_db: Database, tmp_path: Path) -> None:
    path, _ = backup(sqlite_db, tmp_path / "b", AT)
    other = Database(sqlite_url(tmp_path / "other"))
    other.upgrade()
    with pytest.raises(StorageError, match=r"refusing to restore .* not empty \(\d+ tables"):
        restore(other, path)
    other.dispose()


def test_restore_refuses_a_damaged_backup_and_one_without_manifest(
    sqlite_db: Database, tmp_path: Path
) -> None:
    _fill(sqlite_db)
    path, _ = backup(sqlite_db, tmp_path / "b", AT)
    target = Database(sqlite_url(tmp_path / "t"))
    with path.open("r+b") as file:
        file.seek(200)
        file.write(b"\x00damage")
    with pytest.raises(StorageError, match="does not match its manifest"):
        restore(target, path)
    manifest_path(path).unlink()
    with pytest.raises(StorageError, match="has no manifest"):
        restore(target, path)
    with pytest.raises(StorageError, match="no backup at"):
        restore(target, tmp_path / "missing.db")
    target.dispose()


def test_restore_checks_the_rows_against_the_manifest(sqlite_db: Database, tmp_path: Path) -> None:
    """A manifest that says more rows than the backup holds fails the restore, naming
    the table."""
    _fill(sqlite_db)
    path, _ = backup(sqlite_db, tmp_path / "b", AT)
    written = manifest_path(path)
    data = json.loads(written.read_text())
    data["tables"]["candles"] += 1
    written.write_text(json.dumps(data))
    target = Database(sqlite_url(tmp_path / "t"))
    with pytest.raises(StorageError, match=r"candles: 52 in the backup, 51 restored"):
        restore(target, path)
    target.dispose()


def test_a_postgres_backup_does_not_restore_into_sqlite(tmp_path: Path) -> None:
    folder = tmp_path / "b"
    folder.mkdir()
    path = folder / "ohmycoins-20260101T000000Z.dump"
    path.write_bytes(b"PGDMP")
    manifest = {
        "file": path.name, "backend": "postgresql", "revision": "0005", "created_ts": AT,
        "tables": {}, "bytes": 5, "sha256": "x",
    }  # fmt: skip
    manifest_path(path).write_text(json.dumps(manifest))
    target = Database(sqlite_url(tmp_path / "t"))
    with pytest.raises(StorageError, match=r"is a postgresql backup; .* is sqlite"):
        restore(target, path)
    target.dispose()


def test_prune_keeps_the_newest(sqlite_db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "b"
    for hour in range(4):
        backup(sqlite_db, folder, AT + hour * 3_600_000)
    (folder / "ohmycoins-unfinished.db").write_bytes(b"")  # no manifest: not a backup
    newest = backups_in(folder)[-2:]
    removed = prune(folder, 2)
    assert len(removed) == 2 and backups_in(folder) == newest
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [p.name for p in newest] + [manifest_path(p).name for p in newest]
        + ["ohmycoins-unfinished.db"]
    )  # fmt: skip
