"""The one HTTP client every non-exchange source uses (exchanges go through ccxt).

`HttpSource` knows a source's base URL (overridable by `OMC_<SOURCE>_URL`), waits
on the source's rate limiter, retries temporary failures with backoff and jitter
(honouring Retry-After), refuses bodies over a size limit, and translates every
httpx failure into the ohmycoins error tree at this edge.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Self
from urllib.parse import urlsplit

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from ohmycoins.errors import (
    BannedError,
    PayloadError,
    RateLimitedError,
    SourceError,
    TemporarySourceError,
)
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.ratelimit import TokenBucket
from ohmycoins.sources.ratelimit_redis import shared_bucket

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 20 * 1024 * 1024
USER_AGENT = "ohmycoins/0.1 (+https://github.com/ohmycoins/ohmycoins)"


class HttpSource:
    """Async HTTP access to one source: `get_json`, `get_text`, `get_bytes`, `post_json`."""

    def __init__(
        self,
        name: str,
        default_url: str,
        settings: SourceSettings,
        *,
        default_rate_limit: float | None = None,
        limiter: TokenBucket | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 20.0,
        attempts: int = 4,
        max_body_bytes: int = MAX_BODY_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
        redis_url: str | None = None,
    ) -> None:
        """The limit is `OMC_<SOURCE>_RATE_LIMIT`, else the source's documented
        `default_rate_limit` (requests per minute); with `redis_url` its budget is kept
        in Redis, shared by every worker."""
        self.name = name
        self.base_url = settings.url or default_url
        self.settings = settings
        per_minute = settings.rate_limit or default_rate_limit
        self.limiter = limiter or (
            shared_bucket(redis_url, f"http:{name}@{self.base_url}", per_minute)
            if per_minute
            else None
        )
        self.attempts = attempts
        self.max_body_bytes = max_body_bytes
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
            timeout=timeout_s,
            transport=transport,
            follow_redirects=True,
        )

    async def __aenter__(self) -> HttpSource:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET `path` and decode its JSON body, numbers with a fraction as exact Decimals."""
        return self._decode_json(await self.get_bytes(path, params), path)

    async def get_text(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        """GET `path` and return its body as text."""
        return (await self.get_bytes(path, params)).decode("utf-8", "replace")

    async def get_bytes(self, path: str, params: Mapping[str, Any] | None = None) -> bytes:
        """GET `path` with rate limiting and retries of temporary failures."""
        return await self._request("GET", path, params=params)

    async def post_json(self, path: str, body: Any) -> Any:
        """POST a JSON body (a JSON-RPC call) and decode the JSON answer like `get_json`."""
        return self._decode_json(await self._request("POST", path, body=body), path)

    def _decode_json(self, body: bytes, path: str) -> Any:
        try:
            return json.loads(body, parse_float=Decimal)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            preview = body[:500].decode("utf-8", "replace")
            raise PayloadError(
                self.name, f"not JSON: {exc}", payload=preview, request=path
            ) from None

    async def _request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None
    ) -> bytes:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=_backoff_or_retry_after,
            retry=retry_if_exception_type(TemporarySourceError),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._request_once(method, path, params, body)
        raise AssertionError("unreachable: tenacity reraises the last error")

    async def _request_once(
        self, method: str, path: str, params: Mapping[str, Any] | None, body: Any
    ) -> bytes:
        if self.limiter:
            await self.limiter.acquire()
        request = f"{method} {path}"
        try:
            async with self._client.stream(method, path, params=params, json=body) as response:
                await self._raise_for_status(response, request)
                return await self._read_limited(response, request)
        except httpx.TimeoutException as exc:
            raise TemporarySourceError(self.name, f"timeout: {exc!r}", request=request) from None
        except httpx.TransportError as exc:
            raise TemporarySourceError(self.name, f"network: {exc!r}", request=request) from None

    async def _read_limited(self, response: httpx.Response, request: str) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.max_body_bytes:
                raise PayloadError(
                    self.name,
                    f"body larger than {self.max_body_bytes} bytes",
                    payload=None,
                    request=request,
                )
            chunks.append(chunk)
        return b"".join(chunks)

    async def _raise_for_status(self, response: httpx.Response, request: str) -> None:
        status = response.status_code
        if status < 400:
            return
        detail = await _error_detail(response)
        retry_after = _retry_after(response.headers)
        if status == 429:
            if self.limiter and retry_after:
                self.limiter.pause(retry_after)
            raise RateLimitedError(
                self.name, "rate limited (429)", retry_after=retry_after, request=request
            )
        if status == 418:
            raise BannedError(self.name, "banned (418)", retry_after=retry_after, request=request)
        if status >= 500 or status == 408:
            raise TemporarySourceError(self.name, f"HTTP {status}{detail}", request=request)
        raise SourceError(self.name, f"HTTP {status}{detail}", request=request)


