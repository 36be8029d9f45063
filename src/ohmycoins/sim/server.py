"""aiohttp server that answers like Binance's spot REST API, plus a ``/sim/`` control API.

Tests, benchmarks and the demo point ccxt's real ``binance`` class at this server, so
every Binance response goes through the same pipeline as on the real exchange: count
the request, wait the configured latency, answer 503 during an outage, charge the
request weight (429 / 418 when over budget), compute the body from the
``MarketModel``, then maybe break it as the fault plan says.  ``/sim/`` routes are not
Binance: they report statistics and switch faults at runtime without costing weight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter, deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from ohmycoins.sim.config import SimulatorConfig
from ohmycoins.sim.endpoints import ENDPOINTS, BinanceError, Endpoint
from ohmycoins.sim.exchange_info import interval
from ohmycoins.sim.faults import (
    KLINE_KINDS,
    KLINE_PATHS,
    FaultInjector,
    FaultKind,
    FaultPlan,
    FaultRule,
)
from ohmycoins.sim.market import MarketModel
from ohmycoins.sim.ratelimit import Admission, WeightLimiter
from ohmycoins.sim.websocket import WsHub, routes

logger = logging.getLogger(__name__)

_JSON = "application/json"


@dataclass(frozen=True)
class SimStats:
    """A snapshot of what the simulator has seen since start or the last reset."""

    requests: int
    requests_by_path: dict[str, int]
    responses_by_status: dict[int, int]
    weight_used: int
    weight_limit: int
    rate_limited: int
    banned: int
    outage_rejections: int
    faults_injected: dict[str, int]
    outage: bool
    websocket: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "requests_by_path": self.requests_by_path,
            "responses_by_status": {str(k): v for k, v in self.responses_by_status.items()},
            "weight_used": self.weight_used,
            "weight_limit": self.weight_limit,
            "rate_limited": self.rate_limited,
            "banned": self.banned,
            "outage_rejections": self.outage_rejections,
            "faults_injected": self.faults_injected,
            "outage": self.outage,
            "websocket": self.websocket,
        }


class SimState:
    """Everything one running simulator owns: model, limiter, faults and counters."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.model = MarketModel.from_config(config)
        self.limiter = WeightLimiter(config.limits, config.ban_duration, config.clock)
        self.faults = FaultInjector(config.faults, config.seed)
        self.ws = WsHub(config, self.model, self.faults)
        self.closing = asyncio.Event()
        self.requests: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.outage_rejections = 0
        self.received: deque[Received] = deque(maxlen=RECEIVED_KEPT)
        self._latency_rng = random.Random(config.seed ^ 0x1A7E)

    def reset(self) -> None:
        """Zero the counters, forgive the client and restore the configured fault plan."""
        self.requests.clear()
        self.statuses.clear()
        self.outage_rejections = 0
        self.received.clear()
        self.limiter.reset()
        self.faults.injected.clear()
        self.faults.set_plan(self.config.faults)
        self.ws.reset()
        self._latency_rng = random.Random(self.config.seed ^ 0x1A7E)

    def stats(self) -> SimStats:
        return SimStats(
            requests=sum(self.requests.values()),
            requests_by_path=dict(self.requests),
            responses_by_status=dict(self.statuses),
            weight_used=self.limiter.used(),
            weight_limit=self.config.weight_limit,
            rate_limited=self.statuses[429],
            banned=self.statuses[418],
            outage_rejections=self.outage_rejections,
            faults_injected=dict(self.faults.injected),
            outage=self.faults.plan.outage,
            websocket=self.ws.stats(),
        )

    def latency(self) -> float:
        """Seconds to wait before answering the next request."""
        jitter = self.config.latency_jitter_ms * self._latency_rng.random()
        return (self.config.latency_ms + jitter) / 1000.0


@dataclass(frozen=True)
class Received:
    """One Binance request as the simulator saw it: when it arrived (the rate limiter's
    clock, epoch seconds), its path, and the status it was answered with."""

    at: float
    path: str
    status: int


