from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text

from ohmycoins.api import create_app
from ohmycoins.publish import MemoryBroker
from ohmycoins.settings import Settings
from ohmycoins.storage.database import Database
from tests.api.conftest import make_client


def test_health_is_ok(client: TestClient) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "demo": False}


def test_health_says_when_the_process_runs_the_demo(sqlite_db: Database) -> None:
    settings = Settings(database_url=sqlite_db.url)
    app = create_app(settings, db=sqlite_db, broker=MemoryBroker(), demo=True)
    with TestClient(app) as client:
        assert client.get("/api/v1/health").json() == {"status": "ok", "demo": True}


def test_ready_when_database_current(client: TestClient) -> None:
    response = client.get("/api/v1/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


def test_not_ready_when_migrations_pending(db: Database) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    with make_client(db) as client:
        response = client.get("/api/v1/ready")
    assert response.status_code == 503
    assert response.json()["database"] == "migrations pending"


def test_not_ready_when_database_unreachable(tmp_path: object) -> None:
    db = Database("postgresql://nobody@127.0.0.1:1/none")
    with make_client(db) as client:
        response = client.get("/api/v1/ready")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_data_endpoints_answer_503_while_the_database_is_unreachable() -> None:
    """Both kinds of read (the raw range read and SQLAlchemy's) say what is wrong with a
    503 the client may retry, instead of a bare 500; the process keeps serving."""
    db = Database("postgresql://nobody@127.0.0.1:1/none")
    with make_client(db) as client:
        for path in (
            "/api/v1/candles?exchange=binance&symbol=BTC/USDT&timeframe=1m",
            "/api/v1/trades?exchange=binance&symbol=BTC/USDT&format=csv",
            "/api/v1/tickers/latest",
        ):
            response = client.get(path)
            assert response.status_code == 503, path
            assert response.headers["retry-after"] == "5"
            assert response.json()["detail"].startswith("the database is unavailable: ")
        assert client.get("/api/v1/health").status_code == 200


def test_openapi_describes_the_api(client: TestClient) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/api/v1/health",
        "/api/v1/ready",
        "/api/v1/candles",
        "/api/v1/trades",
        "/api/v1/tickers/latest",
        "/api/v1/orderbook/latest",
        "/api/v1/markets",
        "/api/v1/assets",
    ):
        assert path in paths, path
    candles = paths["/api/v1/candles"]["get"]
    assert candles["description"].startswith("OHLCV candles")
    params = {p["name"]: p for p in candles["parameters"]}
    assert params["limit"]["schema"]["maximum"] == 5000
    assert set(params["timeframe"]["schema"]["enum"]) >= {"1m", "1h", "1d"}
    assert "text/csv" in candles["responses"]["200"]["content"]
    assert "503" in candles["responses"]
    open_price = schema["components"]["schemas"]["CandleOut"]["properties"]["open"]
    assert open_price["type"] == "string"
    assert "exact decimal" in open_price["description"].lower()
