"""Derived measures: the formulas, and `storage.measures.refresh_onchain` on both backends."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from ohmycoins.collectors.ingest import store
from ohmycoins.enrich.derived import (
    COMMON_FIELDS,
    DAY_MS,
    YEAR_MS,
    expected_fields,
    inflation_rate,
    mcap_to_tvl,
    nvt,
    quality_score,
    trailing_inflation,
)
from ohmycoins.records import Asset, OnchainMetric
from ohmycoins.storage.database import Database
from ohmycoins.storage.measures import refresh_onchain
from ohmycoins.storage.queries import read_records
from ohmycoins.storage.upsert import upsert, upsert_records

H0 = 1_700_002_800_000
HOUR = 3_600_000


# --- formulas ---------------------------------------------------------------------


def test_nvt_is_market_cap_over_transaction_volume() -> None:
    assert nvt(D("723000000000"), D("12000000000")) == D("60.25")
    assert nvt(D("1"), D("3")) == D("0.333333333333")  # 12 significant digits
    assert nvt(None, D("1")) is None
    assert nvt(D("1"), None) is None
    assert nvt(D("1"), D("0")) is None


def test_mcap_to_tvl() -> None:
    assert mcap_to_tvl(D("5000000000"), D("3500000000.12")) == D("1.42857142852")
    assert mcap_to_tvl(D("5"), D("0")) is None
    assert mcap_to_tvl(None, D("5")) is None


def test_inflation_rate_is_annualised_linearly() -> None:
    # 450 new coins a day on 19.5M is 0.842 % a year
    rate = inflation_rate((0, D("19500000")), (DAY_MS, D("19500450")))
    assert rate == D("0.00842307692308")
    assert inflation_rate((0, D("100")), (YEAR_MS, D("110"))) == D("0.1")
    assert inflation_rate((0, D("100")), (YEAR_MS // 2, D("95"))) == D("-0.1")  # burnt
    assert inflation_rate((DAY_MS, D("100")), (0, D("101"))) is None
    assert inflation_rate((0, D("0")), (DAY_MS, D("101"))) is None


def test_trailing_inflation_takes_the_newest_observation_a_day_older() -> None:
    history = [(0, D("100")), (DAY_MS // 2, D("100.5")), (DAY_MS, D("101"))]
    # at 1.5 days: the newest observation at least a day older is the one at 0.5 day
    at = (3 * DAY_MS // 2, D("101.5"))
    assert trailing_inflation(history, at) == inflation_rate(history[1], at)
    assert trailing_inflation(history, (DAY_MS // 2, D("101"))) is None  # nothing a day older
    assert trailing_inflation(history, (9 * DAY_MS, D("101"))) is None  # over a week older
    assert trailing_inflation([], (DAY_MS, D("1"))) is None


def test_expected_fields_depend_on_the_network_type() -> None:
    assert "hash_rate" in expected_fields("pow") and "staked_amount" not in expected_fields("pow")
    assert "staked_amount" in expected_fields("pos") and "hash_rate" not in expected_fields("pos")
    assert expected_fields(None) == COMMON_FIELDS == expected_fields("dag")


def test_quality_score_is_the_share_present() -> None:
    full = dict.fromkeys(expected_fields("pow"), D(1))
    assert quality_score(full, "pow") == D(1)
    assert quality_score({}, "pos") == D(0)
    # the PoS set has 7 fields; mining fields present do not count for it
    pos = {"block_height": 1, "tx_count": 2, "hash_rate": D(5), "staked_amount": D(9)}
    assert quality_score(pos, "pos") == D("0.4286")
    assert quality_score({"market_cap": D(1)}, None) == D("0.2")


# --- refresh_onchain ----------------------------------------------------------------


def _row(db: Database, asset: str, ts: int = H0) -> OnchainMetric:
    (row,) = read_records(db, OnchainMetric, asset=asset, ts=ts)
    return row


def _store_and_refresh(db: Database, rows: list[OnchainMetric]) -> None:
    with db.engine.begin() as conn:
        upsert_records(conn, rows)
        refresh_onchain(conn, [(row.asset, row.ts) for row in rows])


@pytest.fixture
def assets(db: Database) -> Database:
    upsert(
        db,
        [
            Asset("bitcoin", "BTC", "Bitcoin", H0, network_type="pow"),
            Asset("ethereum", "ETH", "Ethereum", H0, network_type="pos"),
        ],
    )
    return db


def test_refresh_stores_nvt_and_score(assets: Database) -> None:
    bitcoin = OnchainMetric(
        "bitcoin",
        H0,
        ("blockchain_info", "coingecko"),
        block_height=817_000,
        hash_rate=D("790000000000000000000"),
        tx_count=350_000,
        tx_volume_usd=D("12000000000"),
        market_cap=D("723000000000"),
        quality_score=D("0.99"),  # whatever a source said, the score is ours
    )
    _store_and_refresh(assets, [bitcoin])
    stored = _row(assets, "bitcoin")
    assert stored.nvt == D("60.25")
    assert stored.quality_score == D("0.4")  # 4 of the 10 PoW fields


def test_pos_chain_is_not_marked_down_for_mining_fields(assets: Database) -> None:
    fields = {name: D(1) for name in expected_fields("pos") if name not in ("tx_count",)}
    fields["block_height"] = 19_000_000
    _store_and_refresh(assets, [OnchainMetric("ethereum", H0, ("coingecko",), **fields)])
    assert _row(assets, "ethereum").quality_score == D("0.8571")  # 6 of 7, no hash rate asked


def test_unknown_asset_scores_against_the_common_set(assets: Database) -> None:
    row = OnchainMetric("pepe", H0, ("coingecko",), market_cap=D(5), circulating_supply=D(7))
    _store_and_refresh(assets, [row])
    assert _row(assets, "pepe").quality_score == D("0.4")  # 2 of the 5 common fields
    assert _row(assets, "pepe").nvt is None


def test_a_fetched_nvt_wins(assets: Database) -> None:
    row = OnchainMetric(
        "bitcoin",
        H0,
        ("glassnode",),
        nvt=D("45.5"),
        market_cap=D("100"),
        tx_volume_usd=D("1"),
    )
    _store_and_refresh(assets, [row])
    assert _row(assets, "bitcoin").nvt == D("45.5")


def test_a_later_fetched_nvt_replaces_ours_and_is_kept(assets: Database) -> None:
    first = OnchainMetric("bitcoin", H0, ("coingecko",), market_cap=D("100"), tx_volume_usd=D(4))
    _store_and_refresh(assets, [first])
    assert _row(assets, "bitcoin").nvt == D("25")
    _store_and_refresh(assets, [OnchainMetric("bitcoin", H0, ("glassnode",), nvt=D("31.7"))])
    assert _row(assets, "bitcoin").nvt == D("31.7")
    # a newer market cap does not overwrite the fetched NVT
    _store_and_refresh(assets, [OnchainMetric("bitcoin", H0, ("coingecko",), market_cap=D(200))])
    assert _row(assets, "bitcoin").nvt == D("31.7")


def test_our_nvt_follows_its_inputs(assets: Database) -> None:
    first = OnchainMetric("bitcoin", H0, ("coingecko",), market_cap=D("100"))
    _store_and_refresh(assets, [first])
    assert _row(assets, "bitcoin").nvt is None
    volume = OnchainMetric("bitcoin", H0, ("blockchain_info",), tx_volume_usd=D("4"))
    _store_and_refresh(assets, [volume])
    assert _row(assets, "bitcoin").nvt == D("25")
    _store_and_refresh(assets, [OnchainMetric("bitcoin", H0, ("coingecko",), market_cap=D(200))])
    assert _row(assets, "bitcoin").nvt == D("50")


def test_refresh_touches_only_the_given_keys(assets: Database) -> None:
    rows = [
        OnchainMetric(
            "bitcoin", H0 + i * HOUR, ("coingecko",), market_cap=D(10), tx_volume_usd=D(2)
        )
        for i in range(2)
    ]
    with assets.engine.begin() as conn:
        upsert_records(conn, rows)
        refresh_onchain(conn, [("bitcoin", H0), ("bitcoin", H0), ("nothing", H0)])
    assert _row(assets, "bitcoin", H0).nvt == D(5)
    assert _row(assets, "bitcoin", H0 + HOUR).nvt is None
    with assets.engine.begin() as conn:
        refresh_onchain(conn, [])


def test_storing_refreshes_what_it_wrote(assets: Database) -> None:
    """`ingest.store` refreshes the on-chain rows it just wrote, in its transaction."""
    rows = [OnchainMetric("bitcoin", H0, ("coingecko",), market_cap=D(9), tx_volume_usd=D(3))]
    store(assets, rows, source="coingecko", at_ms=H0)
    stored = _row(assets, "bitcoin")
    assert stored.nvt == D(3)
    assert stored.quality_score == D("0.1")  # market_cap: 1 of the 10 PoW fields


def test_refreshing_many_rows(assets: Database) -> None:
    """More keys than one SELECT takes: every row is refreshed."""
    rows = [
        OnchainMetric(
            f"coin{i % 7}",
            H0 + (i // 7) * HOUR,
            ("coingecko",),
            market_cap=D(i + 1),
            tx_volume_usd=D(2),
        )
        for i in range(1400)
    ]
    with assets.engine.begin() as conn:
        upsert_records(conn, rows)
    with assets.engine.begin() as conn:
        refresh_onchain(conn, [(row.asset, row.ts) for row in rows])
    stored = read_records(assets, OnchainMetric)
    assert len(stored) == 1400
    assert all(row.nvt == row.market_cap / 2 for row in stored if row.market_cap is not None)
    assert all(row.quality_score == D("0.2") for row in stored)
