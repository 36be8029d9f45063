from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from ohmycoins.api.keys import (
    UnknownKeyError,
    create_key,
    hash_key,
    list_keys,
    revoke_key,
    verify_key,
)
from ohmycoins.api.ratelimit import RateLimiter
from ohmycoins.errors import ConfigError
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import api_keys
from tests.api.conftest import make_client

CANDLES = "/api/v1/candles?exchange=binance&symbol=BTC/USDT&timeframe=1m"


def test_only_a_hash_is_stored(db: Database) -> None:
    new = create_key(db, "read", name="notebook", now_ms=1000)
    assert new.key.startswith(f"omc_{new.key_id}_")
    assert len(new.key) > 40
    with db.engine.connect() as conn:
        (row,) = conn.execute(select(api_keys)).all()
    assert row.key_id == new.key_id
    assert row.key_hash != new.key
    assert new.key not in row.key_hash
    assert row.key_hash == hash_key(new.key)
    assert new.key not in repr(new)


def test_verify_and_revoke(db: Database) -> None:
    new = create_key(db, "admin")
    verified = verify_key(db, new.key, now_ms=5000)
    assert verified is not None
    assert verified.scope == "admin"
    assert verified.allows("read") and verified.allows("admin")
    assert [k.last_used_ts for k in list_keys(db)] == [5000]
    assert verify_key(db, new.key[:-1] + ("A" if new.key[-1] != "A" else "B")) is None
    assert verify_key(db, "omc_nothing") is None
    assert verify_key(db, "") is None
    revoke_key(db, new.key_id)
    assert verify_key(db, new.key) is None
    assert list_keys(db)[0].revoked
    with pytest.raises(UnknownKeyError):
        revoke_key(db, "000000000000")


def test_read_key_cannot_write(db: Database) -> None:
    reader = verify_key(db, create_key(db, "read").key)
    assert reader is not None
    assert reader.allows("read") and not reader.allows("admin")


def test_unknown_scope_refused(db: Database) -> None:
    with pytest.raises(ConfigError, match="scope"):
        create_key(db, "root")


def test_reads_need_a_key_when_required(filled_db: Database, read_key: str) -> None:
    with make_client(filled_db, api_require_key=True) as client:
        assert client.get(CANDLES).status_code == 401
        assert client.get(CANDLES, headers={"X-API-Key": read_key}).status_code == 200
        bearer = {"Authorization": f"Bearer {read_key}"}
        assert client.get(CANDLES, headers=bearer).status_code == 200
        assert client.get("/api/v1/health").status_code == 200  # probes stay open


def test_reads_open_by_default_but_bad_keys_refused(client: TestClient) -> None:
    assert client.get(CANDLES).status_code == 200
    assert client.get(CANDLES, headers={"X-API-Key": "omc_bogus"}).status_code == 401


def test_rate_limit_per_key(filled_db: Database, read_key: str, admin_key: str) -> None:
    with make_client(filled_db, api_rate_limit=3) as client:
        statuses = [
            client.get(CANDLES, headers={"X-API-Key": read_key}).status_code for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        limited = client.get(CANDLES, headers={"X-API-Key": read_key})
        assert int(limited.headers["Retry-After"]) >= 1
        assert client.get(CANDLES, headers={"X-API-Key": admin_key}).status_code == 200


def test_rate_limiter_refills() -> None:
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])
    assert all(limiter.acquire("k") == 0 for _ in range(60))
    assert limiter.acquire("k") == pytest.approx(1.0)
    now[0] += 1.0
    assert limiter.acquire("k") == 0


def test_keys_never_logged(
    filled_db: Database, read_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with make_client(filled_db, api_require_key=True) as client:
        client.get(CANDLES, headers={"X-API-Key": read_key})
        client.get(CANDLES, headers={"X-API-Key": read_key + "x"})
    assert read_key not in caplog.text
