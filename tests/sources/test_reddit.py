"""Reddit listings fetched through the real path from a local replay server, keyless
and with app-only OAuth.

tests/fixtures/reddit is written in the Listing shape of the real recording read in
tests/conformance (kind/data/children of `t3` submissions, float `created_utc`),
with crypto submissions, a deleted author and a broken time; the token answer
follows Reddit's OAuth2 documentation for the client-credentials grant.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from ohmycoins.errors import PayloadError, SourceError
from ohmycoins.records import SocialPost
from ohmycoins.settings import SourceSettings, load_settings
from ohmycoins.sources.reddit import USER_AGENT, Reddit, parse_listing
from tests.support.replay import Reply, replay_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reddit"
LISTING = Reply.file(FIXTURES / "new_bitcoin.json")


async def test_public_listing_becomes_social_posts() -> None:
    async with (
        replay_server({"/r/Bitcoin/new.json": LISTING}) as url,
        Reddit(SourceSettings(url=url, rate_limit=60_000)) as api,
    ):
        raw = await api.fetch_new("Bitcoin")
    [request] = url.requests
    assert request.query == {"limit": "100", "raw_json": "1"}
    assert request.headers["User-Agent"] == USER_AGENT
    parsed = parse_listing(raw)
    etf, link = parsed.records
    assert etf == SocialPost(
        platform="reddit",
        post_id="t3_1b7x2k",
        ts=1_709_652_600_000,
        community="Bitcoin",
        author="satoshi_fan",
        title="ETF inflows hit a record & BTC > $69k",
        text="Record inflows today. What does this mean for the halving?",
        url="https://www.reddit.com/r/Bitcoin/comments/1b7x2k/etf_inflows_hit_a_record_btc_69k/",
        score=42,
        comments=7,
    )
    assert (link.author, link.text, link.ts) == (None, None, 1_709_651_100_500)
    [bad] = parsed.violations
    assert (bad.record_type, bad.field, bad.value) == ("SocialPost", "created_utc", "soon")


async def test_oauth_token_then_listing_with_bearer() -> None:
    routes = {
        "/api/v1/access_token": Reply.file(FIXTURES / "token.json"),
        "/r/ethereum/new": LISTING,
    }
    env = {
        "OMC_REDDIT_API_KEY": "client-id",
        "OMC_REDDIT_API_SECRET": "client-secret",
        "OMC_REDDIT_RATE_LIMIT": "60000",
    }
    async with replay_server(routes) as url:
        env["OMC_REDDIT_URL"] = url
        async with Reddit(load_settings(env, "absent.toml").source("reddit")) as api:
            first = await api.fetch_new("ethereum")
            await api.fetch_new("ethereum")
    token, listing, again = url.requests
    assert (token.method, token.path) == ("POST", "/api/v1/access_token")
    basic = base64.b64encode(b"client-id:client-secret").decode()
    assert token.headers["Authorization"] == f"Basic {basic}"
    assert listing.headers["Authorization"] == again.headers["Authorization"]
    assert listing.headers["Authorization"] == "bearer app-only-token-123"
    assert url.count("/api/v1/access_token") == 1  # the token is reused
    assert len(parse_listing(first).records) == 2


async def test_refused_credentials_are_a_source_error() -> None:
    routes = {"/api/v1/access_token": Reply({"error": "invalid_grant"}, status=401)}
    async with (
        replay_server(routes) as url,
        Reddit(SourceSettings(url=url, api_key="id", api_secret="bad"), attempts=1) as api,
    ):
        with pytest.raises(SourceError, match="HTTP 401"):
            await api.fetch_new("Bitcoin")


async def test_private_subreddit_and_html_block_page() -> None:
    routes = {
        "/r/secret/new.json": Reply(
            {"reason": "private", "message": "Forbidden", "error": 403}, status=403
        ),
        "/r/Bitcoin/new.json": Reply(
            "<html><body>whoa there, pardner!</body></html>", content_type="text/html"
        ),
    }
    async with (
        replay_server(routes) as url,
        Reddit(SourceSettings(url=url, rate_limit=60_000), attempts=1) as api,
    ):
        with pytest.raises(SourceError, match="HTTP 403"):
            await api.fetch_new("secret")
        with pytest.raises(PayloadError, match="not JSON"):
            await api.fetch_new("Bitcoin")


@pytest.mark.parametrize("raw", [{}, [], {"kind": "t3", "data": {}}, {"kind": "Listing"}])
def test_what_is_not_a_listing_is_a_payload_error(raw: object) -> None:
    with pytest.raises(PayloadError, match="Listing"):
        parse_listing(raw)
