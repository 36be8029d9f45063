"""Catalyst events: filings, listings, delistings, hacks, unlocks… with their impact."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from ohmycoins.api.deps import DbDep
from ohmycoins.api.schemas import EpochMs
from ohmycoins.enrich.catalysts import EVENT_TYPES
from ohmycoins.records import CatalystEvent
from ohmycoins.storage.reads import catalyst as catalyst_reads
from ohmycoins.timeframes import HOUR_MS, now_ms

router = APIRouter(tags=["catalyst"])

EventTypeName = Literal[
    "listing", "delisting", "hack", "regulatory", "etf", "unlock", "upgrade", "partnership"
]
assert set(EventTypeName.__args__) == {t.name for t in EVENT_TYPES}  # type: ignore[attr-defined]
MAX_HOURS = 24 * 366


class CatalystEventOut(BaseModel):
    event_id: str = Field(description="Stable id: one event however many sources report it.")
    event_type: EventTypeName
    ts: EpochMs = Field(description="When the event was first reported, UTC epoch ms.")
    title: str
    impact: int = Field(ge=1, le=10, description="1 (minor) to 10 (major).")
    assets: list[str] = Field(description="Symbols of the assets concerned, e.g. `BTC`.")
    sources: list[str] = Field(description="Every source that reported the event.")
    urls: list[str]
    exchange: str | None = Field(description="The exchange concerned, if any.")

    @classmethod
    def of(cls, event: CatalystEvent) -> CatalystEventOut:
        return cls(
            event_id=event.event_id,
            event_type=event.event_type,
            ts=event.ts,
            title=event.title,
            impact=event.impact,
            assets=list(event.assets),
            sources=list(event.sources),
            urls=list(event.urls),
            exchange=event.exchange,
        )


@router.get("/catalyst/events", response_model=list[CatalystEventOut])
def events(
    db: DbDep,
    min_impact: Annotated[int | None, Query(ge=1, le=10, description="Lowest impact.")] = None,
    hours: Annotated[
        int | None, Query(ge=1, le=MAX_HOURS, description="Only events of the last N hours.")
    ] = None,
    event_type: Annotated[
        EventTypeName | None, Query(alias="type", description="Only this event type.")
    ] = None,
    asset: Annotated[
        str | None,
        Query(pattern=r"^[A-Za-z0-9]{1,20}$", description="Only events about this symbol."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Events, 1 to 1000.")] = 100,
) -> list[CatalystEventOut]:
    """Catalyst events, newest first."""
    found = catalyst_reads.read_events(
        db,
        since_ts=now_ms() - hours * HOUR_MS if hours is not None else None,
        min_impact=min_impact,
        event_type=event_type,
        asset=asset.upper() if asset is not None else None,
        limit=limit,
    )
    return [CatalystEventOut.of(event) for event in found]
