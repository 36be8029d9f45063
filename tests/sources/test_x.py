"""X API v2 recent search fetched through the real path from a local replay server.

tests/fixtures/x is written from X's published API v2 reference for
`GET /2/tweets/search/recent` (`data` of posts with string `id`, `text`,
`author_id`, `created_at` with milliseconds, `public_metrics`; `includes.users`
with `expansions=author_id`; `meta` with `newest_id` and `result_count`; no match
answered as `{"meta": {"result_count": 0}}`; 401 problem details).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ohmycoins.errors import PayloadError, SourceError
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.x import X, newest_id, parse_search
from tests.support.replay import Reply, replay_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "x"
QUERY = "(bitcoin OR ethereum) -is:retweet lang:en"


def client(url: str, key: str | None = "bearer-token") -> X:
    return X(SourceSettings(url=url, api_key=key, rate_limit=60_000), attempts=1)


async def test_recent_posts_become_social_posts() -> None:
    routes = {"/2/tweets/search/recent": Reply.file(FIXTURES / "search_recent.json")}
    async with replay_server(routes) as url, client(f"{url}/2") as api:
        raw = await api.fetch_recent(QUERY, since_id="1765000000000000000")
    [request] = url.requests
    assert request.headers["Authorization"] == "Bearer bearer-token"
    assert request.query["query"] == QUERY
    assert request.query["since_id"] == "1765000000000000000"
    assert request.query["tweet.fields"] == "created_at,public_metrics,author_id"
    parsed = parse_search(raw)
    high, slide = parsed.records
    assert (high.platform, high.post_id, high.ts) == ("x", "1765031234567890123", 1_709_651_400_000)
    assert (high.author, high.score, high.comments) == ("XDevelopers", 940, 35)
    assert high.url == "https://x.com/XDevelopers/status/1765031234567890123"
    assert (slide.author, slide.url) == ("783214", "https://x.com/i/web/status/1765029876543210987")
    [bad] = parsed.violations
    assert (bad.field, bad.value) == ("created_at", None)
    assert newest_id(raw) == "1765031234567890123"


async def test_no_match_is_empty() -> None:
    routes = {"/2/tweets/search/recent": Reply.file(FIXTURES / "search_empty.json")}
    async with replay_server(routes) as url, client(f"{url}/2") as api:
        raw = await api.fetch_recent(QUERY)
    assert "since_id" not in url.requests[0].query
    assert parse_search(raw).records == [] and newest_id(raw) is None


async def test_unauthorized_is_a_source_error() -> None:
    routes = {
        "/2/tweets/search/recent": Reply.file(FIXTURES / "error_unauthorized.json", status=401)
    }
    async with replay_server(routes) as url, client(f"{url}/2") as api:
        with pytest.raises(SourceError, match="HTTP 401"):
            await api.fetch_recent(QUERY)


async def test_no_key_fails_before_any_request() -> None:
    async with replay_server({}) as url, client(url, key=None) as api:
        with pytest.raises(SourceError, match="no API key"):
            await api.fetch_recent(QUERY)
    assert url.count() == 0


def test_errors_only_and_wrong_shapes() -> None:
    with pytest.raises(SourceError, match="errors"):
        parse_search({"errors": [{"title": "Invalid Request"}]})
    with pytest.raises(PayloadError, match="list"):
        parse_search({"data": {"id": "1"}, "meta": {}})
    with pytest.raises(PayloadError, match="object"):
        parse_search([])
