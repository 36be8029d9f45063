"""Dependencies shared by the routers: the app's context, access checks, common parameters.

Handlers declare what they need with the `Annotated` aliases here (`DbDep`,
`AdminKey`, `Exchange`, `Symbol`, …), so they read like plain functions and every
parameter is described once, in the OpenAPI schema too.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException, Query, Request, WebSocket, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator

from ohmycoins.api.access import Caller, caller_of
from ohmycoins.api.keys import ApiKey, Scope
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
    """The per-key budgets."""
    anon_limiter: RateLimiter
    """The budgets of callers without a valid key, per client address."""
    wake: Callable[[], None] | None
    demo: bool = False
    """The process collects the built-in simulator (`omc run --demo`)."""


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
# headers, and `get_db`. None of them reads the database for access: the key was looked
# up before routing (`access.AccessMiddleware`).


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


def authorize(caller: Caller, scope: Scope, *, require_key: bool) -> ApiKey | None:
    """The caller's key when it may use endpoints that need `scope`, or None for an
    anonymous read that is allowed.

    401 without a needed key or with an invalid one (a presented key is checked even
    where none is needed), 403 when its scope is too small. Budgets were spent before
    routing (`AccessMiddleware`)."""
    if caller.credential is None:
        if scope == "read" and not require_key:
            return None
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"an API key with scope {scope!r} is required (X-API-Key header)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if caller.key is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid or revoked API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not caller.key.allows(scope):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"API key {caller.key.key_id} has no {scope!r} scope"
        )
    return caller.key


KEYED_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Message, "description": "A needed API key is missing, invalid or revoked."},
    403: {"model": Message, "description": "The API key's scope is too small."},
}
"""The answers of `read_access` and `admin_access`, documented on every route that uses them."""

LIMITED_RESPONSES: dict[int | str, dict[str, Any]] = {
    429: {
        "model": Message,
        "description": "The API key, or the client address of a request without one, "
        "spent its request budget; see Retry-After.",
    },
}
"""The answer any route may give (budgets are spent before routing), documented on all."""

UNAVAILABLE_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {"model": Message, "description": "The database cannot be reached; see Retry-After."},
}
"""The answer of any route that reads the database while it cannot be reached."""


async def read_access(
    request: Request, _header_key: HeaderKey, _bearer_key: BearerKey
) -> ApiKey | None:
    """Data endpoints: open, or a `read` key when the app requires keys. (The key
    parameters document the headers; the key was read and looked up before routing.)"""
    context = context_of(request)
    return authorize(caller_of(request), "read", require_key=context.require_key)


async def admin_access(request: Request, _header_key: HeaderKey, _bearer_key: BearerKey) -> ApiKey:
    """Write endpoints: an `admin` key, always."""
    verified = authorize(caller_of(request), "admin", require_key=True)
    assert verified is not None
    return verified


async def metrics_access(request: Request, _bearer_key: BearerKey) -> None:
    """`/metrics`: open, unless the app requires keys or has a metrics token; then the
    token (`Authorization: Bearer`) or a `read` key."""
    context = context_of(request)
    token = context.settings.api_metrics_token
    if token is None and not context.require_key:
        return
    caller = caller_of(request)
    if token is not None and _same(caller.credential, token.get_secret_value()):
        return
    if caller.key is None:
        detail = (
            "the metrics token or a read API key is required (Authorization: Bearer)"
            if caller.credential is None
            else "invalid metrics token or API key"
        )
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
        )
    authorize(caller, "read", require_key=True)


def _same(presented: str | None, secret: str) -> bool:
    """Constant-time comparison, so the token cannot be guessed a character at a time."""
    return presented is not None and hmac.compare_digest(presented.encode(), secret.encode())


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
