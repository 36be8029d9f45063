"""Coins: CoinGecko market snapshots and the asset universe."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from ohmycoins.api.deps import DbDep
from ohmycoins.api.encode import json_response, row_of
from ohmycoins.api.schemas import AssetOut, MarketOut
from ohmycoins.storage.reads import market as market_reads

router = APIRouter(tags=["coins"])

MARKET_COLUMNS = tuple(MarketOut.model_fields)
ASSET_COLUMNS = tuple(AssetOut.model_fields)


@router.get("/markets", response_model=list[MarketOut])
def markets(
    db: DbDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="Coins, 1 to 1000.")] = 100,
    vs_currency: Annotated[
        str, Query(pattern=r"^[a-z]{2,10}$", description="Quote currency, e.g. `usd`.")
    ] = "usd",
    source: Annotated[
        str, Query(pattern=r"^[a-z0-9_]+$", description="Snapshot source.")
    ] = "coingecko",
) -> Response:
    """The newest market snapshot of each coin, by market-cap rank (unranked last)."""
    snapshots = market_reads.read_markets(db, source=source, vs_currency=vs_currency, limit=limit)
    return json_response([row_of(snapshot, MARKET_COLUMNS) for snapshot in snapshots])


@router.get("/assets", response_model=list[AssetOut])
def assets(
    db: DbDep,
    active: Annotated[bool, Query(description="Only assets still in the universe.")] = False,
) -> Response:
    """Every asset of the universe, by rank (unranked last)."""
    found = market_reads.read_assets(db, active_only=active)
    return json_response([row_of(asset, ASSET_COLUMNS) for asset in found])
