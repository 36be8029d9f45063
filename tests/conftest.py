"""Shared fixtures: databases on both backends, Redis, and a clean environment.

PostgreSQL and Redis tests read OMC_TEST_POSTGRES_URL / OMC_TEST_REDIS_URL; without
them they skip with the reason. CI sets both, and fails if they do not answer.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from ohmycoins.storage.database import Database, engine_url

# The CLI's console reads COLUMNS once, when the CLI is imported: a width the test
# process inherited (a pytest-xdist worker starts with one) would freeze it. Tests that
# care about width set COLUMNS themselves.
os.environ.pop("COLUMNS", None)

POSTGRES_URL = os.environ.get("OMC_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("OMC_TEST_REDIS_URL")

needs_postgres = pytest.mark.skipif(
    not POSTGRES_URL, reason="OMC_TEST_POSTGRES_URL is not set (no PostgreSQL to test against)"
)
needs_redis = pytest.mark.skipif(
    not REDIS_URL, reason="OMC_TEST_REDIS_URL is not set (no Redis to test against)"
)


@pytest.fixture(autouse=True)
def _clean_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test reads the developer's own OMC_* settings or config file."""
    for name in list(os.environ):
        if name.startswith("OMC_") and not name.startswith("OMC_TEST_"):
            monkeypatch.delenv(name)
    empty = tmp_path_factory.mktemp("cfg") / "empty.toml"
    empty.touch()
    monkeypatch.setenv("OMC_CONFIG", str(empty))


def sqlite_url(tmp_path: os.PathLike[str]) -> str:
    return f"sqlite:///{tmp_path}/omc.db"


@pytest.fixture
def sqlite_db(tmp_path: os.PathLike[str]) -> Iterator[Database]:
    db = Database(sqlite_url(tmp_path))
    db.upgrade()
    yield db
    db.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip("OMC_TEST_POSTGRES_URL is not set (no PostgreSQL to test against)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(engine_url(POSTGRES_URL))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[Database]:
    db = Database(postgres_url)
    db.upgrade()
    yield db
    db.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest) -> Database:
    """The same test on both backends."""
    fixture = "sqlite_db" if request.param == "sqlite" else "postgres_db"
    database: Database = request.getfixturevalue(fixture)
    return database


@pytest.fixture
def redis_url() -> str:
    if not REDIS_URL:
        pytest.skip("OMC_TEST_REDIS_URL is not set (no Redis to test against)")
    return REDIS_URL
