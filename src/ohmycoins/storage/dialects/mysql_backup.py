"""MySQL / MariaDB backups with the server's own client tools, for the MySQL dialect.

`backup_mysql` runs `mariadb-dump` (or `mysqldump`) with `--single-transaction`: one
consistent InnoDB snapshot, taken online without locking the writers. A dump's
snapshot cannot be shared with a second connection, so the manifest's counts are
read from the dump itself: `--skip-extended-insert` writes one `INSERT` line per row
(the dump escapes line breaks inside values), and each `CREATE TABLE` names a table,
with no rows until its inserts. `restore_mysql` feeds the dump to the `mariadb` (or
`mysql`) client.

The MySQL dialect's `backup` and `restore` are these two with `engine.url`.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from sqlalchemy import URL

from ohmycoins.errors import StorageError
from ohmycoins.storage.dialects import run_tool

__all__ = ["BACKUP_SUFFIX", "backup_mysql", "dump_counts", "restore_mysql"]

BACKUP_SUFFIX = ".sql"
_CREATE = re.compile(rb"^CREATE TABLE `((?:[^`]|``)+)` \(")
_INSERT = re.compile(rb"^INSERT INTO `((?:[^`]|``)+)` VALUES ")


def backup_mysql(url: URL, path: Path) -> dict[str, int]:
    """Dump the database of `url` to `path`; returns the rows of each table in it."""
    args = [_tool("mariadb-dump", "mysqldump"), *_connection(url)]
    args += ["--single-transaction", "--skip-extended-insert", "--routines"]
    args += ["--no-tablespaces", "--default-character-set=utf8mb4", f"--result-file={path}"]
    run_tool([*args, _database(url)], _env(url), "backup")
    return dump_counts(path)


def restore_mysql(url: URL, path: Path) -> None:
    """Load the dump at `path` into the (empty) database of `url`."""
    args = [_tool("mariadb", "mysql"), *_connection(url), "--default-character-set=utf8mb4"]
    run_tool([*args, _database(url)], _env(url), "restore", stdin=path)


def dump_counts(path: Path) -> dict[str, int]:
    """The rows of each table in a dump written with `--skip-extended-insert`."""
    counts: dict[str, int] = {}
    with path.open("rb") as dump:
        for line in dump:
            if match := _INSERT.match(line):
                name = _name(match[1])
                counts[name] = counts.get(name, 0) + 1
            elif match := _CREATE.match(line):
                counts.setdefault(_name(match[1]), 0)
    return dict(sorted(counts.items()))


def _name(quoted: bytes) -> str:
    return quoted.replace(b"``", b"`").decode()


def _tool(*names: str) -> str:
    for name in names:
        if found := shutil.which(name):
            return found
    raise StorageError(f"MySQL backups need {' or '.join(names)}, and none is installed")


def _connection(url: URL) -> list[str]:
    args = [f"--host={url.host or '127.0.0.1'}", f"--port={url.port or 3306}"]
    return args + ([f"--user={url.username}"] if url.username else [])


def _database(url: URL) -> str:
    if not url.database:
        raise StorageError("a MySQL backup needs the URL to name a database")
    return url.database


def _env(url: URL) -> dict[str, str]:
    """The password for the client tools, never on their command line."""
    return {"MYSQL_PWD": str(url.password)} if url.password is not None else {}
