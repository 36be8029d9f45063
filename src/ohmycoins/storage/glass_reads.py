"""Read queries of the glass and macro ledgers: ranges with keyset pagination.

Like the market reads, a range fetches one row more than asked to know whether a next
page exists, and pages by key (`ts > last`), never by OFFSET.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Select, and_, or_, select

from ohmycoins.records import (
    CommunityMetric,
    MacroObservation,
    OnchainMetric,
    ProtocolFundamental,
    Record,
)
from ohmycoins.storage.database import Database
from ohmycoins.storage.reads import Order, Page
from ohmycoins.storage.tables import RECORD_TABLES

__all__ = [
    "read_community",
    "read_macro",
    "read_onchain",
    "read_protocols",
    "supply_history",
]

R = TypeVar("R", bound=Record)


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
    return _read_range(
        db, ProtocolFundamental, equal, "day", (start, end), limit, order, after, "protocol"
    )


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
    last = None if after is None else (after,)
    return _read_range(
        db, OnchainMetric, {"asset": asset}, "ts", (start, end), limit, order, last, None
    )


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
    last = None if after is None else (after,)
    return _read_range(
        db, CommunityMetric, {"asset": asset}, "ts", (start, end), limit, order, last, None
    )


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
    last = None if after is None else (after,)
    return _read_range(
        db, MacroObservation, {"series_id": series_id}, "ts", (start, end), limit, order, last, None
    )


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
    time_column: str,
    bounds: tuple[int | None, int | None],
    limit: int,
    order: Order,
    after: tuple[Any, ...] | None,
    tiebreak: str | None,
) -> Page[R]:
    """Rows equal to `equal`, bounded on `time_column`, ordered by it (then `tiebreak`),
    starting after the key `after` in the direction of `order`."""
    table = RECORD_TABLES[record_type]
    order_columns = [table.c[time_column], *([table.c[tiebreak]] if tiebreak else [])]
    query: Select[Any] = select(*(table.c[f.name] for f in dataclasses.fields(record_type)))
    query = query.where(*(table.c[name] == value for name, value in equal.items()))
    start, end = bounds
    if start is not None:
        query = query.where(table.c[time_column] >= start)
    if end is not None:
        query = query.where(table.c[time_column] <= end)
    if after is not None:
        query = query.where(_beyond(order_columns, after, order))
    ordering = [c.asc() if order == "asc" else c.desc() for c in order_columns]
    with db.engine.connect() as conn:
        rows = [
            record_type(*row) for row in conn.execute(query.order_by(*ordering).limit(limit + 1))
        ]
    return Page(rows[:limit], len(rows) > limit)


def _beyond(columns: list[Any], key: tuple[Any, ...], order: Order) -> Any:
    """Rows whose (columns) come strictly after `key` in the direction of `order`."""
    first, *rest = columns
    value, *more = key
    past = first > value if order == "asc" else first < value
    if not rest:
        return past
    return or_(past, and_(first == value, _beyond(rest, tuple(more), order)))
