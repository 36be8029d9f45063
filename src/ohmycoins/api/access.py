"""Who is asking, decided once per HTTP request and per WebSocket connect, before routing.

    socket peer ─► client address   X-Forwarded-For is believed only when the peer is
                                    one of OMC_API_TRUSTED_PROXIES
    key presented? ─ valid ──────► spend the key's budget      (OMC_API_RATE_LIMIT)
                   └ none/invalid ► spend the address's budget  (OMC_API_ANON_RATE_LIMIT)
    budget spent ─► 429 + Retry-After (a WebSocket handshake too), else on to the routes

Every path spends: data routes, unmatched paths, the dashboard's files, `/metrics` and
the stream. IPv6 clients share a budget per /64 network, the block one host usually
holds. The key is looked up here, once; what it may do (`read`, `admin`) is decided
by the routes' dependencies from the `Caller` this leaves in the scope (`caller_of`).
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request, WebSocket, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from ohmycoins.api.keys import ApiKey, key_id_of, verify_key
from ohmycoins.api.ratelimit import RateLimiter
from ohmycoins.errors import StorageError

if TYPE_CHECKING:
    from ohmycoins.api.deps import ApiContext

log = logging.getLogger(__name__)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
CALLER_SCOPE_KEY = "omc.caller"
IPV6_CLIENT_PREFIX = 64


@dataclass(frozen=True, slots=True)
class Caller:
    """The client of one request: its address, the credential it presented (an API
    key, or the metrics token), and the stored key when that credential is a valid key."""

    address: str
    credential: str | None = field(default=None, repr=False)
    key: ApiKey | None = None


def caller_of(connection: Request | WebSocket) -> Caller:
    """The caller `AccessMiddleware` identified for this request or connection."""
    caller: Caller = connection.scope[CALLER_SCOPE_KEY]
    return caller


def presented_credential(headers: Headers) -> str | None:
    """The key a request carries in `X-API-Key` or `Authorization: Bearer`, if any."""
    key = headers.get("x-api-key")
    if key:
        return key
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or None


def parse_networks(values: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(value, strict=False) for value in values)


def forwarded_for(peer: str, forwarded: list[str], trusted: tuple[IPNetwork, ...]) -> str:
    """The client behind a trusted proxy `peer`: the right-most address of the
    `X-Forwarded-For` values that is not a trusted proxy (the one the proxies saw connect).

    Hops left of it were written by the client and prove nothing. A hop that is not an
    address ends the walk: the trusted proxy that reported it answers for it."""
    address = peer
    for hop in reversed(",".join(forwarded).split(",")):
        ip = _ip(hop)
        if ip is None:
            break
        address = str(ip)
        if not _within(ip, trusted):
            break
    return address


def budget_of(address: str) -> str:
    """The anonymous budget an address spends: its own, or its /64 for IPv6."""
    ip = _ip(address) if ":" in address else None  # IPv4 (or not an address): itself
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((ip, IPV6_CLIENT_PREFIX), strict=False))
    return address


def _ip(text: str) -> IPAddress | None:
    """An address written alone, as `1.2.3.4:port`, or as `[v6]:port`; None otherwise."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _within(ip: IPAddress | None, networks: tuple[IPNetwork, ...]) -> bool:
    if ip is None:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


class AccessMiddleware:
    """Identifies the caller of every request and WebSocket connect, and spends its
    budget (see the module docstring)."""

    def __init__(self, app: ASGIApp, context: ApiContext) -> None:
        self.app = app
        self.context = context
        self.trusted = parse_networks(context.settings.api_trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        peer = scope.get("client")
        address = str(peer[0]) if peer else "unknown"
        if peer and self.trusted and _within(_ip(address), self.trusted):
            address = forwarded_for(address, headers.getlist("x-forwarded-for"), self.trusted)
            scope["client"] = (address, peer[1])  # what the access log and handlers see
            _forwarded_scheme(scope, headers)
        credential = presented_credential(headers)
        try:
            key = await self._verify(credential)
        except (SQLAlchemyError, StorageError) as exc:
            await refuse(scope, receive, send, database_unavailable(exc))
            return
        scope[CALLER_SCOPE_KEY] = Caller(address, credential, key)
        if key is not None:
            wait, who = self.context.limiter.acquire(key.key_id), f"API key {key.key_id}"
        else:
            wait, who = self.context.anon_limiter.acquire(budget_of(address)), address
        if wait > 0:
            await refuse(scope, receive, send, rate_limited(who, wait, anonymous=key is None))
            return
        await self.app(scope, receive, send)

    async def _verify(self, credential: str | None) -> ApiKey | None:
        if credential is None or key_id_of(credential) is None:
            return None  # not shaped like a key (the metrics token, say): no lookup
        return await run_in_threadpool(verify_key, self.context.db, credential)


def _forwarded_scheme(scope: Scope, headers: Headers) -> None:
    """`X-Forwarded-Proto` from a trusted proxy: the scheme the client used (for URLs
    the app builds, such as redirects)."""
    proto = headers.get("x-forwarded-proto", "").strip().lower()
    if proto in ("http", "https"):
        secure = proto == "https"
        scope["scheme"] = ("wss" if secure else "ws") if scope["type"] == "websocket" else proto


def rate_limited(who: str, wait: float, *, anonymous: bool) -> JSONResponse:
    """A 429 naming the spent budget, with Retry-After."""
    hint = "; an API key has its own budget" if anonymous else ""
    return JSONResponse(
        {"detail": f"rate limit of {who} exceeded{hint}"},
        status.HTTP_429_TOO_MANY_REQUESTS,
        headers={"Retry-After": RateLimiter.retry_after(wait)},
    )


def database_unavailable(exc: Exception) -> JSONResponse:
    """A 503 naming the database failure, with Retry-After."""
    log.warning("answered 503, the database failed: %s", exc)
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    body = {"detail": f"the database is unavailable: {reason}"}
    return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})


async def refuse(scope: Scope, receive: Receive, send: Send, response: JSONResponse) -> None:
    """Answer with `response`; a WebSocket handshake gets it as its HTTP answer where the
    server can send one, else a close (1013 try again later) before accepting."""
    if scope["type"] == "http" or "websocket.http.response" in scope.get("extensions", {}):
        await response(scope, receive, send)
        return
    await send({"type": "websocket.close", "code": status.WS_1013_TRY_AGAIN_LATER})
