"""MySQL / MariaDB backups (the function the MySQL dialect's `backup` / `restore` are):
a dump taken with the server's own tool restores into an empty database with every row,
and the manifest's counts are read from the dump exactly, whatever the values hold."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import URL, make_url

from ohmycoins.errors import StorageError
from ohmycoins.storage.dialects.mysql_backup import backup_mysql, dump_counts, restore_mysql

MYSQL_URL = os.environ.get("OMC_TEST_MYSQL_URL")

pytestmark = pytest.mark.skipif(
    not MYSQL_URL, reason="OMC_TEST_MYSQL_URL is not set (no MySQL or MariaDB to test against)"
)


def _client(url: URL, sql: str, database: str | None = None) -> str:
    args = ["mariadb", f"--host={url.host}", f"--port={url.port or 3306}", "--batch"]
    args += [f"--user={url.username}", "--default-character-set=utf8mb4", "-e", sql]
    env = {**os.environ, "MYSQL_PWD": url.password or ""}
    done = subprocess.run([*args, *([database] if database else [])], env=env, check=True,
                          capture_output=True, text=True)  # fmt: skip
    return done.stdout


@pytest.fixture
def server() -> Iterator[URL]:
    assert MYSQL_URL
    yield make_url(MYSQL_URL)


@pytest.fixture
def databases(server: URL) -> Iterator[tuple[URL, URL]]:
    names = [f"omc_t_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    for name in names:
        _client(server, f"CREATE DATABASE {name}")
    yield server.set(database=names[0]), server.set(database=names[1])
    for name in names:
        _client(server, f"DROP DATABASE IF EXISTS {name}")


TRICKY = [  # SQL literals: a line break, a quote and a backslash, a dump's own words
    ("'plain'", "1.00000001"),
    ("'a line\\nbreak'", "-0.5"),
    ("'quote '' and \\\\ backslash'", "37000.10"),
    ("'\\nINSERT INTO `candles` VALUES (1);'", "0"),
]


def test_dump_restores_every_row(databases: tuple[URL, URL], tmp_path: Path) -> None:
    source, target = databases
    values = ", ".join(f"({text}, {number})" for text, number in TRICKY)
    _client(
        source,
        "CREATE TABLE candles (note TEXT, price DECIMAL(38, 18)); "
        "CREATE TABLE `empty one` (id INT PRIMARY KEY); "
        f"INSERT INTO candles VALUES {values};",
        source.database,
    )
    path = tmp_path / "ohmycoins.sql"
    counts = backup_mysql(source, path)
    assert counts == {"candles": len(TRICKY), "empty one": 0} == dump_counts(path)
    restore_mysql(target, path)
    query = "SELECT note, price FROM candles ORDER BY note"
    assert _client(target, query, target.database) == _client(source, query, source.database)
    assert _client(target, "SELECT COUNT(*) FROM `empty one`", target.database).split() == [
        "COUNT(*)",
        "0",
    ]


def test_a_failed_dump_is_one_line(server: URL, tmp_path: Path) -> None:
    missing = server.set(database=f"omc_missing_{uuid.uuid4().hex[:8]}")
    with pytest.raises(StorageError, match=r"backup failed: .*dump: .*Unknown database") as info:
        backup_mysql(missing, tmp_path / "x.sql")
    assert "\n" not in str(info.value)
