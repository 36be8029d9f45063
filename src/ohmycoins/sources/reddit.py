"""Reddit: the newest submissions of crypto subreddits, as `SocialPost`s.

Facts about the source, as data below:
- Without credentials the public JSON listing is read:
  `https://www.reddit.com/r/<sub>/new.json?limit=100&raw_json=1`, about 10 requests
  per minute per IP.
- With an app's credentials (`OMC_REDDIT_API_KEY` = client id,
  `OMC_REDDIT_API_SECRET` = client secret) the same listing is read from
  `https://oauth.reddit.com/r/<sub>/new` with an app-only token (OAuth2 client
  credentials grant: `POST /api/v1/access_token`, HTTP basic auth, form body
  `grant_type=client_credentials`), 100 requests per minute. This is done over
  plain HTTP rather than with praw so the whole path (token, then listing) runs
  against a local server in tests; the token is reused until a minute before it
  expires.
- `OMC_REDDIT_URL` replaces both hosts: the token and the listings are then asked
  of that one base URL.
- Reddit refuses generic clients: every request carries a descriptive User-Agent.
- A listing is `{"kind": "Listing", "data": {"children": [{"kind": "t3", "data":
  {...}}], "after": ...}}`; times are float epoch seconds (`created_utc`); with
  `raw_json=1` text is not HTML-escaped. A private or banned subreddit answers
  403/404 (a `SourceError`); a blocked client may get an HTML page (`PayloadError`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import httpx

from ohmycoins.errors import PayloadError, SourceError, TemporarySourceError
from ohmycoins.records import SocialPost
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.http import SourceClient
from ohmycoins.sources.parsing import (
    JSON,
    Parsed,
    parse_rows,
    require,
    seconds_to_ms,
    to_optional_int,
    to_text,
)
from ohmycoins.sources.ratelimit import TokenBucket

NAME = "reddit"
PUBLIC_URL = "https://www.reddit.com"
OAUTH_URL = "https://oauth.reddit.com"
TOKEN_PATH = "/api/v1/access_token"
PUBLIC_LISTING = "/r/{sub}/new.json"
OAUTH_LISTING = "/r/{sub}/new"
LIMIT = 100
PUBLIC_RATE_LIMIT = 10.0
OAUTH_RATE_LIMIT = 100.0
"""Requests per minute: Reddit's limits without and with OAuth."""
USER_AGENT = "python:ohmycoins:0.1 (self-hosted crypto data collector)"
TOKEN_MARGIN_S = 60.0
DELETED = ("[deleted]", "[removed]")


