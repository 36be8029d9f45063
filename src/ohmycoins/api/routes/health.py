"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response, status
from sqlalchemy.exc import SQLAlchemyError

from ohmycoins.api.deps import Context, DbDep
from ohmycoins.api.schemas import Health, Readiness
from ohmycoins.errors import StorageError

router = APIRouter(tags=["health"])


@router.get("/health")
def health(context: Context) -> Health:
    """Liveness: the process answers (checks nothing else); whether it runs the demo."""
    return Health(status="ok", demo=context.demo)


@router.get(
    "/ready",
    responses={503: {"model": Readiness, "description": "Not ready to serve."}},
)
def ready(db: DbDep, response: Response) -> Readiness:
    """Readiness: the database answers and its schema is at the newest migration."""
    try:
        db.ping()
        current = db.is_current()
    except (StorageError, SQLAlchemyError) as exc:
        return _not_ready(response, "unreachable", str(exc))
    if not current:
        return _not_ready(response, "migrations pending", "run `omc db upgrade`")
    return Readiness(status="ready", database="ok")


def _not_ready(
    response: Response, database: Literal["unreachable", "migrations pending"], detail: str
) -> Readiness:
    response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Readiness(status="not ready", database=database, detail=detail)
