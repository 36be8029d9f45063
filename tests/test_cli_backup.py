"""`omc backup` and `omc restore` as a user runs them: a backup directory from the
settings or `--to`, a restore into an empty database, one line for a refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ohmycoins.cli import app
from ohmycoins.collectors.ingest import store
from ohmycoins.storage.backup import backups_in
from ohmycoins.storage.database import Database
from tests import factories as f
from tests.conftest import sqlite_url
from tests.support.cli import one_error_line


def test_backup_then_restore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = Database(sqlite_url(tmp_path / "source"))
    source.upgrade()
    store(source, [f.candle(ts=f.T0 + i * 60_000) for i in range(7)], source="binance")
    monkeypatch.setenv("OMC_DATABASE_URL", source.url)
    monkeypatch.setenv("OMC_BACKUP_DIR", str(tmp_path / "nightly"))
    taken = CliRunner().invoke(app, ["backup"])
    assert taken.exit_code == 0, taken.output
    [path] = backups_in(tmp_path / "nightly")
    assert f"backup {path}" in taken.output.replace("\n", "") and "rows" in taken.output
    elsewhere = CliRunner().invoke(app, ["backup", "--to", str(tmp_path / "other")])
    assert elsewhere.exit_code == 0 and len(backups_in(tmp_path / "other")) == 1

    monkeypatch.setenv("OMC_DATABASE_URL", sqlite_url(tmp_path / "restored"))
    restored = CliRunner().invoke(app, ["restore", str(path)])
    assert restored.exit_code == 0, restored.output
    assert "every table's count as in the manifest" in restored.output.replace("\n", " ")
    target = Database(sqlite_url(tmp_path / "restored"))
    with target.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM candles").scalar() == 7
    target.dispose()

    again = CliRunner().invoke(app, ["restore", str(path)])
    assert "refusing to restore into" in one_error_line(again)
    missing = CliRunner().invoke(app, ["restore", str(tmp_path / "nope.db")])
    assert "no backup at" in one_error_line(missing)
    source.dispose()
