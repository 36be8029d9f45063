"""Coverage of the glass and macro tables: of the rows observed in a recent window,
how many have each field. A field no source fills shows at once as 0 %.

One query per table counts every field (`COUNT(column)` skips NULLs), over the rows
whose `ts` is in the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from ohmycoins.records import (
    CommunityMetric,
    MacroObservation,
    OnchainMetric,
    ProtocolFundamental,
    field_names,
)
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import RECORD_TABLES
from ohmycoins.timeframes import HOUR_MS, now_ms

__all__ = ["COVERED_TABLES", "DEFAULT_HOURS", "CoverageReport", "coverage"]

DEFAULT_HOURS = 24

COVERED_TABLES: tuple[type[Any], ...] = (
    OnchainMetric,
    ProtocolFundamental,
    CommunityMetric,
    MacroObservation,
)


@dataclass(frozen=True, slots=True)
class FieldCoverage:
    """How many rows of the window have one field; `percent` is None without rows."""

    field: str
    present: int
    percent: float | None


@dataclass(frozen=True, slots=True)
class TableCoverage:
    table: str
    rows: int
    fields: list[FieldCoverage]


@dataclass(frozen=True, slots=True)
class CoverageReport:
    """Coverage of every covered table over `since_ts <= ts <= until_ts`."""

    hours: float
    since_ts: int
    until_ts: int
    tables: list[TableCoverage]


def coverage(
    db: Database, *, hours: float = DEFAULT_HOURS, at_ms: int | None = None
) -> CoverageReport:
    """Field coverage of the rows whose `ts` is in the `hours` before `at_ms` (now)."""
    if hours <= 0:
        raise ValueError(f"hours must be > 0, got {hours}")
    until = now_ms() if at_ms is None else at_ms
    since = until - int(hours * HOUR_MS)
    with db.engine.connect() as conn:
        tables = [
            _table_coverage(conn, record_type, since, until) for record_type in COVERED_TABLES
        ]
    return CoverageReport(hours, since, until, tables)


def _table_coverage(
    conn: Connection, record_type: type[Any], since: int, until: int
) -> TableCoverage:
    table = RECORD_TABLES[record_type]
    names = [n for n in field_names(record_type) if n not in record_type.KEY and n != "ts"]
    query = select(func.count(), *(func.count(table.c[name]) for name in names)).where(
        table.c.ts >= since, table.c.ts <= until
    )
    rows, *present = conn.execute(query).one()
    fields = [
        FieldCoverage(name, int(count), round(100 * count / rows, 2) if rows else None)
        for name, count in zip(names, present, strict=True)
    ]
    return TableCoverage(table.name, int(rows), fields)
