"""The alerts the maintenance collector `alerts` keeps: firing first, then resolved."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from ohmycoins.api.deps import DbDep
from ohmycoins.api.schemas import AlertOut, AlertsOut
from ohmycoins.storage.alerts import read_alerts

router = APIRouter(tags=["alerts"])


@router.get("/alerts")
def list_alerts(
    db: DbDep,
    state: Annotated[
        Literal["firing", "resolved"] | None, Query(description="Only alerts in this state.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many.")] = 100,
) -> AlertsOut:
    """The alerts (stale data, low quality, open circuits, quarantine spikes, a full
    disk, a failed backup): firing ones first, then the most recently changed."""
    alerts = read_alerts(db, state, limit)
    return AlertsOut(
        firing=sum(1 for alert in alerts if alert.state == "firing"),
        alerts=[
            AlertOut(
                rule=alert.rule,
                subject=alert.subject,
                state=alert.state,
                message=alert.message,
                since_ts=alert.since_ts,
                updated_ts=alert.updated_ts,
                resolved_ts=alert.resolved_ts,
                sent_ts=alert.sent_ts,
            )
            for alert in alerts
        ],
    )
