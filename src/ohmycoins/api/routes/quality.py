"""Quality reports of the glass and macro data: integrity findings and field coverage."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Response

from ohmycoins.api.deps import DbDep
from ohmycoins.api.encode import json_response
from ohmycoins.api.schemas_glass import CoverageOut, IntegrityOut
from ohmycoins.storage.reports.coverage import DEFAULT_HOURS, coverage
from ohmycoins.storage.reports.integrity import DEFAULT_TVL_JUMP, check_integrity, violations

router = APIRouter(tags=["quality"])

MAX_HOURS = 24 * 366


@router.get("/quality/integrity", response_model=IntegrityOut)
def integrity(
    db: DbDep,
    tvl_jump: Annotated[
        Decimal,
        Query(
            gt=0,
            le=1000,
            description="Day-over-day TVL change flagged as an anomaly, as a share (0.5 = 50 %).",
        ),
    ] = DEFAULT_TVL_JUMP,
) -> Response:
    """Integrity findings over the stored glass data: violations and anomalies."""
    findings = check_integrity(db, tvl_jump=tvl_jump)
    broken = len(violations(findings))
    return json_response(
        {
            "violations": broken,
            "anomalies": len(findings) - broken,
            "findings": [finding.as_dict() for finding in findings],
        }
    )


@router.get("/quality/coverage", response_model=CoverageOut)
def field_coverage(
    db: DbDep,
    hours: Annotated[
        float,
        Query(gt=0, le=MAX_HOURS, description="The window: rows whose `ts` is this recent."),
    ] = DEFAULT_HOURS,
) -> Response:
    """How many rows of each glass and macro table in the window have each field."""
    return json_response(dataclasses.asdict(coverage(db, hours=hours)))
