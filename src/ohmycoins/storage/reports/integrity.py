"""Integrity checks over the stored glass data: relations that must hold between rows
and fields once several sources have merged into them.

Each check is one SQL query that selects the suspect rows, so it scales with the
number of suspects rather than of rows. Decimals are NUMERIC on PostgreSQL, where the
query compares them exactly; on SQLite they are text, so the query compares them as
floats, widened so that no true violation can slip through rounding (float rounding
never reverses an order, it can only make two values equal), and every suspect is
confirmed with exact `Decimal` arithmetic before it becomes a finding.

A finding is a `violation` (data that cannot be right: a negative supply, a block
height going back) or an `anomaly` (data that is possible but worth a look: a TVL
jump). `omc quality integrity` fails only on violations.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import (
    Connection,
    Subquery,
    Table,
    false,
    func,
    literal,
    or_,
    select,
)

from ohmycoins.quality.rules import MAY_BE_NEGATIVE
from ohmycoins.records import (
    CommunityMetric,
    MarketSnapshot,
    OnchainMetric,
    ProtocolFundamental,
    field_types,
)
from ohmycoins.storage.database import Database
from ohmycoins.storage.dialects import dialect_for
from ohmycoins.storage.tables import RECORD_TABLES, ExactDecimal, decimal_text
from ohmycoins.timeframes import DAY_MS

__all__ = [
    "DEFAULT_TVL_JUMP",
    "Finding",
    "check_integrity",
    "violations",
]

Severity = Literal["violation", "anomaly"]
Number = Decimal | int

DEFAULT_TVL_JUMP = Decimal("0.5")
"""A protocol's TVL changing by more than this share from one day to the next (50 %)
is flagged as an anomaly."""

SUPPLY_ORDER: tuple[tuple[str, str], ...] = (
    ("circulating_supply", "total_supply"),
    ("total_supply", "max_supply"),
    ("circulating_supply", "max_supply"),
)
"""(smaller, larger) supply pairs: circulating <= total <= max where both are present."""
SUPPLY_TABLES: tuple[type[Any], ...] = (OnchainMetric, MarketSnapshot)
NON_NEGATIVE_TABLES: tuple[type[Any], ...] = (OnchainMetric, ProtocolFundamental, CommunityMetric)
NOT_SIGN_CHECKED = frozenset({"ts", "day", "quality_score"})
"""Times, and the quality score, which `quality_score_range` checks whole."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One broken rule: which check, in which table, at which natural key, and why."""

    check: str
    table: str
    key: dict[str, str | int]
    detail: str
    severity: Severity = "violation"

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_integrity(db: Database, *, tvl_jump: Decimal = DEFAULT_TVL_JUMP) -> list[Finding]:
    """Every finding of every check, violations and anomalies, check by check."""
    checks: list[Callable[[Connection], list[Finding]]] = [
        *(_bind(supply_order, record_type) for record_type in SUPPLY_TABLES),
        *(_bind(negative_values, record_type) for record_type in NON_NEGATIVE_TABLES),
        block_height_decreases,
        quality_score_range,
        lambda conn: tvl_jumps(conn, tvl_jump),
    ]
    with db.engine.connect() as conn:
        return [finding for check in checks for finding in check(conn)]


def violations(findings: Sequence[Finding]) -> list[Finding]:
    """The findings that are violations (not mere anomalies)."""
    return [finding for finding in findings if finding.severity == "violation"]


def _bind(
    check: Callable[[Connection, type[Any]], list[Finding]], record_type: type[Any]
) -> Callable[[Connection], list[Finding]]:
    return lambda conn: check(conn, record_type)


# --- the checks -------------------------------------------------------------------


def supply_order(conn: Connection, record_type: type[Any]) -> list[Finding]:
    """Circulating supply above total, or total above max, in a table with supplies."""
    table = RECORD_TABLES[record_type]
    backend = dialect_for(conn)
    suspect = or_(*(backend.maybe_greater(table.c[lo], table.c[hi]) for lo, hi in SUPPLY_ORDER))
    names = sorted({name for pair in SUPPLY_ORDER for name in pair})
    keys = [table.c[name] for name in record_type.KEY]
    query = select(*keys, *(table.c[name] for name in names)).where(suspect)
    findings = []
    for row in conn.execute(query).mappings():
        for lo, hi in SUPPLY_ORDER:
            if _greater(row[lo], row[hi]):
                detail = f"{lo} {_text(row[lo])} > {hi} {_text(row[hi])}"
                findings.append(_finding("supply_order", record_type, row, detail))
    return findings