RECEIVED_KEPT = 100_000
"""How many of the latest requests the simulator remembers."""


SIM_STATE = web.AppKey("ohmycoins_sim_state", SimState)


# -------------------------------------------------------------------- responses


def _json(status: int, payload: Any, headers: Mapping[str, str]) -> web.Response:
    body = orjson.dumps(payload)
    return web.Response(
        status=status, body=body, content_type=_JSON, charset="UTF-8", headers=headers
    )


def _limited(state: SimState, admission: Admission) -> web.Response:
    headers = state.limiter.used_headers() | {"Retry-After": str(admission.retry_after)}
    if admission.status == 429:
        limit = admission.limit or state.limiter.limits[0]
        name, number = interval(limit.seconds)
        unit = "request weight" if limit.kind == "REQUEST_WEIGHT" else "requests"
        msg = (
            f"Too much {unit} used; current limit is {limit.limit} {unit} per {number} {name}. "
            "Please use WebSocket Streams for live updates to avoid polling the API."
        )
    else:
        until = int(admission.banned_until * 1000)
        msg = (
            f"Way too much request weight used; IP banned until {until}. Please use WebSocket "
            "Streams for live updates to avoid bans."
        )
    return _json(admission.status, {"code": -1003, "msg": msg}, headers)


def _html(status: int, headers: Mapping[str, str]) -> web.Response:
    """A proxy-style error page, as a CDN in front of an exchange would send it."""
    reason = web.Response(status=status).reason
    page = f"<html><body><h1>{status} {reason}</h1></body></html>"
    return web.Response(status=status, text=page, content_type="text/html", headers=headers)


async def _faulty(
    state: SimState, rule: FaultRule, payload: Any, headers: dict[str, str]
) -> web.Response:
    if rule.kind is FaultKind.TIMEOUT:
        await state.closing.wait()
        return _html(503, headers)
    if rule.kind is FaultKind.SERVER_ERROR:
        return _html(rule.status, headers)
    if rule.kind in KLINE_KINDS:
        return _json(200, state.faults.break_rows(rule, payload), headers)
    body = state.faults.break_body(rule, orjson.dumps(payload))
    return web.Response(status=200, body=body, content_type=_JSON, charset="UTF-8", headers=headers)


# --------------------------------------------------------------------- pipeline


async def _serve(state: SimState, endpoint: Endpoint, request: web.Request) -> web.Response:
    state.requests[endpoint.path] += 1
    delay = state.latency()
    if delay > 0:
        await asyncio.sleep(delay)
    if state.faults.plan.outage:
        state.outage_rejections += 1
        return _html(503, state.limiter.used_headers())
    admission = state.limiter.admit(endpoint.weight(request.query))
    limit_fault = state.faults.pick(endpoint.path, limits=True) if admission.status == 200 else None
    if limit_fault is not None:
        seconds = limit_fault.seconds
        limiter = state.limiter
        admission = (
            limiter.ban(seconds) if limit_fault.kind is FaultKind.BANNED else limiter.warn(seconds)
        )
    if admission.status != 200:
        return _limited(state, admission)
    headers = state.limiter.used_headers()
    try:
        payload = endpoint.handler(state.model, state.config, request.query)
    except BinanceError as error:
        return _json(error.status, error.to_json(), headers)
    rows = len(payload) if endpoint.path in KLINE_PATHS else None
    rule = state.faults.pick(endpoint.path, rows)
    if rule is None:
        return _json(200, payload, headers)
    return await _faulty(state, rule, payload, headers)


def _route(endpoint: Endpoint) -> web.RouteDef:
    async def handle(request: web.Request) -> web.Response:
        state = request.app[SIM_STATE]
        at = state.config.clock()
        response = await _serve(state, endpoint, request)
        state.statuses[response.status] += 1
        state.received.append(Received(at, endpoint.path, response.status))
        return response

    return web.get(endpoint.path, handle, allow_head=False)


# ------------------------------------------------------------------ control API


async def _get_stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[SIM_STATE].stats().to_json())


