"""Budgets before routing, over HTTP: per client address without a key, per key with
one; which address is believed behind a proxy; WebSocket connects; bounded memory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson
import pytest
from starlette.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from ohmycoins.api import create_app
from ohmycoins.api.access import (
    budget_of,
    forwarded_for,
    parse_networks,
    presented_credential,
    rate_limited,
    refuse,
)
from ohmycoins.api.keys import create_key
from ohmycoins.api.ratelimit import RateLimiter
from ohmycoins.errors import ConfigError
from ohmycoins.publish import MemoryBroker
from ohmycoins.settings import Settings, load_settings
from ohmycoins.storage.database import Database
from tests.api.conftest import make_client
from tests.support.serve import serving

HEALTH = "/api/v1/health"
CANDLES = "/api/v1/candles?exchange=binance&symbol=BTC/USDT&timeframe=1m"


@contextmanager
def served(db: Database, **setting_values: Any) -> Iterator[httpx.Client]:
    """An HTTP client of the real app over `db`, served by uvicorn on loopback."""
    settings = Settings(database_url=db.url, **setting_values)
    with (
        serving(create_app(settings, db=db, broker=MemoryBroker())) as url,
        httpx.Client(base_url=url) as http,
    ):
        yield http


def assert_limited(response: httpx.Response, naming: str) -> None:
    """A 429 with Retry-After and a one-line JSON error naming the spent budget."""
    assert response.status_code == 429, response.text
    assert int(response.headers["Retry-After"]) >= 1
    assert b"\n" not in response.content
    assert naming in response.json()["detail"]


def test_anonymous_requests_are_limited_per_address_on_every_path(sqlite_db: Database) -> None:
    read_key = create_key(sqlite_db, "read").key
    with served(sqlite_db, api_anon_rate_limit=3) as http:
        assert [http.get(HEALTH).status_code for _ in range(3)] == [200, 200, 200]
        assert_limited(http.get(HEALTH), "127.0.0.1")
        assert_limited(http.get("/no/such/path"), "an API key has its own budget")
        assert_limited(http.get("/static/app.js"), "127.0.0.1")
        assert_limited(http.get(CANDLES, headers={"X-API-Key": "omc_bogus"}), "127.0.0.1")
        keyed = {"X-API-Key": read_key}
        assert [http.get(CANDLES, headers=keyed).status_code for _ in range(5)] == [200] * 5


def test_keys_keep_their_own_limit(sqlite_db: Database) -> None:
    read_key = create_key(sqlite_db, "read").key
    bearer = {"Authorization": f"Bearer {read_key}"}
    with served(sqlite_db, api_rate_limit=2, api_anon_rate_limit=100) as http:
        assert [http.get(HEALTH, headers=bearer).status_code for _ in range(2)] == [200, 200]
        assert_limited(http.get("/anything", headers=bearer), "API key")
        assert http.get(HEALTH).status_code == 200  # the address's budget is its own


def test_forwarded_for_is_ignored_without_trusted_proxies(sqlite_db: Database) -> None:
    with served(sqlite_db, api_anon_rate_limit=2) as http:
        for client in ("203.0.113.5", "203.0.113.6"):
            assert http.get(HEALTH, headers={"X-Forwarded-For": client}).status_code == 200
        assert_limited(http.get(HEALTH, headers={"X-Forwarded-For": "203.0.113.7"}), "127.0.0.1")


def test_forwarded_for_is_believed_from_trusted_proxies(sqlite_db: Database) -> None:
    def get(forwarded: str) -> httpx.Response:
        return http.get(HEALTH, headers={"X-Forwarded-For": forwarded})

    with served(sqlite_db, api_anon_rate_limit=2, api_trusted_proxies=("127.0.0.1",)) as http:
        assert [get("203.0.113.5").status_code for _ in range(2)] == [200, 200]
        assert_limited(get("203.0.113.5"), "203.0.113.5")
        assert_limited(get("198.51.100.9, 203.0.113.5"), "203.0.113.5")  # left hop: the client's
        assert get("203.0.113.5, 198.51.100.9").status_code == 200  # the right-most is believed
        assert get("203.0.113.6").status_code == 200
        assert [get(f"2001:db8::{n}").status_code for n in (1, 2, 3)] == [200, 200, 429]
        assert http.get(HEALTH).status_code == 200  # the proxy itself, with no header


def test_forwarded_for_walk() -> None:
    trusted = parse_networks(("10.0.0.0/8", "::1"))
    assert forwarded_for("10.0.0.1", [], trusted) == "10.0.0.1"
    assert forwarded_for("10.0.0.1", ["1.2.3.4, 10.0.0.2"], trusted) == "1.2.3.4"
    assert forwarded_for("10.0.0.1", ["6.6.6.6", "1.2.3.4:5678"], trusted) == "1.2.3.4"
    assert forwarded_for("::1", ["[2001:db8::5]:443"], trusted) == "2001:db8::5"
    assert forwarded_for("10.0.0.1", ["1.2.3.4, garbage, 10.0.0.2"], trusted) == "10.0.0.2"
    assert forwarded_for("10.0.0.1", ["10.0.0.3, 10.0.0.2"], trusted) == "10.0.0.3"
    assert budget_of("2001:db8:0:0:1::7") == "2001:db8::/64"
    assert budget_of("203.0.113.5") == "203.0.113.5"


def test_presented_credential() -> None:
    def of(**headers: str) -> str | None:
        return presented_credential(Headers({k.replace("_", "-"): v for k, v in headers.items()}))

    assert of(x_api_key="omc_a", authorization="Bearer omc_b") == "omc_a"
    assert of(authorization="bearer  omc_b ") == "omc_b"
    assert of(authorization="Basic dXNlcjpwdw==") is None
    assert of(authorization="Bearer ") is None
    assert of() is None


def test_websocket_connects_spend_the_budget(sqlite_db: Database) -> None:
    read_key = create_key(sqlite_db, "read").key
    with served(sqlite_db, api_anon_rate_limit=2) as http:
        stream = str(http.base_url).replace("http://", "ws://") + "/api/v1/stream"
        for _ in range(2):
            with connect(stream) as ws:
                ws.send(orjson.dumps({"subscribe": ["news"]}).decode())
                assert orjson.loads(ws.recv(timeout=10)) == {"subscribed": ["news"]}
        with pytest.raises(InvalidStatus) as refused:
            connect(stream)
        response = refused.value.response
        assert response.status_code == 429
        assert int(response.headers["Retry-After"]) >= 1
        assert "127.0.0.1" in orjson.loads(response.body)["detail"]
        assert_limited(http.get(HEALTH), "127.0.0.1")  # one budget for both
        with connect(stream, additional_headers={"X-API-Key": read_key}):
            pass  # a key's connect spends the key's budget


def test_a_key_lookup_while_the_database_is_down_answers_503() -> None:
    db = Database("postgresql://nobody@127.0.0.1:1/none")
    with make_client(db) as client:
        response = client.get(HEALTH, headers={"X-API-Key": "omc_0123456789ab_" + "x" * 43})
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert response.json()["detail"].startswith("the database is unavailable: ")
        assert client.get(HEALTH).status_code == 200  # no key, no lookup


def test_idle_buckets_are_dropped() -> None:
    now = [0.0]
    limiter = RateLimiter(120, clock=lambda: now[0])
    for n in range(10_000):
        assert limiter.acquire(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}") == 0
    assert len(limiter) == 10_000
    now[0] += 30.0
    limiter.acquire("busy")
    assert len(limiter) == 10_001  # half a minute: not yet refilled, kept
    now[0] += 30.0
    limiter.acquire("busy")
    assert len(limiter) == 1  # a minute idle: full again, the same as no bucket


def test_buckets_are_capped_least_recently_used_first() -> None:
    now = [0.0]
    limiter = RateLimiter(2, clock=lambda: now[0], max_entries=100)
    limiter.acquire("early")
    limiter.acquire("early")
    assert limiter.acquire("early") > 0
    for n in range(10_000):
        limiter.acquire(f"addr-{n}")
        assert len(limiter) <= 100
    assert limiter.acquire("early") == 0  # evicted: a fresh, full bucket


def test_access_settings_from_the_environment(tmp_path: Any) -> None:
    env = {
        "OMC_API_ANON_RATE_LIMIT": "30",
        "OMC_API_TRUSTED_PROXIES": "10.1.2.3/8, 127.0.0.1,,::1",
        "OMC_API_METRICS_TOKEN": "scrape-token-0123456789",
    }
    settings = load_settings(env, tmp_path / "none.toml")
    assert settings.api_anon_rate_limit == 30
    assert settings.api_trusted_proxies == ("10.0.0.0/8", "127.0.0.1/32", "::1/128")
    assert settings.api_metrics_token is not None
    assert settings.api_metrics_token.get_secret_value() == "scrape-token-0123456789"
    assert settings.sources == {}
    defaults = load_settings({"OMC_API_METRICS_TOKEN": ""}, tmp_path / "none.toml")
    assert defaults.api_anon_rate_limit == 120
    assert defaults.api_trusted_proxies == () and defaults.api_metrics_token is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OMC_API_TRUSTED_PROXIES", "10.0.0.1, proxy.local"),
        ("OMC_API_METRICS_TOKEN", "short"),
        ("OMC_API_ANON_RATE_LIMIT", "0"),
    ],
)
def test_bad_access_settings_are_named(tmp_path: Any, variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({variable: value}, tmp_path / "none.toml")
    assert raised.value.setting == variable


async def test_a_refused_handshake_closes_where_the_server_cannot_answer_http() -> None:
    """Servers without the ASGI denial-response extension get a close before accepting
    (their clients see 403)."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "extensions": {}}
    await refuse(scope, receive, send, rate_limited("203.0.113.5", 2.5, anonymous=True))
    assert sent == [{"type": "websocket.close", "code": 1013}]