class Reddit(SourceClient):
    """Fetches subreddit listings (public, or OAuth with credentials); parse them with
    `parse_listing`."""

    name = NAME

    def __init__(
        self,
        settings: SourceSettings | None = None,
        *,
        limiter: TokenBucket | None = None,
        attempts: int = 4,
        redis_url: str | None = None,
    ) -> None:
        """With a client id and secret the listings come from the OAuth host, with its
        larger budget; without them from the public host."""
        settings = settings or SourceSettings()
        self.settings = settings
        self.oauth = settings.api_key is not None and settings.api_secret is not None
        self.default_url = OAUTH_URL if self.oauth else PUBLIC_URL
        self.default_rate_limit = OAUTH_RATE_LIMIT if self.oauth else PUBLIC_RATE_LIMIT
        self.token_url = (settings.url or PUBLIC_URL) + TOKEN_PATH
        self._token: str | None = None
        self._token_expires = 0.0
        self.attempts = attempts
        super().__init__(settings, limiter=limiter, attempts=attempts, redis_url=redis_url)
        self._auth = httpx.AsyncClient(headers={"User-Agent": USER_AGENT}, timeout=20.0)

    def _headers(self) -> dict[str, str]:
        """With OAuth the listing client carries the current token, so it is built again
        (sharing its rate limiter) when the token is renewed."""
        headers = {"User-Agent": USER_AGENT}
        if self._token is not None:
            headers["Authorization"] = f"bearer {self._token}"
        return headers

    async def aclose(self) -> None:
        await super().aclose()
        await self._auth.aclose()

    async def fetch_new(self, subreddit: str) -> JSON:
        """The newest submissions of one subreddit (up to 100)."""
        params = {"limit": LIMIT, "raw_json": 1}
        if not self.oauth:
            return await self.http.get_json(PUBLIC_LISTING.format(sub=subreddit), params)
        await self._ensure_token()
        return await self.http.get_json(OAUTH_LISTING.format(sub=subreddit), params)

    async def _ensure_token(self) -> None:
        """An app-only token on the listing client, asked again a minute before the
        last one expires."""
        if self._token is not None and time.monotonic() < self._token_expires:
            return
        body = await self._post_token()
        token = body.get("access_token") if isinstance(body, Mapping) else None
        if not isinstance(token, str) or not token:
            error = body.get("error") if isinstance(body, Mapping) else None
            raise SourceError(NAME, f"no access token: {error or body!r}", request=TOKEN_PATH)
        lifetime = body.get("expires_in")
        seconds = float(lifetime) if isinstance(lifetime, int | Decimal) else 3600.0
        self._token = token
        self._token_expires = time.monotonic() + max(0.0, seconds - TOKEN_MARGIN_S)
        previous = self.http
        self.http = self._open(self.settings, previous.limiter, self.attempts, None)
        await previous.aclose()

    async def _post_token(self) -> Any:
        assert self.settings.api_key is not None and self.settings.api_secret is not None
        auth = (
            self.settings.api_key.get_secret_value(),
            self.settings.api_secret.get_secret_value(),
        )
        request = f"POST {TOKEN_PATH}"
        try:
            response = await self._auth.post(
                self.token_url, data={"grant_type": "client_credentials"}, auth=auth
            )
        except httpx.TimeoutException as exc:
            raise TemporarySourceError(NAME, f"timeout: {exc!r}", request=request) from None
        except httpx.TransportError as exc:
            raise TemporarySourceError(NAME, f"network: {exc!r}", request=request) from None
        if response.status_code >= 500:
            raise TemporarySourceError(NAME, f"HTTP {response.status_code}", request=request)
        if response.status_code >= 400:
            raise SourceError(NAME, f"HTTP {response.status_code}", request=request)
        try:
            return json.loads(response.content, parse_float=Decimal)
        except (json.JSONDecodeError, UnicodeDecodeError):
            preview = response.content[:500].decode("utf-8", "replace")
            raise PayloadError(NAME, "token answer is not JSON", payload=preview) from None


def parse_listing(raw: JSON, _now_ms: int = 0) -> Parsed[SocialPost]:
    """A `SocialPost` per submission of a listing; `post_id` is Reddit's fullname
    (`t3_...`), `url` the permalink, `text` the self text (None for a link post).

    {"kind": "Listing", "data": {"after": "t3_1b7", "children": [
      {"kind": "t3", "data": {"name": "t3_1b7x2k", "id": "1b7x2k",
        "subreddit": "Bitcoin", "author": "satoshi_fan", "title": "ETF inflows",
        "selftext": "Record day.", "score": 42, "num_comments": 7,
        "permalink": "/r/Bitcoin/comments/1b7x2k/etf_inflows/",
        "created_utc": 1709632800.0}}]}}
    """
    data = raw.get("data") if isinstance(raw, Mapping) else None
    children = data.get("children") if isinstance(data, Mapping) else None
    if (
        not isinstance(raw, Mapping)
        or raw.get("kind") != "Listing"
        or not isinstance(children, list)
    ):
        raise PayloadError(NAME, "answer is not a Listing", payload=raw, request="listing")
    return parse_rows(children, lambda child: _submission(require(child, "data")), "SocialPost")


def _submission(row: object) -> SocialPost:
    post = row if isinstance(row, Mapping) else {}
    name = post.get("name") or (f"t3_{post['id']}" if post.get("id") else None)
    permalink = post.get("permalink")
    return SocialPost(
        platform=NAME,
        post_id=to_text(name, "name"),
        ts=seconds_to_ms(require(row, "created_utc"), "created_utc"),
        community=_text(post.get("subreddit")),
        author=_author(post.get("author")),
        title=_text(post.get("title")),
        text=_text(post.get("selftext")),
        url=PUBLIC_URL + permalink if isinstance(permalink, str) and permalink else None,
        score=to_optional_int(post.get("score"), "score"),
        comments=to_optional_int(post.get("num_comments"), "num_comments"),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _author(value: object) -> str | None:
    author = _text(value)
    return None if author in DELETED else author