def _faults_json(state: SimState) -> dict[str, Any]:
    return {"plan": state.faults.plan.to_json(), "remaining": list(state.faults.remaining)}


async def _get_faults(request: web.Request) -> web.Response:
    return web.json_response(_faults_json(request.app[SIM_STATE]))


async def _post_faults(request: web.Request) -> web.Response:
    """Merge ``{"rules": [...], "outage": bool, "seed": int}`` (any subset) into the plan."""
    state = request.app[SIM_STATE]
    try:
        data = await request.json()
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        plan = state.faults.plan.updated(data)
    except (ValueError, KeyError, TypeError) as error:
        return web.json_response({"error": str(error)}, status=400)
    if "rules" in data or "seed" in data:
        state.faults.set_plan(plan)
    else:
        state.faults.set_outage(plan.outage)
    return web.json_response(_faults_json(state))


async def _post_reset(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    state.reset()
    return web.json_response(state.stats().to_json())


async def _on_shutdown(app: web.Application) -> None:
    app[SIM_STATE].closing.set()
    await app[SIM_STATE].ws.close_all()


def create_app(config: SimulatorConfig | None = None) -> web.Application:
    """The simulator as an aiohttp application (Binance REST and websocket routes plus
    ``/sim/``)."""
    app = web.Application()
    app[SIM_STATE] = SimState(config or SimulatorConfig())
    app.add_routes([_route(endpoint) for endpoint in ENDPOINTS])
    app.add_routes(routes(lambda request: request.app[SIM_STATE].ws))
    app.add_routes(
        [
            web.get("/sim/stats", _get_stats, allow_head=False),
            web.get("/sim/faults", _get_faults, allow_head=False),
            web.post("/sim/faults", _post_faults),
            web.post("/sim/reset", _post_reset),
        ]
    )
    app.on_shutdown.append(_on_shutdown)
    return app


# --------------------------------------------------------------------- running


class SimulatorHandle:
    """A running simulator: where it listens and the in-process control API."""

    def __init__(self, state: SimState, base_url: str) -> None:
        self._state = state
        self.base_url = base_url

    @property
    def ws_url(self) -> str:
        """Base of the raw streams (``<ws_url>/<stream>``); combined ones are at
        ``<ws_url without /ws>/stream?streams=...``."""
        return "ws" + self.base_url.removeprefix("http") + "/ws"

    @property
    def config(self) -> SimulatorConfig:
        return self._state.config

    @property
    def model(self) -> MarketModel:
        return self._state.model

    @property
    def stats(self) -> SimStats:
        return self._state.stats()

    @property
    def received(self) -> tuple[Received, ...]:
        """The latest Binance requests, oldest first (`RECEIVED_KEPT` at most)."""
        return tuple(self._state.received)

    @property
    def faults(self) -> FaultPlan:
        return self._state.faults.plan

    def set_faults(self, plan: FaultPlan) -> None:
        """Replace the fault plan; counts start over and the fault RNG is re-seeded."""
        self._state.faults.set_plan(plan)

    def set_outage(self, on: bool) -> None:
        """Answer every Binance request with 503 until switched off."""
        self._state.faults.set_outage(on)

    def reset(self) -> None:
        """Same as ``POST /sim/reset``."""
        self._state.reset()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@contextlib.asynccontextmanager
async def running_simulator(
    config: SimulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[SimulatorHandle]:
    """Serve the simulator on ``host:port`` (0 picks a free port) for the block's duration."""
    app = create_app(config)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = int(runner.addresses[0][1])
        yield SimulatorHandle(app[SIM_STATE], f"http://{_url_host(host)}:{bound_port}")
    finally:
        await runner.cleanup()


async def serve_forever(
    config: SimulatorConfig | None = None, host: str = "127.0.0.1", port: int = 8765
) -> None:
    """Run the simulator until the calling task is cancelled."""
    async with running_simulator(config, host, port) as sim:
        logger.info("exchange simulator listening on %s", sim.base_url)
        await asyncio.Event().wait()
