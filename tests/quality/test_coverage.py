"""Field coverage of recent glass and macro rows, on both backends."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from ohmycoins.records import CommunityMetric, MacroObservation, OnchainMetric, ProtocolFundamental
from ohmycoins.storage.database import Database
from ohmycoins.storage.reports.coverage import COVERED_TABLES, CoverageReport, coverage
from ohmycoins.storage.upsert import upsert

HOUR = 3_600_000
NOW = 1_700_100_000_000


def _fields(report: CoverageReport, table: str) -> dict[str, tuple[int, float | None]]:
    (found,) = [t for t in report.tables if t.table == table]
    return {f.field: (f.present, f.percent) for f in found.fields}


def _rows(report: CoverageReport) -> dict[str, int]:
    return {t.table: t.rows for t in report.tables}


@pytest.fixture
def seeded(db: Database) -> Database:
    """Four on-chain rows in the last day (one has a supply, three a block height), one
    older; three protocol days in the window; one macro value missing."""
    upsert(
        db,
        [
            OnchainMetric("bitcoin", NOW - HOUR, ("mempool",), block_height=1),
            OnchainMetric("bitcoin", NOW - 2 * HOUR, ("mempool",), block_height=2),
            OnchainMetric("ethereum", NOW - 3 * HOUR, ("coingecko",), block_height=3),
            OnchainMetric(
                "ethereum", NOW - 23 * HOUR, ("coingecko",), circulating_supply=D("120.5")
            ),
            OnchainMetric("bitcoin", NOW - 25 * HOUR, ("mempool",), block_height=0),
            *(
                ProtocolFundamental(p, NOW - 86_400_000, NOW - i * HOUR, "defillama", tvl=D(1))
                for i, p in enumerate(["a", "b", "c"])
            ),
            MacroObservation("DGS10", NOW - 2 * HOUR, "fred", D("4.5")),
            MacroObservation("DGS10", NOW - HOUR, "fred", None),
        ],
    )
    return db


def test_counts_and_percentages_per_field(seeded: Database) -> None:
    report = coverage(seeded, hours=24, at_ms=NOW)
    assert (report.since_ts, report.until_ts) == (NOW - 24 * HOUR, NOW)
    assert [t.table for t in report.tables] == [t.TABLE for t in COVERED_TABLES]
    assert _rows(report) == {
        "onchain_metrics": 4,
        "protocol_fundamentals": 3,
        "community_metrics": 0,
        "macro_observations": 2,
    }
    onchain = _fields(report, "onchain_metrics")
    assert onchain["block_height"] == (3, 75.0)
    assert onchain["circulating_supply"] == (1, 25.0)
    assert onchain["sources"] == (4, 100.0)
    assert onchain["hash_rate"] == (0, 0.0)
    assert "asset" not in onchain and "ts" not in onchain
    assert _fields(report, "macro_observations") == {
        "source": (2, 100.0),
        "value": (1, 50.0),
        "released_ts": (0, 0.0),  # no first release date among the seeds
    }
    protocols = _fields(report, "protocol_fundamentals")
    assert protocols["tvl"] == (3, 100.0) and protocols["fees_24h"] == (0, 0.0)
    assert "day" not in protocols and "ts" not in protocols


def test_empty_table_has_no_percentages(seeded: Database) -> None:
    community = _fields(coverage(seeded, hours=24, at_ms=NOW), "community_metrics")
    assert set(community) == {
        "sources",
        "reddit_subscribers",
        "reddit_active_accounts",
        "telegram_users",
        "twitter_followers",
    }
    assert all(value == (0, None) for value in community.values())


def test_window_is_configurable(seeded: Database) -> None:
    assert _rows(coverage(seeded, hours=2, at_ms=NOW))["onchain_metrics"] == 2
    wide = coverage(seeded, hours=48, at_ms=NOW)
    assert _rows(wide)["onchain_metrics"] == 5
    assert _fields(wide, "onchain_metrics")["block_height"] == (4, 80.0)


def test_window_must_be_positive(sqlite_db: Database) -> None:
    with pytest.raises(ValueError, match="hours must be > 0"):
        coverage(sqlite_db, hours=0)


def test_one_third_is_rounded(db: Database) -> None:
    upsert(
        db,
        [
            CommunityMetric(a, NOW, ("coingecko",), twitter_followers=1 if a == "x" else None)
            for a in ("x", "y", "z")
        ],
    )
    community = _fields(coverage(db, at_ms=NOW), "community_metrics")
    assert community["twitter_followers"] == (1, 33.33)
