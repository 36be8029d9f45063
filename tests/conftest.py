"""Shared fixtures: databases on every backend, Redis, and a clean environment.

PostgreSQL, MySQL/MariaDB and Redis tests read OMC_TEST_POSTGRES_URL /
OMC_TEST_MYSQL_URL / OMC_TEST_REDIS_URL; without them they skip with the reason. CI
sets all three, and fails if they do not answer.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, make_url, text

from ohmycoins.storage.database import Database, engine_url
from tests.support.databases import ReusedDatabase, ReusedMysql, ReusedPostgres

# The CLI's console reads COLUMNS once, when the CLI is imported: a width the test
# process inherited (a pytest-xdist worker starts with one) would freeze it. Tests that
# care about width set COLUMNS themselves.
os.environ.pop("COLUMNS", None)

POSTGRES_URL = os.environ.get("OMC_TEST_POSTGRES_URL")
MYSQL_URL = os.environ.get("OMC_TEST_MYSQL_URL")
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
    """No test reads the developer's own OMC_* settings or config file; streams capture
    into a temporary folder."""
    for name in list(os.environ):
        if name.startswith("OMC_") and not name.startswith("OMC_TEST_"):
            monkeypatch.delenv(name)
    empty = tmp_path_factory.mktemp("cfg") / "empty.toml"
    empty.touch()
    monkeypatch.setenv("OMC_CONFIG", str(empty))
    monkeypatch.setenv("OMC_CAPTURE_DIR", str(tmp_path_factory.mktemp("capture")))


def sqlite_url(tmp_path: os.PathLike[str]) -> str:
    return f"sqlite:///{tmp_path}/omc.db"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per session: running the migrations takes far longer
    than copying their result, and most tests want a fresh migrated database."""
    folder = tmp_path_factory.mktemp("sqlite_template")
    db = Database(sqlite_url(folder))
    db.upgrade()
    db.dispose()
    return folder / "omc.db"


@pytest.fixture
def sqlite_db(tmp_path: os.PathLike[str], sqlite_template: Path) -> Iterator[Database]:
    """A fresh migrated SQLite database (a copy of the session's template)."""
    shutil.copyfile(sqlite_template, Path(tmp_path) / "omc.db")
    db = Database(sqlite_url(tmp_path))
    yield db
    db.dispose()


@pytest.fixture
def database(sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    """A migrated SQLite database the CLI opens (`OMC_DATABASE_URL`), printing 200 columns
    wide."""
    monkeypatch.setenv("OMC_DATABASE_URL", sqlite_url(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    return sqlite_db


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


@pytest.fixture(scope="session")
def reused_postgres() -> Iterator[ReusedDatabase]:
    if not POSTGRES_URL:
        pytest.skip("OMC_TEST_POSTGRES_URL is not set (no PostgreSQL to test against)")
    yield from _reused(ReusedPostgres(POSTGRES_URL))


@pytest.fixture
def postgres_db(reused_postgres: ReusedDatabase) -> Iterator[Database]:
    """A migrated PostgreSQL database holding no rows (reused: see `ReusedDatabase`)."""
    yield from _taken(reused_postgres)


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A MySQL/MariaDB URL naming a fresh, empty database, dropped afterwards. It takes
    the server's default collation: the schema's text columns carry their own."""
    if not MYSQL_URL:
        pytest.skip("OMC_TEST_MYSQL_URL is not set (no MySQL or MariaDB to test against)")
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(engine_url(MYSQL_URL))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
    yield make_url(MYSQL_URL).set(database=name).render_as_string(hide_password=False)
    with admin.begin() as conn:
        conn.execute(text(f"DROP DATABASE {name}"))
    admin.dispose()


@pytest.fixture(scope="session")
def reused_mysql() -> Iterator[ReusedDatabase]:
    if not MYSQL_URL:
        pytest.skip("OMC_TEST_MYSQL_URL is not set (no MySQL or MariaDB to test against)")
    yield from _reused(ReusedMysql(MYSQL_URL))


@pytest.fixture
def mysql_db(reused_mysql: ReusedDatabase) -> Iterator[Database]:
    """A migrated MySQL/MariaDB database holding no rows (reused: see `ReusedDatabase`)."""
    yield from _taken(reused_mysql)


def _reused(reused: ReusedDatabase) -> Iterator[ReusedDatabase]:
    yield reused
    reused.close()


def _taken(reused: ReusedDatabase) -> Iterator[Database]:
    db = reused.take()
    yield db
    db.dispose()


BACKENDS = ["sqlite", "postgres", "mysql"]
"""Every backend a `db` test runs on (`<name>_db` and `<name>_url` fixtures)."""


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest) -> Database:
    """The same test on every backend."""
    database: Database = request.getfixturevalue(f"{request.param}_db")
    return database


@pytest.fixture
def redis_url() -> str:
    if not REDIS_URL:
        pytest.skip("OMC_TEST_REDIS_URL is not set (no Redis to test against)")
    return REDIS_URL
