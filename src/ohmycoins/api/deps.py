"""Dependencies shared by the routers: the app's context, access checks, common parameters.

Handlers declare what they need with the `Annotated` aliases here (`DbDep`,
`AdminKey`, `Exchange`, `Symbol`, …), so they read like plain functions and every
parameter is described once, in the OpenAPI schema too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException, Query, Request, WebSocket, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator
from starlette.concurrency import run_in_threadpool

from ohmycoins.api.keys import ApiKey, Scope, verify_key
from ohmycoins.api.ratelimit import RateLimiter
from ohmycoins.api.schemas import Message
from ohmycoins.publish import Broker
from ohmycoins.records import UNIFIED_SYMBOL
from ohmycoins.scheduling.registry import Registry
from ohmycoins.settings import Settings
from ohmycoins.storage.database import Database
from ohmycoins.timeframes import MIN_TS, TIMEFRAMES

MAX_LIMIT = 5000


@dataclass(frozen=True, slots=True)
class ApiContext:
    """What the handlers of one app share, built by `create_app`."""

    settings: Settings
    db: Database
    broker: Broker
    registry: Registry | None
    require_key: bool
    limiter: RateLimiter
    wake: Callable[[], None] | None


class BadParameterError(Exception):
    """A request parameter is well-typed but unacceptable (start after end, bad cursor)."""

    def __init__(self, parameter: str, message: str, where: str = "query") -> None:
        self.parameter = parameter
        self.where = where
        self.message = message
        super().__init__(f"{where} parameter {parameter!r}: {message}")


# The dependencies are `async def` and shallow: FastAPI runs a plain `def` dependency in
# its thread pool, and resolves each node of the tree on every request (about 50 us a
# node), so a data request's tree is its own parameters, `read_access` with the two key
# headers, and `get_db`.


def context_of(request: Request | WebSocket) -> ApiContext:
    """The context `create_app` built, from the app serving `request`."""
    context: ApiContext = request.app.state.omc
    return context


async def get_context(request: Request) -> ApiContext:
    return context_of(request)


Context = Annotated[ApiContext, Depends(get_context)]


async def get_db(request: Request) -> Database:
    return context_of(request).db


DbDep = Annotated[Database, Depends(get_db)]

# --- access -----------------------------------------------------------------------

_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An ohmycoins API key (omc_…)."
)
_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer omc_…`.")
HeaderKey = Annotated[str | None, Depends(_api_key_header)]
BearerKey = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def presented_key(api_key: str | None, bearer: HTTPAuthorizationCredentials | None) -> str | None:
    """The key a request carries in `X-API-Key` or `Authorization: Bearer`, if any."""
    if api_key:
        return api_key
    return bearer.credentials if bearer else None


def check_key(context: ApiContext, key: str | None, scope: Scope) -> ApiKey | None:
    """The verified key of a request, or None for an anonymous read that is allowed.

    401 without a needed key or with an invalid one, 403 when its scope is too small,
    429 when the key spent its request budget."""
    if key is None:
        if scope == "read" and not context.require_key:
            return None
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"an API key with scope {scope!r} is required (X-API-Key header)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    verified = verify_key(context.db, key)
    if verified is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid or revoked API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not verified.allows(scope):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"API key {verified.key_id} has no {scope!r} scope"
        )
    wait = context.limiter.acquire(verified.key_id)
    if wait > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"rate limit of API key {verified.key_id} exceeded",
            headers={"Retry-After": RateLimiter.retry_after(wait)},
        )
    return verified


KEYED_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Message, "description": "A needed API key is missing, invalid or revoked."},
    403: {"model": Message, "description": "The API key's scope is too small."},
    429: {"model": Message, "description": "The API key spent its request budget."},
}
"""The answers of `read_access` and `admin_access`, documented on every route that uses them."""

UNAVAILABLE_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {"model": Message, "description": "The database cannot be reached; see Retry-After."},
}
"""The answer of any route that reads the database while it cannot be reached."""


async def read_access(request: Request, api_key: HeaderKey, bearer: BearerKey) -> ApiKey | None:
    """Data endpoints: open, or a `read` key when the app requires keys (checked in the
    thread pool: it reads the database)."""
    context = context_of(request)
    key = presented_key(api_key, bearer)
    if key is None and not context.require_key:
        return None
    return await run_in_threadpool(check_key, context, key, "read")


def admin_access(request: Request, api_key: HeaderKey, bearer: BearerKey) -> ApiKey:
    """Write endpoints: an `admin` key, always."""
    verified = check_key(context_of(request), presented_key(api_key, bearer), "admin")
    assert verified is not None
    return verified


AdminKey = Annotated[ApiKey, Depends(admin_access)]

# --- common parameters ------------------------------------------------------------

_EXCHANGE = re.compile(r"^[a-z0-9_]+$")


def _symbol(value: str) -> str:
    if not UNIFIED_SYMBOL.match(value):
        raise ValueError(f"{value!r} is not a unified symbol like 'BTC/USDT'")
    return value


def _exchange(value: str) -> str:
    if not _EXCHANGE.match(value):
        raise ValueError(f"{value!r} is not an exchange id like 'binance'")
    return value


def _optional(check: Callable[[str], str]) -> Callable[[str | None], str | None]:
    def optional(value: str | None) -> str | None:
        return None if value is None else check(value)

    return optional


Timeframe = Literal["1m", "5m", "15m", "30m", "1h", "4h", "1d"]
assert set(Timeframe.__args__) == set(TIMEFRAMES)  # type: ignore[attr-defined]

Exchange = Annotated[
    str,
    Query(description="ccxt exchange id, e.g. `binance`.", examples=["binance"]),
    AfterValidator(_exchange),
]
Symbol = Annotated[
    str,
    Query(description="ccxt unified symbol, e.g. `BTC/USDT`.", examples=["BTC/USDT"]),
    AfterValidator(_symbol),
]
OptionalExchange = Annotated[
    str | None,
    Query(description="Only this ccxt exchange id."),
    AfterValidator(_optional(_exchange)),
]
OptionalSymbol = Annotated[
    str | None,
    Query(description="Only this unified symbol, e.g. `BTC/USDT`."),
    AfterValidator(_optional(_symbol)),
]
MAX_TS = 2**63 - 1
"""The largest time a BIGINT column holds (both backends)."""
Start = Annotated[
    int | None,
    Query(
        ge=MIN_TS,
        le=MAX_TS,
        description="Earliest `ts` (inclusive), UTC epoch milliseconds (negative before 1970).",
    ),
]
End = Annotated[
    int | None,
    Query(
        ge=MIN_TS,
        le=MAX_TS,
        description="Latest `ts` (inclusive), UTC epoch milliseconds (negative before 1970).",
    ),
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Rows per page, 1 to {MAX_LIMIT}.")]
Order = Annotated[
    Literal["asc", "desc"],
    Query(description="`asc`: oldest first (the default); `desc`: newest first."),
]
Cursor = Annotated[
    str | None,
    Query(description="The `next` cursor of the previous page; other parameters unchanged."),
]
Format = Annotated[
    Literal["json", "csv", "parquet"],
    Query(
        description="`json` (default), `csv` or `parquet` (`application/vnd.apache.parquet`; "
        "decimals are strings of their exact text, marked `decimal: exact` in the field "
        "metadata). For csv and parquet the next cursor is in `X-Next-Cursor`."
    ),
]


def check_range(start: int | None, end: int | None) -> None:
    """422 naming `start` when the range is empty by construction."""
    if start is not None and end is not None and start > end:
        raise BadParameterError("start", f"start={start} is after end={end}")


def error_body(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """The body of a 422: FastAPI's `detail` list plus one readable `message`."""
    first = errors[0]
    loc = [str(part) for part in first.get("loc", ())]
    where, name = (loc[0], ".".join(loc[1:])) if len(loc) > 1 else ("request", ".".join(loc))
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return {"message": f"invalid {where} parameter {name!r}: {message}", "detail": errors}