class SourceClient:
    """What every source's client shares: one `HttpSource`, the source's API key, closing.

    The class attributes are the source's facts; an instance whose name, URL or limits
    follow its arguments (a plan, a page, a size cap) sets its own before
    `super().__init__`. A client that sends more than its key header extends `_headers`.
    """

    name: str
    default_url: str = ""
    default_rate_limit: float | None = None
    """Requests per minute when `OMC_<SOURCE>_RATE_LIMIT` is unset."""
    max_body_bytes: int = MAX_BODY_BYTES
    key_header: str | None = None
    """The header that carries the key as is, for a source that reads it there."""
    key_required: bool = False
    """A source that can answer nothing without a key refuses to be built without one."""

    def __init__(
        self,
        settings: SourceSettings | None = None,
        *,
        limiter: TokenBucket | None = None,
        attempts: int = 4,
        redis_url: str | None = None,
    ) -> None:
        settings = settings or SourceSettings()
        self.api_key = settings.api_key.get_secret_value() if settings.api_key is not None else None
        if self.key_required and self.api_key is None:
            raise ValueError(f"{type(self).__name__} needs an API key ({self.key_setting})")
        self.http = self._open(settings, limiter, attempts, redis_url)

    @property
    def key_setting(self) -> str:
        """The variable that sets the source's key, for messages that ask for it."""
        return f"OMC_{self.name.upper()}_API_KEY"

    def require_key(self, request: str) -> str:
        """The API key; a source usable without one fails the request, not the build."""
        if not self.api_key:
            raise SourceError(self.name, f"no API key ({self.key_setting})", request=request)
        return self.api_key

    def _headers(self) -> dict[str, str]:
        """Headers every request of the source carries: the key's, when both are known."""
        return {self.key_header: self.api_key} if self.key_header and self.api_key else {}

    def _open(
        self,
        settings: SourceSettings,
        limiter: TokenBucket | None,
        attempts: int,
        redis_url: str | None,
    ) -> HttpSource:
        """Also called again by a client whose headers change (a renewed token)."""
        return HttpSource(
            self.name,
            self.default_url,
            settings,
            default_rate_limit=self.default_rate_limit,
            limiter=limiter,
            headers=self._headers(),
            attempts=attempts,
            max_body_bytes=self.max_body_bytes,
            redis_url=redis_url,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()


def split_endpoint(url: str) -> tuple[str, str]:
    """(origin, path and query) of a URL that names one endpoint or page: requests go
    to exactly that path (a base URL would gain a trailing slash that some hosts refuse)."""
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return f"{parts.scheme}://{parts.netloc}", path


async def _error_detail(response: httpx.Response, limit: int = 2048) -> str:
    """The source's own words about an error, from the first bytes of its body."""
    head = b""
    async for chunk in response.aiter_bytes():
        head += chunk
        if len(head) >= limit:
            break
    text = head[:limit].decode("utf-8", "replace").strip()
    try:
        body = json.loads(text)
    except ValueError:
        return f": {text[:200]}" if text and not text.startswith("<") else ""
    if isinstance(body, dict):
        words = body.get("error") or body.get("message") or body.get("msg")
        if words:
            return f": {words}"
    return ""


_BACKOFF = wait_exponential_jitter(multiplier=0.5, max=30)


def _backoff_or_retry_after(state: RetryCallState) -> float:
    """Exponential backoff with jitter, but never shorter than the source's Retry-After."""
    error = state.outcome.exception() if state.outcome else None
    asked = error.retry_after if isinstance(error, RateLimitedError) else None
    return max(_BACKOFF(state), asked or 0.0)


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
