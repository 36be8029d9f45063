"""The FastAPI application: `create_app(settings)` builds everything it needs.

Nothing is created at import time. The app owns the database and broker it creates
(and closes them on shutdown); a database or broker passed in belongs to the caller
(`omc run` shares its own with the workers).

Handlers are plain `def` functions over the sync SQLAlchemy engine: FastAPI runs
them in its thread pool. Only the WebSocket stream is async.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from ohmycoins import __version__
from ohmycoins.api import dashboard
from ohmycoins.api.access import AccessMiddleware, database_unavailable
from ohmycoins.api.deps import (
    KEYED_RESPONSES,
    LIMITED_RESPONSES,
    UNAVAILABLE_RESPONSES,
    ApiContext,
    BadParameterError,
    error_body,
    read_access,
)
from ohmycoins.api.metrics import ApiMetrics
from ohmycoins.api.ratelimit import RateLimiter
from ohmycoins.api.routes import (
    alerts,
    catalyst,
    coins,
    collectors,
    features,
    glass,
    health,
    human,
    market,
    quality,
    stream,
)
from ohmycoins.errors import StorageError
from ohmycoins.publish import Broker, create_broker
from ohmycoins.scheduling.registry import Registry
from ohmycoins.settings import Settings
from ohmycoins.storage.database import Database

API_PREFIX = "/api/v1"

DESCRIPTION = """\
Crypto data collected by ohmycoins: candles, trades, tickers, order books, CoinGecko
markets, and the state of the collectors.

* Times are UTC epoch milliseconds; a candle's `ts` is its open time.
* Prices and amounts are **exact decimal strings** (`"0.00001234"`), never floats.
* Range endpoints (`/candles`, `/trades`) page with keyset cursors: pass the `next`
  value of a page as `cursor` with the same other parameters.
* Keys: send `X-API-Key: omc_…` (or `Authorization: Bearer omc_…`). Write endpoints
  need an `admin` key; read endpoints need a `read` key only when the server requires
  keys. A key over its request budget gets 429 with `Retry-After`; so does a client
  without a key over its address's (smaller) budget.
"""


def create_app(
    settings: Settings,
    *,
    db: Database | None = None,
    broker: Broker | None = None,
    registry: Registry | None = None,
    wake: Callable[[], None] | None = None,
    demo: bool = False,
) -> FastAPI:
    """The API app over `settings.database_url` and `settings.redis_url`.

    `db` / `broker`: share the caller's instead of creating them. `registry`: the
    collectors of this process (gives each task its source and quota in health).
    Whether read endpoints need a key, the per-key and per-address rate limits and the
    trusted proxies come from `settings` (`api_require_key`, `api_rate_limit`,
    `api_anon_rate_limit`, `api_trusted_proxies`). `wake`: called after a trigger or
    resume, e.g. the in-process `Worker.wake`, so the task runs at once. `demo`: this
    process collects the simulator (`omc run --demo`); `/health` says so.
    """
    owned_db = db is None
    owned_broker = broker is None
    context = ApiContext(
        settings=settings,
        db=db if db is not None else Database.of(settings),
        broker=broker if broker is not None else create_broker(settings.redis_url),
        registry=registry,
        require_key=settings.api_require_key,
        limiter=RateLimiter(settings.api_rate_limit),
        anon_limiter=RateLimiter(settings.api_anon_rate_limit),
        wake=wake,
        demo=demo,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned_broker:
            await context.broker.close()
        if owned_db:
            context.db.dispose()

    app = FastAPI(
        title="ohmycoins",
        version=__version__,
        description=DESCRIPTION,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
        responses=LIMITED_RESPONSES,
    )
    app.state.omc = context
    metrics = ApiMetrics(context)
    app.state.metrics = metrics
    app.add_middleware(AccessMiddleware, context=context)
    app.add_middleware(metrics.middleware)  # outermost: it counts the 429s too
    _add_error_handlers(app)

    readers = [Depends(read_access)]
    app.include_router(health.router, prefix=API_PREFIX)
    keyed = KEYED_RESPONSES | UNAVAILABLE_RESPONSES
    for data in (market, coins, human, catalyst, glass, quality, alerts, features):
        app.include_router(data.router, prefix=API_PREFIX, dependencies=readers, responses=keyed)
    app.include_router(collectors.router, prefix=API_PREFIX, responses=keyed)  # access per route
    app.include_router(stream.router, prefix=API_PREFIX)
    app.include_router(metrics.router)
    app.include_router(dashboard.router)  # the page at / and its /static/ files
    return app


def api_server(app: FastAPI, host: str = "127.0.0.1", port: int = 8000) -> uvicorn.Server:
    """A uvicorn server for `app`, to run in the caller's event loop.

    `await server.serve()` runs it (uvicorn handles SIGINT/SIGTERM itself); to stop it
    from elsewhere (`omc run` stopping its workers too) set `server.should_exit = True`.
    Logging is left to the caller (the CLI configures it); the access log never sees
    keys, which travel in headers only. uvicorn's own `X-Forwarded-For` handling, which
    believes any loopback peer, is off: the app decides whom to believe
    (`OMC_API_TRUSTED_PROXIES`, see `access`) and the access log shows its answer.

    What startup built (modules, the app's routes and schemas) is frozen out of the
    garbage collector first: a full collection rescanned all of it, 58 ms that landed
    on whichever request triggered it."""
    gc.collect()
    gc.freeze()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        ws="auto",
        ws_max_size=64 * 1024,
        proxy_headers=False,
        lifespan="on",
    )
    return uvicorn.Server(config)


def _add_error_handlers(app: FastAPI) -> None:
    async def invalid_request(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors: list[dict[str, Any]] = [
            {"loc": list(error.get("loc", ())), "msg": error.get("msg"), "type": error.get("type")}
            for error in exc.errors()
        ]
        return JSONResponse(error_body(errors), status_code=422)

    async def bad_parameter(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, BadParameterError)
        errors = [{"loc": [exc.where, exc.parameter], "msg": exc.message, "type": "value_error"}]
        return JSONResponse(error_body(errors), status_code=422)

    async def unavailable(_request: Request, exc: Exception) -> JSONResponse:
        return database_unavailable(exc)

    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(BadParameterError, bad_parameter)
    app.add_exception_handler(OperationalError, unavailable)
    app.add_exception_handler(StorageError, unavailable)
