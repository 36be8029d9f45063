"""Glass and macro data: protocol fundamentals, on-chain metrics with their derived
measures, community size, macro series."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from ohmycoins.api.deps import (
    Cursor,
    DbDep,
    End,
    Format,
    Limit,
    Order,
    Start,
    check_range,
)
from ohmycoins.api.encode import (
    PAGED_RESPONSES,
    bad_cursor,
    cursor_key,
    cursor_ts,
    page_cursor,
    page_response,
    plain,
    row_of,
)
from ohmycoins.api.schemas_glass import (
    CommunityOut,
    CommunityPage,
    MacroOut,
    MacroPage,
    OnchainOut,
    OnchainPage,
    ProtocolOut,
    ProtocolPage,
)
from ohmycoins.enrich.derived import (
    INFLATION_LOOKBACK_MS,
    INFLATION_SPAN_MS,
    mcap_to_tvl,
    trailing_inflation,
)
from ohmycoins.records import OnchainMetric, ProtocolFundamental, field_names
from ohmycoins.storage.database import Database
from ohmycoins.storage.reads import glass as glass_reads

router = APIRouter(tags=["glass"])

COMMUNITY_COLUMNS = tuple(CommunityOut.model_fields)
MACRO_COLUMNS = tuple(MacroOut.model_fields)
_ONCHAIN_FIELDS = field_names(OnchainMetric)
_PROTOCOL_FIELDS = field_names(ProtocolFundamental)

_ID = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,99}$"
_SERIES = r"^[A-Za-z0-9^][A-Za-z0-9:^=._\-]{0,99}$"
Asset = Annotated[
    str,
    Query(
        pattern=_ID, description="CoinGecko id of the asset, e.g. `bitcoin`.", examples=["bitcoin"]
    ),
]
Protocol = Annotated[
    str | None,
    Query(pattern=_ID, description="Only this DeFiLlama protocol slug, e.g. `uniswap`."),
]
SeriesId = Annotated[
    str,
    Query(
        pattern=_SERIES,
        description="Macro series, e.g. `DGS10` or `yahoo:^GSPC`.",
        examples=["DGS10"],
    ),
]


@router.get("/glass/protocols", response_model=ProtocolPage, responses=PAGED_RESPONSES)
def protocols(
    db: DbDep,
    protocol: Protocol = None,
    start: Start = None,
    end: End = None,
    limit: Limit = 1000,
    order: Order = "asc",
    cursor: Cursor = None,
    format: Format = "json",
) -> Response:
    """DeFi protocol fundamentals per UTC day (`start <= day <= end`), by day then protocol."""
    check_range(start, end)
    after = cursor_key(cursor, order, 2)
    if after is not None and not re.match(_ID, after[1]):
        raise bad_cursor()
    page = glass_reads.read_protocols(
        db, protocol=protocol, start=start, end=end, limit=limit, order=order, after=after
    )
    rows = [
        row_of(day, _PROTOCOL_FIELDS) | {"mcap_to_tvl": plain(mcap_to_tvl(day.market_cap, day.tvl))}
        for day in page.rows
    ]
    next_cursor = page_cursor(page, order, "day", "protocol")
    return _page(rows, ProtocolOut, next_cursor, format)


@router.get("/onchain", response_model=OnchainPage, responses=PAGED_RESPONSES)
def onchain(
    db: DbDep,
    asset: Asset,
    start: Start = None,
    end: End = None,
    limit: Limit = 1000,
    order: Order = "asc",
    cursor: Cursor = None,
    format: Format = "json",
) -> Response:
    """Hourly on-chain metrics of one asset (`start <= ts <= end`), with the inflation
    rate and market cap to TVL computed when read."""
    check_range(start, end)
    after = cursor_ts(cursor, order)
    page = glass_reads.read_onchain(
        db, asset, start=start, end=end, limit=limit, order=order, after=after
    )
    rows = _with_derived(db, asset, page.rows)
    return _page(rows, OnchainOut, page_cursor(page, order, "ts"), format)


@router.get("/glass/community", response_model=CommunityPage, responses=PAGED_RESPONSES)
def community(
    db: DbDep,
    asset: Asset,
    start: Start = None,
    end: End = None,
    limit: Limit = 1000,
    order: Order = "asc",
    cursor: Cursor = None,
    format: Format = "json",
) -> Response:
    """Community size of one asset per hour (`start <= ts <= end`)."""
    check_range(start, end)
    after = cursor_ts(cursor, order)
    page = glass_reads.read_community(
        db, asset, start=start, end=end, limit=limit, order=order, after=after
    )
    rows = [row_of(row, COMMUNITY_COLUMNS) for row in page.rows]
    return _page(rows, CommunityOut, page_cursor(page, order, "ts"), format)


@router.get("/macro", response_model=MacroPage, responses=PAGED_RESPONSES)
def macro(
    db: DbDep,
    series_id: SeriesId,
    start: Start = None,
    end: End = None,
    limit: Limit = 1000,
    order: Order = "asc",
    cursor: Cursor = None,
    format: Format = "json",
) -> Response:
    """Observations of one macro series by date (`start <= ts <= end`)."""
    check_range(start, end)
    after = cursor_ts(cursor, order)
    page = glass_reads.read_macro(
        db, series_id, start=start, end=end, limit=limit, order=order, after=after
    )
    rows = [row_of(row, MACRO_COLUMNS) for row in page.rows]
    return _page(rows, MacroOut, page_cursor(page, order, "ts"), format)


def _with_derived(db: Database, asset: str, rows: Sequence[OnchainMetric]) -> list[dict[str, Any]]:
    """On-chain rows with the measures computed when read (see `ohmycoins.enrich.derived`)."""
    stamped = [row.ts for row in rows if row.circulating_supply is not None]
    history = []
    if stamped:
        since, until = min(stamped) - INFLATION_LOOKBACK_MS, max(stamped) - INFLATION_SPAN_MS
        history = glass_reads.supply_history(db, asset, since, until)
    out = []
    for row in rows:
        body = row_of(row, _ONCHAIN_FIELDS)
        supply = row.circulating_supply
        rate = trailing_inflation(history, (row.ts, supply)) if supply is not None else None
        body["inflation_rate"] = plain(rate)
        body["mcap_to_tvl"] = plain(mcap_to_tvl(row.market_cap, row.tvl))
        out.append(body)
    return out


def _page(
    rows: list[dict[str, Any]], model: type[BaseModel], cursor: str | None, fmt: str
) -> Response:
    """`page_response`, with the `sources` lists as one `;`-joined CSV cell."""
    if fmt == "csv":
        rows = [{k: _cell(v) for k, v in row.items()} for row in rows]
    return page_response(rows, model, cursor, fmt)


def _cell(value: Any) -> Any:
    return ";".join(value) if isinstance(value, tuple) else value
