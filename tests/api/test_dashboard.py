"""The dashboard page at `/`: served by the app, self-contained, offline."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from ohmycoins.api.dashboard import STATIC_DIR
from ohmycoins.storage.database import Database
from tests.api.conftest import make_client

PAGE_FILES = ("index.html", "app.js", "style.css")
LIBRARY = "vendor/lightweight-charts.standalone.production.js"


@pytest.fixture
def page_client(sqlite_db: Database) -> Iterator[TestClient]:
    with make_client(sqlite_db) as client:
        yield client


def test_root_serves_the_page(page_client: TestClient) -> None:
    response = page_client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<title>ohmycoins</title>" in response.text
    assert 'id="chart"' in response.text
    assert "script-src 'self'" in response.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("app.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        (LIBRARY, "text/javascript; charset=utf-8"),
        ("vendor/lightweight-charts.LICENSE", "text/plain; charset=utf-8"),
        ("vendor/lightweight-charts.NOTICE", "text/plain; charset=utf-8"),
    ],
)
def test_static_files_have_their_content_type(
    page_client: TestClient, path: str, content_type: str
) -> None:
    response = page_client.get(f"/static/{path}")
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == (STATIC_DIR / path).read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/static/missing.js",
        "/static/../dashboard.py",
        "/static/%2e%2e/dashboard.py",
        "/static/..%2fapp.py",
        "/static/vendor",
        "/static/",
    ],
)
def test_nothing_else_is_served(page_client: TestClient, path: str) -> None:
    assert page_client.get(path).status_code == 404


def test_page_references_only_local_assets(page_client: TestClient) -> None:
    html = page_client.get("/").text
    referenced = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/static/app.js" in referenced
    assert f"/static/{LIBRARY}" in referenced
    for url in referenced:
        assert not re.match(r"^(https?:)?//", url), url
        if url.startswith("/static/"):
            assert page_client.get(url).status_code == 200, url
    for name in PAGE_FILES:
        text = (STATIC_DIR / name).read_text()
        assert not re.search(r"https?://|//cdn", text), f"{name} refers to a remote URL"


def test_vendored_library_keeps_its_licence() -> None:
    library = (STATIC_DIR / LIBRARY).read_text()
    assert "Lightweight Charts" in library[:300]
    assert "Apache License" in library[:300]
    assert "Apache License" in (STATIC_DIR / "vendor/lightweight-charts.LICENSE").read_text()
    assert "TradingView" in (STATIC_DIR / "vendor/lightweight-charts.NOTICE").read_text()


def test_page_is_served_when_keys_are_required(sqlite_db: Database) -> None:
    """The page itself is open, so a user can enter a key; its data calls need one."""
    with make_client(sqlite_db, api_require_key=True) as client:
        assert client.get("/").status_code == 200
        assert client.get("/static/app.js").status_code == 200
        assert client.get("/api/v1/tickers/latest").status_code == 401


def test_page_sends_the_stored_key() -> None:
    script = (STATIC_DIR / "app.js").read_text()
    assert 'headers["X-API-Key"] = key' in script
    assert "localStorage" in script


def test_dashboard_is_not_in_the_api_schema(page_client: TestClient) -> None:
    paths = page_client.get("/api/v1/openapi.json").json()["paths"]
    assert "/" not in paths
    assert not any(path.startswith("/static") for path in paths)
