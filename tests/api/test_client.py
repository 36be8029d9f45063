"""The pandas client against the real app served by uvicorn, over a database filled by
the real collectors from the exchange simulator, on both backends."""

from __future__ import annotations

import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pandas as pd
import pytest

from ohmycoins.api import create_app
from ohmycoins.client import ApiError, Client
from ohmycoins.collectors.candles import CandleSync
from ohmycoins.collectors.market import collect_tickers, sync_trades
from ohmycoins.errors import OhMyCoinsError
from ohmycoins.publish import MemoryBroker
from ohmycoins.settings import Settings, SourceSettings
from ohmycoins.sim import SimulatorHandle, running_simulator
from ohmycoins.sources.exchange import ExchangeClient
from ohmycoins.storage.database import Database
from ohmycoins.storage.upsert import upsert
from tests import factories as f
from tests.collectors.conftest import MINUTE, NOW_MS, SINCE_MS, SYMBOLS, now, sim_config, truth
from tests.support.serving import serving

UNTIL = NOW_MS - NOW_MS % MINUTE
TRADES = 1000


@dataclass
class Served:
    url: str
    sim: SimulatorHandle
    db: Database

    def client(self, **options: Any) -> Client:
        return Client(self.url, **options)


@pytest.fixture
async def served(db: Database) -> AsyncIterator[Served]:
    """BTC/USDT 1m candles, the latest trades and every ticker, collected from the
    simulator; the app serving them."""
    async with running_simulator(sim_config()) as sim:
        exchange = ExchangeClient("binance", SourceSettings(url=sim.base_url))
        try:
            await _collect(exchange, db)
        finally:
            await exchange.close()
        app = create_app(Settings(database_url=db.url), db=db, broker=MemoryBroker())
        with serving(app) as url:
            yield Served(url, sim, db)


async def _collect(exchange: ExchangeClient, db: Database) -> None:
    await exchange.load_markets()
    report = await CandleSync(exchange, db, clock=now).sync("BTC/USDT", "1m", SINCE_MS, UNTIL)
    assert report.complete and report.stored > 3 * 1440
    assert await sync_trades(exchange, db, None, "BTC/USDT", page_size=TRADES) == TRADES
    assert (await collect_tickers(exchange, db, None, list(SYMBOLS))).written == 3


def test_candles_equal_ground_truth(served: Served) -> None:
    expected = truth(served.sim, "BTC/USDT", "1m", SINCE_MS, UNTIL)
    with served.client(page_size=1000) as api:  # five pages: follows the cursors
        frame = api.candles("binance", "BTC/USDT", "1m")
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert str(frame.index.tz) == "UTC" and frame.index.name == "ts"
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert len(frame) == len(expected)
    assert [int(ts.timestamp() * 1000) for ts in frame.index] == [c.ts for c in expected]
    rows = list(frame.itertuples(index=False, name=None))
    assert rows == [(c.open, c.high, c.low, c.close, c.volume) for c in expected]
    assert all(type(value) is Decimal for value in frame["close"])


def test_candles_range_is_inclusive_and_accepts_datetimes(served: Served) -> None:
    expected = truth(served.sim, "BTC/USDT", "1m", SINCE_MS, SINCE_MS + 10 * MINUTE + 1)
    start = pd.Timestamp(SINCE_MS, unit="ms", tz="UTC").to_pydatetime()
    with served.client() as api:
        frame = api.candles("binance", "BTC/USDT", "1m", start, SINCE_MS + 10 * MINUTE)
        iso = api.candles("binance", "BTC/USDT", "1m", start.isoformat(), start.isoformat())
        nothing = api.candles("binance", "ETH/USDT", "1m")
    assert list(frame["close"]) == [c.close for c in expected] and len(frame) == 11
    assert len(iso) == 1 and iso.index[0] == pd.Timestamp(SINCE_MS, unit="ms", tz="UTC")
    assert nothing.empty and list(nothing.columns) == list(frame.columns)
    assert isinstance(nothing.index, pd.DatetimeIndex)


def test_float_conversion_is_an_option(served: Served) -> None:
    with served.client(exact=False) as api:
        frame = api.candles("binance", "BTC/USDT", "1m", SINCE_MS, SINCE_MS + 59 * MINUTE)
    expected = truth(served.sim, "BTC/USDT", "1m", SINCE_MS, SINCE_MS + 60 * MINUTE)
    assert all(dtype == "float64" for dtype in frame.dtypes)
    assert list(frame["close"]) == [float(c.close) for c in expected]


def test_trades_equal_ground_truth(served: Served) -> None:
    raw = served.sim.model.agg_trades("BTCUSDT", limit=TRADES)
    with served.client(page_size=300) as api:
        frame = api.trades("binance", "BTC/USDT")
    assert list(frame.columns) == ["trade_id", "price", "amount", "side"]
    assert str(frame.index.tz) == "UTC" and frame.index.is_monotonic_increasing
    expected = {
        str(row["a"]): (
            pd.Timestamp(row["T"], unit="ms", tz="UTC"),
            Decimal(row["p"]),
            Decimal(row["q"]),
            "sell" if row["m"] else "buy",
        )
        for row in raw
    }
    got = {
        trade_id: (ts, price, amount, side)
        for ts, (trade_id, price, amount, side) in zip(
            frame.index, frame.itertuples(index=False, name=None), strict=True
        )
    }
    assert got == expected


