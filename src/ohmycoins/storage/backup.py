"""`omc backup` and `omc restore`: a whole database to one file and back, checked.

    backup:  dialect.backup(engine, file) ─► rows per table, as the file holds them
             └─► file.manifest.json: backend, schema revision, rows per table, size, sha256
    restore: manifest read, file's sha256 checked ─► target must have no table
             ─► dialect.restore(engine, file) ─► rows per table == the manifest's

Each backend's own tool does the copy (`storage/dialects/`): SQLite's backup API,
`pg_dump --format=custom`, `mariadb-dump --single-transaction`; every one is online
and consistent, so a backup taken while collectors write holds one moment. Backups are
named by their UTC time (`ohmycoins-20261207T030000Z.db`), so the newest sort last and
`prune` keeps the newest N.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import inspect

from ohmycoins.errors import StorageError
from ohmycoins.storage.database import Database, shown_url
from ohmycoins.storage.dialects import count_rows

__all__ = ["Manifest", "backup", "backups_in", "manifest_path", "prune", "restore"]

log = logging.getLogger(__name__)

PREFIX = "ohmycoins-"
MANIFEST_SUFFIX = ".manifest.json"


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a backup holds, written beside it and checked by a restore."""

    file: str
    backend: str
    revision: str | None
    created_ts: int
    tables: dict[str, int]
    bytes: int
    sha256: str

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + MANIFEST_SUFFIX)


def backup(db: Database, directory: Path, at_ms: int) -> tuple[Path, Manifest]:
    """Back the database up into `directory` (made if needed), named by `at_ms`; the
    manifest is written last, so a backup without one is an unfinished backup."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create backup directory {directory}: {exc}") from None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(at_ms / 1000))
    path = directory / f"{PREFIX}{stamp}{db.backend.backup_suffix}"
    if path.exists():
        raise StorageError(f"backup {path} exists already")
    revision = db.current_revision()
    try:
        tables = db.backend.backup(db.engine, path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    digest, size = _digest(path)
    manifest = Manifest(path.name, db.backend.name, revision, at_ms, tables, size, digest)
    manifest_path(path).write_text(json.dumps(asdict(manifest), indent=2) + "\n")
    log.info("backup of %s: %s, %d rows, %d bytes", db, path, manifest.rows, size)
    return path, manifest


def restore(db: Database, path: Path) -> Manifest:
    """Restore the backup at `path` into the database, which must hold no table, then
    check every table's rows against the backup's manifest."""
    manifest = _read_manifest(path)
    if manifest.backend != db.backend.name:
        raise StorageError(
            f"{path.name} is a {manifest.backend} backup; {shown_url(db.url)} is {db.backend.name}"
        )
    digest, _size = _digest(path)
    if digest != manifest.sha256:
        raise StorageError(f"{path} does not match its manifest (sha256 differs): damaged?")
    with db.engine.connect() as conn:
        present = inspect(conn).get_table_names()
    if present:
        raise StorageError(
            f"refusing to restore into {shown_url(db.url)}: it is not empty "
            f"({len(present)} tables, e.g. {sorted(present)[0]}); restore into a new database"
        )
    db.backend.restore(db.engine, path)
    db.dispose()  # pooled connections opened before the restore see the old schema
    with db.engine.connect() as conn:
        found = count_rows(conn)
    differ = sorted(
        f"{name}: {manifest.tables.get(name)} in the backup, {found.get(name)} restored"
        for name in set(manifest.tables) | set(found)
        if manifest.tables.get(name) != found.get(name)
    )
    if differ:
        raise StorageError(
            f"restore of {path.name} does not match its manifest: {'; '.join(differ)}"
        )
    return manifest


def backups_in(directory: Path) -> list[Path]:
    """The finished backups in `directory` (those with a manifest), oldest first."""
    if not directory.is_dir():
        return []
    return sorted(
        path
        for path in directory.glob(f"{PREFIX}*")
        if not path.name.endswith(MANIFEST_SUFFIX) and manifest_path(path).exists()
    )


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups (with their manifests); returns those
    deleted."""
    old = backups_in(directory)[:-keep] if keep > 0 else backups_in(directory)
    for path in old:
        path.unlink(missing_ok=True)
        manifest_path(path).unlink(missing_ok=True)
    return old


def _read_manifest(path: Path) -> Manifest:
    if not path.is_file():
        raise StorageError(f"no backup at {path}")
    written = manifest_path(path)
    try:
        data = json.loads(written.read_text())
        return Manifest(**data)
    except FileNotFoundError:
        raise StorageError(
            f"{path} has no manifest {written.name}: not a finished backup"
        ) from None
    except (OSError, ValueError, TypeError) as exc:
        raise StorageError(f"cannot read manifest {written}: {exc}") from None


def _digest(path: Path) -> tuple[str, int]:
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size
