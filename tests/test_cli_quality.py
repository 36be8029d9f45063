"""`omc quality integrity` and `omc quality coverage` over a seeded SQLite file."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from ohmycoins.cli import app
from ohmycoins.records import OnchainMetric
from ohmycoins.storage.database import Database
from ohmycoins.storage.upsert import upsert
from ohmycoins.timeframes import floor_ts, now_ms
from tests.quality.seeds import EXPECTED, broken_records, clean_records


def test_integrity_passes_on_clean_data(database: Database) -> None:
    upsert(database, clean_records())
    result = CliRunner().invoke(app, ["quality", "integrity"])
    assert result.exit_code == 0, result.output
    assert "no findings" in result.output


def test_integrity_fails_on_violations(database: Database) -> None:
    upsert(database, [*clean_records(), *broken_records()])
    result = CliRunner().invoke(app, ["quality", "integrity"])
    assert result.exit_code == 1
    for check in ("supply_order", "negative_value", "block_height_decrease", "tvl_jump"):
        assert check in result.output
    assert "asset=dogecoin" in result.output


def test_integrity_json(database: Database) -> None:
    upsert(database, [*clean_records(), *broken_records()])
    result = CliRunner().invoke(app, ["quality", "integrity", "--json"])
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["violations"] == len(EXPECTED) - 2 and body["anomalies"] == 2
    found = {(f["check"], f["table"], tuple(f["key"].values())) for f in body["findings"]}
    assert found == EXPECTED


def test_anomalies_alone_do_not_fail(database: Database) -> None:
    upsert(database, clean_records())
    result = CliRunner().invoke(app, ["quality", "integrity", "--json", "--tvl-jump", "0.4"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["violations"], body["anomalies"]) == (0, 2)


def test_coverage_of_recent_rows(database: Database) -> None:
    hour = floor_ts(now_ms(), "1h")
    upsert(
        database,
        [
            OnchainMetric("bitcoin", hour, ("mempool",), block_height=1),
            OnchainMetric("ethereum", hour, ("coingecko",)),
        ],
    )
    result = CliRunner().invoke(app, ["quality", "coverage", "--hours", "2"])
    assert result.exit_code == 0, result.output
    (line,) = [row for row in result.output.splitlines() if "block_height" in row]
    assert "onchain_metrics" in line and "50.0" in line
    assert "last 2 h" in result.output


def test_coverage_refuses_a_bad_window(database: Database) -> None:
    result = CliRunner().invoke(app, ["quality", "coverage", "--hours", "0"])
    assert result.exit_code == 2