def test_tickers_equal_the_simulator(served: Served) -> None:
    with served.client() as api:
        frame = api.tickers(exchange="binance")
        one = api.tickers(symbol="ETH/USDT")
    assert sorted(frame["symbol"]) == sorted(SYMBOLS)
    assert list(one["symbol"]) == ["ETH/USDT"]
    btc = frame.set_index("symbol").loc["BTC/USDT"]
    raw = served.sim.model.ticker_24hr("BTCUSDT")
    assert btc["last"] == Decimal(raw["lastPrice"])
    assert (btc["bid"], btc["ask"]) == (Decimal(raw["bidPrice"]), Decimal(raw["askPrice"]))
    assert btc["base_volume_24h"] == Decimal(raw["volume"])
    assert frame["ts"].dt.tz is not None


def test_markets_assets_and_collectors_health(served: Served) -> None:
    upsert(
        served.db,
        [
            f.market_snapshot(),
            f.market_snapshot(asset_id="newcoin", symbol="NEW", rank=None, price=Decimal("0.1")),
            f.asset(),
            f.asset(asset_id="newcoin", symbol="NEW", name="New", rank=None, active=False),
            f.collector_run(),
        ],
    )
    with served.client() as api:
        markets = api.markets()
        assets = api.assets()
        active = api.assets(active=True)
        health = api.collectors_health()
    assert list(markets["asset_id"]) == ["bitcoin", "newcoin"]
    assert markets["price"].iloc[1] == Decimal("0.1") and pd.isna(markets["rank"].iloc[1])
    assert str(markets["ts"].dt.tz) == "UTC"
    assert list(assets["asset_id"]) == ["bitcoin", "newcoin"] and list(assets["active"]) == [
        True,
        False,
    ]
    assert list(active["asset_id"]) == ["bitcoin"]
    assert health.index.name == "name" and isinstance(health.attrs["quota_used"], dict)


def test_api_errors_raise_with_status_and_message(served: Served) -> None:
    with served.client() as api, pytest.raises(ApiError) as caught:
        api.candles("binance", "btcusdt", "1m")
    assert isinstance(caught.value, OhMyCoinsError)
    assert caught.value.status == 422 and "'symbol'" in caught.value.message
    with Client(served.url, api_key="omc_nope", timeout=5) as api, pytest.raises(ApiError) as bad:
        api.tickers()
    assert bad.value.status == 401 and "invalid" in bad.value.message


def test_unreachable_server_raises_without_status() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Client(f"http://127.0.0.1:{port}", timeout=2) as api, pytest.raises(ApiError) as caught:
        api.tickers()
    assert caught.value.status is None


def test_missing_pandas_names_the_extra(monkeypatch: pytest.MonkeyPatch, served: Served) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with served.client() as api, pytest.raises(ImportError, match=r"ohmycoins\[client\]"):
        api.tickers()


def test_parquet_wire_gives_the_same_frames(served: Served) -> None:
    with served.client(page_size=1000) as api, served.client(page_size=1000, wire="parquet") as pq:
        assert pq.candles("binance", "BTC/USDT", "1m").equals(
            api.candles("binance", "BTC/USDT", "1m")
        )
        assert pq.trades("binance", "BTC/USDT").equals(api.trades("binance", "BTC/USDT"))
        window = (SINCE_MS, SINCE_MS + 9 * MINUTE)
        assert pq.candles("binance", "BTC/USDT", "1m", *window).equals(
            api.candles("binance", "BTC/USDT", "1m", *window)
        )
        empty = pq.candles("binance", "ETH/USDT", "1m")
    expected = truth(served.sim, "BTC/USDT", "1m", SINCE_MS, UNTIL)
    with served.client(page_size=2000, wire="parquet") as pq:
        frame = pq.candles("binance", "BTC/USDT", "1m")
    assert list(frame["close"]) == [c.close for c in expected]
    assert all(type(value) is Decimal for value in frame["volume"])
    assert empty.empty and list(empty.columns) == list(frame.columns)


def test_parquet_wire_converts_to_float_on_request(served: Served) -> None:
    with served.client(exact=False, wire="parquet") as api:
        frame = api.trades("binance", "BTC/USDT")
    raw = served.sim.model.agg_trades("BTCUSDT", limit=TRADES)
    assert all(dtype == "float64" for dtype in frame[["price", "amount"]].dtypes)
    assert sorted(frame["price"]) == sorted(float(row["p"]) for row in raw)


def test_a_page_that_is_not_parquet_raises() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=b"<html>"))
    api = Client("http://omc.test", transport=transport, wire="parquet")
    with api, pytest.raises(ApiError, match="not Parquet") as caught:
        api.candles("binance", "BTC/USDT", "1m")
    assert caught.value.status == 200
