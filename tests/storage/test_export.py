"""`omc export`: a table's rows streamed to CSV, JSON lines and Parquet, exactly."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal as D
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from ohmycoins.cli import app
from ohmycoins.errors import ConfigError
from ohmycoins.storage import export
from ohmycoins.storage.database import Database
from ohmycoins.storage.export import ExportQuery, export_table
from ohmycoins.storage.upsert import upsert
from tests import factories as f
from tests.factories import T0

MINUTE = 60_000


@pytest.fixture
def filled(db: Database) -> Database:
    candles = [f.candle(ts=T0 + i * MINUTE, close=D("37000.5") + i) for i in range(5)]
    candles[0] = f.candle(ts=T0, volume=D("0.00000001"))
    upsert(db, [*candles, f.candle(symbol="ETH/USDT", ts=T0), f.orderbook(), f.news_item()])
    return db


def _export(db: Database, query: ExportQuery, fmt: str) -> bytes:
    out = io.BytesIO()
    export_table(db, query, out, fmt)
    return out.getvalue()


def test_csv_is_exact_filtered_and_in_key_order(filled: Database) -> None:
    query = ExportQuery("candles", since=T0 + MINUTE, equal={"symbol": "BTC/USDT"})
    rows = list(csv.DictReader(io.StringIO(_export(filled, query, "csv").decode())))
    assert [int(row["ts"]) for row in rows] == [T0 + i * MINUTE for i in range(1, 5)]
    assert rows[0]["close"] == "37001.5"
    first = list(
        csv.DictReader(io.StringIO(_export(filled, ExportQuery("candles"), "csv").decode()))
    )
    assert first[0]["volume"] == "0.00000001"  # never 1E-8


def test_json_lines_keep_lists_and_decimals_as_text(filled: Database) -> None:
    (book,) = [
        json.loads(line)
        for line in _export(filled, ExportQuery("orderbooks"), "jsonl").splitlines()
    ]
    assert json.loads(book["bids"])[0] == [str(level) for level in f.orderbook().bids[0]]
    (news,) = [
        json.loads(line)
        for line in _export(filled, ExportQuery("news_items"), "jsonl").splitlines()
    ]
    assert json.loads(news["currencies"]) == ["BTC"] and news["sentiment_score"] == "0.62"


def test_parquet_streams_in_batches(filled: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "BATCH_ROWS", 2)
    table = pq.read_table(io.BytesIO(_export(filled, ExportQuery("candles"), "parquet")))
    assert table.num_rows == 6
    assert table.column("close").to_pylist()[1] == "37001.5"
    assert table.schema.field("close").metadata == {b"decimal": b"exact"}
    assert table.schema.field("ts").type == "int64"


@pytest.mark.parametrize(
    ("query", "fmt", "setting"),
    [
        (ExportQuery("nope"), "csv", "table"),
        (ExportQuery("candles"), "xml", "format"),
        (ExportQuery("candles", equal={"colour": "red"}), "csv", "where"),
        (ExportQuery("candles", equal={"ts": "soon"}), "csv", "where"),
    ],
)
def test_bad_requests_are_named(
    filled: Database, query: ExportQuery, fmt: str, setting: str
) -> None:
    out = io.BytesIO()
    with pytest.raises(ConfigError) as error:
        export_table(filled, query, out, fmt)
    assert error.value.setting == setting
    assert out.getvalue() == b""


def test_the_command_writes_a_file(
    filled: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMC_DATABASE_URL", filled.url)
    target = tmp_path / "btc.parquet"
    args = [
        "export",
        "candles",
        "--format",
        "parquet",
        "-o",
        str(target),
        "--where",
        "symbol=BTC/USDT",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "5 rows of candles" in result.output
    assert pq.read_table(target).num_rows == 5
    bad = CliRunner().invoke(
        app, ["export", "candles", "-o", str(tmp_path / "x.csv"), "--where", "oops"]
    )
    assert bad.exit_code == 2 and "column=value" in bad.output
    assert not (tmp_path / "x.csv").exists()
