"""Read queries of the glass and macro ledgers: ranges with keyset pagination.

Like the market reads, a range fetches one row more than asked to know whether a next
page exists, and pages by key (`ts > last`), never by OFFSET.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import select

from ohmycoins.records import (
    CommunityMetric,
    MacroObservation,
    OnchainMetric,
    ProtocolFundamental,
    Record,
)
from ohmycoins.storage.cursors import latest_ts
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import read_records, select_records
from ohmycoins.storage.reads.market import Order, Page, fetch_page, keyset_range
from ohmycoins.storage.tables import RECORD_TABLES

__all__ = [
    "latest_protocols",
    "read_community",
    "read_macro",
    "read_onchain",
    "read_protocols",
    "supply_history",
]

R = TypeVar("R", bound=Record)


def latest_protocols(db: Database) -> list[ProtocolFundamental]:
    """The protocol rows of the latest day stored; none before the first."""
    latest = latest_ts(db, ProtocolFundamental, column="day")
    return [] if latest is None else read_records(db, ProtocolFundamental, day=latest)


def read_protocols(
    db: Database,
    *,
    protocol: str | None,
    start: int | None,
    end: int | None,
    limit: int,
    order: Order = "asc",
    after: tuple[int, str] | None = None,
) -> Page[ProtocolFundamental]:
    """Protocol days with `start <= day <= end` (all protocols, or one), ordered by
    (day, protocol); `after` is the previous page's last (day, protocol), exclusive."""
    equal = {} if protocol is None else {"protocol": protocol}
    key = ("day", "protocol")
    return _read_range(db, ProtocolFundamental, equal, key, start, end, limit, order, after)


def read_onchain(
    db: Database,
    asset: str,
    *,
    start: int | None,
    end: int | None,
    limit: int,
    order: Order = "asc",
    after: int | None = None,
) -> Page[OnchainMetric]:
    """On-chain rows of one asset with `start <= ts <= end`, in `order` of ts."""
    equal = {"asset": asset}
    return _read_range(db, OnchainMetric, equal, ("ts",), start, end, limit, order, after)


def read_community(
    db: Database,
    asset: str,
    *,
    start: int | None,
    end: int | None,
    limit: int,
    order: Order = "asc",
    after: int | None = None,
) -> Page[CommunityMetric]:
    """Community rows of one asset with `start <= ts <= end`, in `order` of ts."""
    equal = {"asset": asset}
    return _read_range(db, CommunityMetric, equal, ("ts",), start, end, limit, order, after)


def read_macro(
    db: Database,
    series_id: str,
    *,
    start: int | None,
    end: int | None,
    limit: int,
    order: Order = "asc",
    after: int | None = None,
) -> Page[MacroObservation]:
    """Observations of one macro series with `start <= ts <= end`, in `order` of ts."""
    equal = {"series_id": series_id}
    return _read_range(db, MacroObservation, equal, ("ts",), start, end, limit, order, after)


def supply_history(db: Database, asset: str, start: int, end: int) -> list[tuple[int, Decimal]]:
    """(ts, circulating supply) of one asset with `start <= ts <= end`, oldest first,
    where a supply is stored."""
    table = RECORD_TABLES[OnchainMetric]
    query = (
        select(table.c.ts, table.c.circulating_supply)
        .where(
            table.c.asset == asset,
            table.c.ts >= start,
            table.c.ts <= end,
            table.c.circulating_supply.is_not(None),
        )
        .order_by(table.c.ts)
    )
    with db.engine.connect() as conn:
        return [(int(ts), supply) for ts, supply in conn.execute(query)]


def _read_range(
    db: Database,
    record_type: type[R],
    equal: Mapping[str, Any],
    key: tuple[str, ...],
    start: int | None,
    end: int | None,
    limit: int,
    order: Order,
    after: Any,
) -> Page[R]:
    """Rows equal to `equal` with `start <= key[0] <= end`, ordered by `key`, starting
    after the key `after` in the direction of `order`."""
    table = RECORD_TABLES[record_type]
    query = select_records(record_type)
    query = query.where(*(table.c[name] == value for name, value in equal.items()))
    query = keyset_range(query, table, key, start, end, order, after)
    return fetch_page(db, record_type, query, limit)
