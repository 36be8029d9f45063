"""API keys: create, verify, list, revoke. Only a hash of a key is ever stored.

A key reads `omc_<key_id>_<secret>`: `key_id` is 12 hex characters, stored in clear as
the lookup key (it is shown by `list_keys` and names the key in logs); `secret` is 32
random bytes (url-safe base64). The table keeps `sha256:<hex digest of the whole key>`;
a fast hash is enough because the secret has 256 bits of entropy (nothing to brute
force, unlike a password). The key itself is shown once, by `create_key`, and never
logged or stored.

Scopes: `read` opens the data endpoints, `admin` also the write endpoints (trigger,
pause, resume). The CLI's `omc apikey create --scope` calls `create_key`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Row, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from ohmycoins.errors import ConfigError, OhMyCoinsError, StorageError
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import api_keys
from ohmycoins.timeframes import now_ms as clock_ms

__all__ = [
    "KEY_PREFIX",
    "SCOPES",
    "ApiKey",
    "NewKey",
    "Scope",
    "UnknownKeyError",
    "create_key",
    "hash_key",
    "list_keys",
    "revoke_key",
    "verify_key",
]

KEY_PREFIX = "omc_"
Scope = Literal["read", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "admin")
LAST_USED_RESOLUTION_MS = 60_000
"""`last_used_ts` is written at most once a minute per key, not on every request."""

_KEY = re.compile(r"^omc_(?P<key_id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{20,})$")


class UnknownKeyError(OhMyCoinsError):
    """No stored API key has this id."""

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        super().__init__(f"no API key {key_id!r}")


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key's facts (never the key itself)."""

    key_id: str
    scope: Scope
    name: str | None
    created_ts: int
    last_used_ts: int | None
    revoked: bool

    def allows(self, scope: Scope) -> bool:
        """True when this key may use endpoints that need `scope`."""
        return not self.revoked and (self.scope == "admin" or scope == "read")


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just created: `key` is shown to its owner once and stored only as a hash."""

    key_id: str
    key: str
    scope: Scope
    name: str | None

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        return f"NewKey(key_id={self.key_id!r}, scope={self.scope!r}, name={self.name!r})"


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def create_key(
    db: Database, scope: str, *, name: str | None = None, now_ms: int | None = None
) -> NewKey:
    """Create and store a key of `scope` (`read` or `admin`); returns it with its secret."""
    if scope not in SCOPES:
        raise ConfigError("scope", scope, f"must be one of {list(SCOPES)}")
    key_id = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    row = {
        "key_id": key_id,
        "key_hash": hash_key(key),
        "scope": scope,
        "name": name,
        "created_ts": clock_ms() if now_ms is None else now_ms,
        "last_used_ts": None,
        "revoked": False,
    }
    try:
        with db.engine.begin() as conn:
            conn.execute(insert(api_keys).values(**row))
    except SQLAlchemyError as exc:
        raise StorageError(f"storing API key {key_id} in {db!r} failed: {exc}") from exc
    return NewKey(key_id, key, scope, name)


def key_id_of(key: str) -> str | None:
    """The id part of a well-formed key, None for anything else."""
    match = _KEY.match(key)
    return match["key_id"] if match else None


def verify_key(db: Database, key: str, *, now_ms: int | None = None) -> ApiKey | None:
    """The stored facts of `key` when it is a valid, unrevoked key; None otherwise."""
    key_id = key_id_of(key)
    if key_id is None:
        return None
    with db.engine.connect() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
    if row is None or row.revoked or not hmac.compare_digest(row.key_hash, hash_key(key)):
        return None
    now_ms = clock_ms() if now_ms is None else now_ms
    if row.last_used_ts is None or now_ms - row.last_used_ts >= LAST_USED_RESOLUTION_MS:
        with db.engine.begin() as conn:
            conn.execute(
                update(api_keys).where(api_keys.c.key_id == key_id).values(last_used_ts=now_ms)
            )
    return _api_key(row)


def list_keys(db: Database) -> list[ApiKey]:
    """Every stored key (revoked ones too), oldest first."""
    with db.engine.connect() as conn:
        rows = conn.execute(select(api_keys).order_by(api_keys.c.created_ts, api_keys.c.key_id))
        return [_api_key(row) for row in rows]


def revoke_key(db: Database, key_id: str) -> None:
    """Revoke a key at once; UnknownKeyError when there is no such key."""
    with db.engine.begin() as conn:
        result = conn.execute(
            update(api_keys).where(api_keys.c.key_id == key_id).values(revoked=True)
        )
    if result.rowcount != 1:
        raise UnknownKeyError(key_id)


def _api_key(row: Row[tuple[object, ...]]) -> ApiKey:
    return ApiKey(
        key_id=row.key_id,
        scope=row.scope,
        name=row.name,
        created_ts=row.created_ts,
        last_used_ts=row.last_used_ts,
        revoked=bool(row.revoked),
    )
