"""X (Twitter) API v2 recent search (keyed): posts about crypto from the last 7 days.

Facts about the source, as data below:
- Base URL `https://api.twitter.com/2` (`OMC_X_URL` overrides it); the app's bearer
  token `OMC_X_API_KEY` is sent as `Authorization: Bearer ...`.
- `GET /tweets/search/recent?query=...&max_results=100&tweet.fields=created_at,
  public_metrics,author_id&expansions=author_id&user.fields=username` answers
  `{"data": [...], "includes": {"users": [...]}, "meta": {"result_count": n,
  "newest_id": ..., "next_token": ...}}`; with no match `data` is absent and
  `result_count` is 0. A post has `id` (a string: ids exceed 2^53), `text`,
  `author_id`, `created_at` (ISO-8601 with milliseconds, UTC) and `public_metrics`
  (`retweet_count`, `reply_count`, `like_count`, `quote_count`).
- `since_id` asks only for posts newer than the last one seen.
- Access tiers differ a lot (Free reads very little per month, Basic allows 60
  searches per 15 minutes); the default rate here is Basic's, and a monthly cap
  belongs in `OMC_X_MONTHLY_QUOTA`.
- Errors: 401 `{"title": "Unauthorized", "status": 401, "detail": ...}`, 429 with
  `x-rate-limit-reset`; a 200 may carry `errors` beside `data` (partial answer),
  which are ignored when `data` is present.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ohmycoins.errors import PayloadError, SourceError
from ohmycoins.records import SocialPost
from ohmycoins.sources.http import SourceClient
from ohmycoins.sources.parsing import (
    JSON,
    FieldError,
    Parsed,
    parse_rows,
    require,
    to_epoch_ms,
    to_optional_int,
    to_text,
)

NAME = "x"
BASE_URL = "https://api.twitter.com/2"
SEARCH = "/tweets/search/recent"
MAX_RESULTS = 100
RATE_LIMIT = 4.0
"""Requests per minute: Basic access's 60 recent searches per 15 minutes."""
POST_URL = "https://x.com/{user}/status/{id}"


class X(SourceClient):
    """Fetches raw recent-search answers through one `HttpSource`; parse with `parse_search`."""

    name = NAME
    default_url = BASE_URL
    default_rate_limit = RATE_LIMIT

    def _headers(self) -> dict[str, str]:
        """X reads its bearer token in `Authorization`, not a header of its own."""
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    async def fetch_recent(self, query: str, since_id: str | None = None) -> JSON:
        """Posts of the last 7 days matching `query`, newest first (newer than
        `since_id` when given)."""
        self.require_key(SEARCH)
        params: dict[str, Any] = {
            "query": query,
            "max_results": MAX_RESULTS,
            "tweet.fields": "created_at,public_metrics,author_id",
            "expansions": "author_id",
            "user.fields": "username",
        }
        if since_id:
            params["since_id"] = since_id
        return await self.http.get_json(SEARCH, params)


def parse_search(raw: JSON, _now_ms: int = 0) -> Parsed[SocialPost]:
    """A `SocialPost` per post: likes are its score, replies its comments; the author
    is the username when the answer includes it, else the author id.

    {"data": [{"id": "1765031234567890123", "text": "BTC at a new high",
               "author_id": "2244994945", "created_at": "2024-03-05T10:00:00.000Z",
               "public_metrics": {"retweet_count": 5, "reply_count": 2,
                                  "like_count": 40, "quote_count": 1}}],
     "includes": {"users": [{"id": "2244994945", "name": "Dev", "username": "XDevelopers"}]},
     "meta": {"newest_id": "1765031234567890123", "result_count": 1}}
    """
    if not isinstance(raw, Mapping) or not isinstance(raw.get("meta", {}), Mapping):
        raise PayloadError(NAME, "answer must be an object", payload=raw, request=SEARCH)
    posts = raw.get("data")
    if posts is None:
        if "errors" in raw and "meta" not in raw:
            raise SourceError(NAME, f"errors: {raw['errors']!r}"[:500], request=SEARCH)
        return Parsed()
    if not isinstance(posts, list):
        raise PayloadError(NAME, "`data` must be a list", payload=raw, request=SEARCH)
    users = _usernames(raw.get("includes"))
    return parse_rows(posts, lambda row: _post(row, users), "SocialPost")


def newest_id(raw: JSON) -> str | None:
    """`meta.newest_id` of an answer: where the next search starts (`since_id`)."""
    meta = raw.get("meta") if isinstance(raw, Mapping) else None
    newest = meta.get("newest_id") if isinstance(meta, Mapping) else None
    return newest if isinstance(newest, str) and newest.isdigit() else None


def _post(row: JSON, users: Mapping[str, str]) -> SocialPost:
    post_id = to_text(require(row, "id"), "id")
    if not post_id.isdigit():
        raise FieldError("id", post_id, "must be a numeric string")
    author_id = row.get("author_id")
    author = users.get(author_id) or (author_id if isinstance(author_id, str) else None)
    metrics = row.get("public_metrics") or {}
    if not isinstance(metrics, Mapping):
        raise FieldError("public_metrics", metrics, "must be an object")
    return SocialPost(
        platform=NAME,
        post_id=post_id,
        ts=to_epoch_ms(require(row, "created_at"), "created_at"),
        author=author,
        text=to_text(require(row, "text"), "text"),
        url=POST_URL.format(user=users.get(author_id) or "i/web", id=post_id),
        score=to_optional_int(metrics.get("like_count"), "public_metrics.like_count"),
        comments=to_optional_int(metrics.get("reply_count"), "public_metrics.reply_count"),
    )


def _usernames(includes: object) -> dict[str, str]:
    users = includes.get("users") if isinstance(includes, Mapping) else None
    if not isinstance(users, list):
        return {}
    return {
        str(user["id"]): str(user["username"])
        for user in users
        if isinstance(user, Mapping) and "id" in user and "username" in user
    }
