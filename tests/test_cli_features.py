"""`omc features build|export` on a SQLite file of candles."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from ohmycoins.cli import app
from ohmycoins.enrich.default_features import DEFAULT_SET
from ohmycoins.storage.database import Database
from ohmycoins.storage.upsert import upsert
from tests.conftest import sqlite_url
from tests.support.candles import random_walk
from tests.support.cli import one_error_line

DAY_OF_MINUTES = 24 * 60


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    url = sqlite_url(tmp_path)
    monkeypatch.setenv("OMC_DATABASE_URL", url)
    db = Database(url)
    db.upgrade()
    # two symbols; ETH's candles run over a month boundary
    upsert(db, random_walk(300))
    upsert(db, random_walk(DAY_OF_MINUTES + 60, symbol="ETH/USDT", start=1_769_817_600_000))
    return db


def test_build_then_export_a_file_and_a_partitioned_folder(
    database: Database, tmp_path: Path
) -> None:
    runner = CliRunner()
    for symbol in ("BTC/USDT", "ETH/USDT"):
        built = runner.invoke(app, ["features", "build", "--exchange", "binance",
                                    "--symbol", symbol, "--timeframe", "1m"])  # fmt: skip
        assert built.exit_code == 0, built.output
        assert DEFAULT_SET.version in built.output
    out = tmp_path / "btc.parquet"
    done = runner.invoke(app, ["features", "export", "--exchange", "binance", "--symbol",
                               "BTC/USDT", "--timeframe", "1m", "-o", str(out),
                               "--columns", "rsi_14,macd_hist"])  # fmt: skip
    assert done.exit_code == 0, done.output
    table = pq.read_table(out)
    assert table.num_rows == 300
    assert table.column_names[-2:] == ["rsi_14", "macd_hist"]
    assert table.column("ts").to_pylist()[0] == random_walk(1)[0].ts
    folder = tmp_path / "dataset"
    done = runner.invoke(app, ["features", "export", "--exchange", "binance", "--symbol",
                               "BTC/USDT", "--symbol", "ETH/USDT", "--timeframe", "1m",
                               "-o", str(folder), "--format", "csv", "--partition"])  # fmt: skip
    assert done.exit_code == 0, done.output
    parts = sorted(p.relative_to(folder).parent.as_posix() for p in folder.rglob("*.csv"))
    assert parts == ["symbol=BTC-USDT/month=2026-01", "symbol=ETH-USDT/month=2026-01",
                     "symbol=ETH-USDT/month=2026-02"]  # fmt: skip
    rows = sum(len(p.read_text().splitlines()) - 1 for p in folder.rglob("*.csv"))
    assert rows == 300 + DAY_OF_MINUTES + 60


def test_export_refuses_an_unknown_format(database: Database, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["features", "export", "--exchange", "binance",
                                      "--symbol", "BTC/USDT", "--timeframe", "1m",
                                      "-o", str(tmp_path / "x"), "--format", "xlsx"])  # fmt: skip
    assert "xlsx" in one_error_line(result)