def negative_values(conn: Connection, record_type: type[Any]) -> list[Finding]:
    """A negative value in a numeric field that cannot be negative."""
    table = RECORD_TABLES[record_type]
    allowed = MAY_BE_NEGATIVE.get(record_type, frozenset())
    names = [
        f.name
        for f in field_types(record_type)
        if f.kind in (Decimal, int)
        and f.name not in record_type.KEY
        and f.name not in NOT_SIGN_CHECKED
        and f.name not in allowed
    ]
    backend = dialect_for(conn)
    suspect = or_(false(), *(backend.maybe_negative(table.c[name]) for name in names))
    keys = [table.c[name] for name in record_type.KEY]
    query = select(*keys, *(table.c[name] for name in names)).where(suspect)
    findings = []
    for row in conn.execute(query).mappings():
        for name in names:
            if _greater(Decimal(0), row[name]):
                detail = f"{name} {_text(row[name])} is negative"
                findings.append(_finding("negative_value", record_type, row, detail))
    return findings


def block_height_decreases(conn: Connection) -> list[Finding]:
    """A block height lower than the one stored for an earlier hour of the same asset."""
    lagged = _lagged(RECORD_TABLES[OnchainMetric], "asset", "ts", "block_height", "prev_height")
    query = select(lagged).where(lagged.c.block_height < lagged.c.prev_height)
    query = query.order_by(lagged.c.asset, lagged.c.ts)
    return [
        _finding(
            "block_height_decrease",
            OnchainMetric,
            row,
            f"block_height {row['block_height']} < {row['prev_height']} at ts {row['prev_ts']}",
        )
        for row in conn.execute(query).mappings()
    ]


def quality_score_range(conn: Connection) -> list[Finding]:
    """A quality score outside [0, 1]."""
    table = RECORD_TABLES[OnchainMetric]
    score = table.c.quality_score
    backend = dialect_for(conn)
    one = literal(Decimal(1), ExactDecimal())
    suspect = or_(backend.maybe_negative(score), backend.maybe_greater(score, one))
    query = select(table.c.asset, table.c.ts, score).where(suspect)
    return [
        _finding(
            "quality_score_range",
            OnchainMetric,
            row,
            f"quality_score {_text(row['quality_score'])} is outside [0, 1]",
        )
        for row in conn.execute(query).mappings()
        if _greater(row["quality_score"], Decimal(1)) or _greater(Decimal(0), row["quality_score"])
    ]


def tvl_jumps(conn: Connection, threshold: Decimal = DEFAULT_TVL_JUMP) -> list[Finding]:
    """Anomalies: a protocol's TVL changing by more than `threshold` (a share, 0.5 is
    50 %) from one UTC day to the next. A day after a missing day, or after a TVL of
    zero, has no change to measure and is not flagged."""
    lagged = _lagged(RECORD_TABLES[ProtocolFundamental], "protocol", "day", "tvl", "prev_tvl")
    backend = dialect_for(conn)
    tvl, prev = backend.number(lagged.c.tvl), backend.number(lagged.c.prev_tvl)
    factor = backend.widened(threshold)  # floats on SQLite: the exact test below decides
    query = (
        select(lagged)
        .where(
            lagged.c.prev_day == lagged.c.day - DAY_MS,
            prev > 0,
            func.abs(tvl - prev) >= prev * factor,
        )
        .order_by(lagged.c.protocol, lagged.c.day)
    )
    findings = []
    for row in conn.execute(query).mappings():
        before, after = row["prev_tvl"], row["tvl"]
        if _finite(before, after) and abs(after - before) > threshold * before:
            change = (after - before) / before * 100
            detail = f"tvl {_text(before)} -> {_text(after)} ({change:+.1f} % in a day)"
            findings.append(
                _finding("tvl_jump", ProtocolFundamental, row, detail, severity="anomaly")
            )
    return findings


# --- exact comparison over both backends ------------------------------------------


def _lagged(table: Table, partition: str, order: str, value: str, previous: str) -> Subquery:
    """The rows where `value` is set, each with the `value` (labelled `previous`) and
    the `order` (labelled `prev_<order>`) of the row before it in its `partition`."""
    group, by, column = table.c[partition], table.c[order], table.c[value]

    def lag(of: Any) -> Any:
        return func.lag(of, type_=of.type).over(partition_by=group, order_by=by)

    return (
        select(group, by, column, lag(column).label(previous), lag(by).label(f"prev_{order}"))
        .where(column.is_not(None))
        .subquery()
    )


def _finite(*values: Number | None) -> bool:
    return all(
        value is not None and (not isinstance(value, Decimal) or value.is_finite())
        for value in values
    )


def _greater(a: Number | None, b: Number | None) -> bool:
    """a > b exactly; False when either is missing or not a finite number."""
    if a is None or b is None or not _finite(a, b):
        return False
    return a > b


def _text(value: Number | None) -> str:
    return decimal_text(value) if isinstance(value, Decimal) else str(value)


def _finding(
    check: str,
    record_type: type[Any],
    row: Mapping[Any, Any],
    detail: str,
    severity: Severity = "violation",
) -> Finding:
    key = {name: row[name] for name in record_type.KEY}
    return Finding(check, record_type.TABLE, key, detail, severity)
