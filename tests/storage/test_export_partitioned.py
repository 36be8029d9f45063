"""`omc export --partition-by day,symbol`: daily compressed archives per date and coin,
in Hive-style folders a Parquet reader takes back with the rows exact."""

from __future__ import annotations

import csv
import gzip
import io
import json
from decimal import Decimal as D
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from ohmycoins.cli import app
from ohmycoins.errors import ConfigError
from ohmycoins.storage.database import Database
from ohmycoins.storage.export import ExportQuery, export_partitioned
from ohmycoins.storage.upsert import upsert
from tests import factories as f

DAY = 86_400_000
MINUTE = 60_000
MIDNIGHT = 1_700_006_400_000  # 2023-11-15T00:00:00Z


@pytest.fixture
def two_days(db: Database) -> Database:
    """BTC across a midnight (3 candles the first day, 2 the next), ETH on the second day,
    and a 1h candle beside them."""
    btc = [
        f.candle(ts=MIDNIGHT - 3 * MINUTE + i * MINUTE, close=D("37000.5") + i) for i in range(5)
    ]
    btc[0] = f.candle(ts=MIDNIGHT - 3 * MINUTE, volume=D("0.00000001"))
    eth = [f.candle(symbol="ETH/USDT", ts=MIDNIGHT + i * MINUTE) for i in range(4)]
    hour = f.candle(timeframe="1h", ts=MIDNIGHT)
    upsert(db, [*btc, *eth, hour, f.news_item()])
    return db


def _folders(files: list, root: Path) -> list[tuple[str, int]]:
    return [(str(part.path.relative_to(root)), part.rows) for part in files]


def test_parquet_by_day_and_symbol(two_days: Database, tmp_path: Path) -> None:
    files = export_partitioned(
        two_days, ExportQuery("candles"), tmp_path, "parquet", ["day", "symbol"]
    )
    assert _folders(files, tmp_path) == [
        ("candles/day=2023-11-14/symbol=BTC%2FUSDT/part.parquet", 3),
        ("candles/day=2023-11-15/symbol=BTC%2FUSDT/part.parquet", 3),  # 2 of 1m, one 1h
        ("candles/day=2023-11-15/symbol=ETH%2FUSDT/part.parquet", 4),
    ]
    assert pq.ParquetFile(files[0].path).metadata.row_group(0).column(0).compression == "ZSTD"
    table = ds.dataset(tmp_path / "candles", format="parquet", partitioning="hive").to_table()
    rows = table.to_pylist()
    assert len(rows) == 10
    assert {(r["symbol"], r["day"]) for r in rows} == {
        ("BTC/USDT", "2023-11-14"),
        ("BTC/USDT", "2023-11-15"),
        ("ETH/USDT", "2023-11-15"),
    }
    first = min((r for r in rows if r["symbol"] == "BTC/USDT"), key=lambda r: r["ts"])
    assert first["volume"] == "0.00000001" and first["ts"] == MIDNIGHT - 3 * MINUTE


def test_csv_by_day_is_gzipped_with_a_header(two_days: Database, tmp_path: Path) -> None:
    query = ExportQuery("candles", equal={"timeframe": "1m"})
    files = export_partitioned(two_days, query, tmp_path, "csv", ["day"])
    assert _folders(files, tmp_path) == [
        ("candles/day=2023-11-14/part.csv.gz", 3),
        ("candles/day=2023-11-15/part.csv.gz", 6),
    ]
    with gzip.open(files[1].path, "rt") as text:
        rows = list(csv.reader(text))
    assert rows[0][:4] == ["exchange", "symbol", "timeframe", "ts"]
    assert [(row[1], int(row[3])) for row in rows[1:]] == sorted(
        [("BTC/USDT", MIDNIGHT + i * MINUTE) for i in range(2)]
        + [("ETH/USDT", MIDNIGHT + i * MINUTE) for i in range(4)],
        key=lambda pair: (pair[1], pair[0]),
    )


def test_jsonl_by_day_for_a_table_without_symbols(two_days: Database, tmp_path: Path) -> None:
    files = export_partitioned(two_days, ExportQuery("news_items"), tmp_path, "jsonl", ["day"])
    [part] = files
    with gzip.open(part.path) as raw:
        [item] = [json.loads(line) for line in io.TextIOWrapper(raw)]
    assert part.rows == 1 and item["url"] == f.news_item().url


def test_refusals(two_days: Database, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="news_items has no symbol column"):
        export_partitioned(two_days, ExportQuery("news_items"), tmp_path, "csv", ["symbol"])
    with pytest.raises(ConfigError, match="choose from day, symbol"):
        export_partitioned(two_days, ExportQuery("candles"), tmp_path, "csv", ["month"])
    export_partitioned(two_days, ExportQuery("candles"), tmp_path, "csv", ["day"])
    with pytest.raises(ConfigError, match="exists already"):
        export_partitioned(two_days, ExportQuery("candles"), tmp_path, "csv", ["day"])


def test_the_command(two_days: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMC_DATABASE_URL", two_days.url)
    args = ["export", "candles", "--format", "parquet", "-o", str(tmp_path)]
    result = CliRunner().invoke(app, [*args, "--partition-by", "day,symbol"])
    assert result.exit_code == 0, result.output
    assert "10 rows of candles written to 3 files" in result.output
    to_stdout = CliRunner().invoke(app, ["export", "candles", "--partition-by", "day"])
    assert to_stdout.exit_code == 2 and "give a directory with --output" in to_stdout.output
