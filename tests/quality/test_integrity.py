"""Integrity checks on both backends: exactly the seeded problems, nothing on clean data."""

from __future__ import annotations

from decimal import Decimal as D

from ohmycoins.records import ProtocolFundamental
from ohmycoins.storage.database import Database
from ohmycoins.storage.reports.integrity import Finding, check_integrity, violations
from ohmycoins.storage.upsert import upsert
from tests.quality.seeds import D0, DAY, EXPECTED, H0, broken_records, clean_records


def _found(findings: list[Finding]) -> list[tuple[str, str, tuple[object, ...]]]:
    return sorted((f.check, f.table, tuple(f.key.values())) for f in findings)


def test_clean_data_has_no_findings(db: Database) -> None:
    upsert(db, clean_records())
    assert check_integrity(db) == []


def test_empty_database_has_no_findings(db: Database) -> None:
    assert check_integrity(db) == []


def test_finds_exactly_the_seeded_problems(db: Database) -> None:
    upsert(db, [*clean_records(), *broken_records()])
    findings = check_integrity(db)
    assert _found(findings) == sorted(EXPECTED)
    anomalies = [f for f in findings if f.severity == "anomaly"]
    assert {f.check for f in anomalies} == {"tvl_jump"}
    assert len(violations(findings)) == len(EXPECTED) - 2


def test_findings_say_what_is_wrong(db: Database) -> None:
    upsert(db, [*clean_records(), *broken_records()])
    by_key = {(f.check, tuple(f.key.values())): f.detail for f in check_integrity(db)}
    assert by_key["supply_order", ("dogecoin", H0)] == (
        "circulating_supply 21000000.000000000000000001 > total_supply 21000000"
    )
    assert by_key["negative_value", ("solana", H0)] == (
        "staked_amount -0.000000000000000001 is negative"
    )
    decrease = by_key["block_height_decrease", ("bitcoin", H0 + 5 * 3_600_000)]
    assert decrease == f"block_height 816990 < 817002 at ts {H0 + 2 * 3_600_000}"
    jump = by_key["tvl_jump", ("curve", D0 + DAY)]
    assert jump.startswith("tvl 100 -> 150.0000000001 (+50.0 %")


def test_tvl_jump_threshold_is_configurable(db: Database) -> None:
    upsert(db, clean_records())
    findings = check_integrity(db, tvl_jump=D("0.4"))
    assert _found(findings) == [
        ("tvl_jump", "protocol_fundamentals", ("uniswap", D0 + DAY)),
        ("tvl_jump", "protocol_fundamentals", ("uniswap", D0 + 2 * DAY)),
    ]
    assert violations(findings) == []


def test_a_merged_fix_clears_the_finding(db: Database) -> None:
    """A later collection that corrects a value (REPLACE of the field through COALESCE)
    removes the finding: the checks read what is stored now, not a log."""
    upsert(db, [*clean_records(), *broken_records()])
    upsert(db, [ProtocolFundamental("curve", D0 + 2 * DAY, D0, "defillama", fees_24h=D("1"))])
    remaining = {(f.check, tuple(f.key.values())) for f in check_integrity(db)}
    assert ("negative_value", ("curve", D0 + 2 * DAY)) not in remaining
    assert ("tvl_jump", ("curve", D0 + 2 * DAY)) in remaining
