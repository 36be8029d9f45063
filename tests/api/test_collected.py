"""Every data endpoint over a database filled by the real collectors, on both backends.

Binance candles, trades, tickers and order books come from the exchange simulator
through ccxt; CoinGecko markets and the asset universe from the recorded-shape
`/coins/markets` fixture served by the replay server. Answers are compared with what
the sources sent, digit for digit.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from ohmycoins.collectors import coingecko
from ohmycoins.collectors.candles import CandleSync
from ohmycoins.collectors.market import collect_order_book, collect_tickers, sync_trades
from ohmycoins.records import Candle
from ohmycoins.settings import SourceSettings
from ohmycoins.sim import SimulatorHandle, running_simulator
from ohmycoins.sources.coingecko import CoinGecko
from ohmycoins.sources.exchange import ExchangeClient
from ohmycoins.storage.database import Database
from tests.api.conftest import all_pages, make_client
from tests.collectors.conftest import MINUTE, SINCE_MS, SYMBOLS, now, sim_config, truth
from tests.support.replay import Reply, replay_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MARKETS = FIXTURES / "coingecko" / "markets_usd.json"
UNTIL = SINCE_MS + 300 * MINUTE
TRADES = 500
BOOKS = ("BTC/USDT", "ETH/USDT")
DECIMALS = ("open", "high", "low", "close", "volume")


@dataclass
class Collected:
    api: TestClient
    sim: SimulatorHandle


@pytest.fixture
async def collected(db: Database) -> AsyncIterator[Collected]:
    async with running_simulator(sim_config()) as sim:
        exchange = ExchangeClient("binance", SourceSettings(url=sim.base_url))
        try:
            await _collect_binance(exchange, db)
        finally:
            await exchange.close()
        async with (
            replay_server({"/coins/markets": Reply.file(MARKETS)}) as url,
            CoinGecko(SourceSettings(url=url, rate_limit=6000)) as gecko,
        ):
            result = await coingecko.collect_markets(gecko, db, None, "usd", 3)
            assert result.quarantined == 0 and result.written > 0
        with make_client(db) as api:
            yield Collected(api, sim)


async def _collect_binance(exchange: ExchangeClient, db: Database) -> None:
    await exchange.load_markets()
    report = await CandleSync(exchange, db, clock=now).sync("BTC/USDT", "1m", SINCE_MS, UNTIL)
    assert report.complete and report.stored == 300
    assert await sync_trades(exchange, db, None, "BTC/USDT", page_size=TRADES) == TRADES
    assert (await collect_tickers(exchange, db, None, list(SYMBOLS))).written == len(SYMBOLS)
    for symbol in BOOKS:
        assert (await collect_order_book(exchange, db, None, symbol, depth=20)).written == 1


def _candle_json(candle: Candle) -> dict[str, Any]:
    row: dict[str, Any] = {
        "exchange": candle.exchange,
        "symbol": candle.symbol,
        "timeframe": candle.timeframe,
        "ts": candle.ts,
    }
    decimals = {name: format(getattr(candle, name), "f") for name in DECIMALS}
    return row | decimals | {"derived_from": None, "minutes": None}  # served, not a rollup


def test_candles_in_every_format_equal_the_simulator(collected: Collected) -> None:
    expected = [_candle_json(c) for c in truth(collected.sim, "BTC/USDT", "1m", SINCE_MS, UNTIL)]
    series = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1m"}
    assert all_pages(collected.api, "/api/v1/candles", {**series, "limit": 70}) == expected
    as_csv = collected.api.get("/api/v1/candles", params={**series, "format": "csv"})
    assert list(csv.DictReader(io.StringIO(as_csv.text))) == [
        {key: "" if value is None else str(value) for key, value in row.items()} for row in expected
    ]
    as_parquet = collected.api.get("/api/v1/candles", params={**series, "format": "parquet"})
    assert pq.read_table(io.BytesIO(as_parquet.content)).to_pylist() == expected
    newest = collected.api.get("/api/v1/candles", params={**series, "order": "desc", "limit": 5})
    assert newest.json()["data"] == expected[::-1][:5]


def test_trades_equal_the_simulator(collected: Collected) -> None:
    raw = collected.sim.model.agg_trades("BTCUSDT", limit=TRADES)
    expected = sorted(
        (
            {
                "exchange": "binance",
                "symbol": "BTC/USDT",
                "trade_id": str(row["a"]),
                "ts": row["T"],
                "price": format(Decimal(row["p"]), "f"),
                "amount": format(Decimal(row["q"]), "f"),
                "side": "sell" if row["m"] else "buy",
            }
            for row in raw
        ),
        key=lambda trade: (trade["ts"], trade["trade_id"]),
    )
    market = {"exchange": "binance", "symbol": "BTC/USDT"}
    assert all_pages(collected.api, "/api/v1/trades", {**market, "limit": 120}) == expected
    as_parquet = collected.api.get("/api/v1/trades", params={**market, "format": "parquet"})
    assert pq.read_table(io.BytesIO(as_parquet.content)).to_pylist() == expected


def test_latest_tickers_equal_the_simulator(collected: Collected) -> None:
    body = collected.api.get("/api/v1/tickers/latest", params={"exchange": "binance"}).json()
    assert [ticker["symbol"] for ticker in body] == sorted(SYMBOLS)
    for ticker in body:
        raw = collected.sim.model.ticker_24hr(SYMBOLS[ticker["symbol"]])
        assert Decimal(ticker["last"]) == Decimal(raw["lastPrice"])
        assert Decimal(ticker["bid"]) == Decimal(raw["bidPrice"])
        assert Decimal(ticker["ask"]) == Decimal(raw["askPrice"])


def test_latest_order_books_equal_the_simulator_depth(collected: Collected) -> None:
    body = collected.api.get("/api/v1/orderbook/latest").json()
    assert [book["symbol"] for book in body] == list(BOOKS)
    for book in body:
        raw = collected.sim.model.depth(SYMBOLS[book["symbol"]], 20)
        for side in ("bids", "asks"):
            assert [[Decimal(p), Decimal(a)] for p, a in book[side]] == [
                [Decimal(p), Decimal(a)] for p, a in raw[side]
            ]
            assert all("E" not in value for level in book[side] for value in level)
        best_bid, best_ask = Decimal(raw["bids"][0][0]), Decimal(raw["asks"][0][0])
        assert Decimal(book["spread"]) == best_ask - best_bid
        assert Decimal(book["mid"]) == (best_ask + best_bid) / 2
        assert -1 <= Decimal(book["imbalance"]) <= 1
    one = collected.api.get("/api/v1/orderbook/latest", params={"symbol": "ETH/USDT"}).json()
    assert [book["symbol"] for book in one] == ["ETH/USDT"]


def test_markets_equal_the_coingecko_answer(collected: Collected) -> None:
    sent = {coin["id"]: coin for coin in json.loads(MARKETS.read_text())}
    body = collected.api.get("/api/v1/markets").json()
    ranked = sorted(sent.values(), key=lambda coin: coin["market_cap_rank"] or 10**9)
    assert [market["asset_id"] for market in body] == [coin["id"] for coin in ranked]
    for market in body:
        coin = sent[market["asset_id"]]
        assert Decimal(market["price"]) == Decimal(str(coin["current_price"]))
        assert market["rank"] == coin["market_cap_rank"]
        assert market["symbol"] == coin["symbol"].upper() and market["vs_currency"] == "usd"
    assert body[0]["price"] == "64250.12"  # exactly the digits CoinGecko sent
    assert [m["asset_id"] for m in collected.api.get("/api/v1/markets?limit=1").json()] == [
        ranked[0]["id"]
    ]
    assert collected.api.get("/api/v1/markets", params={"vs_currency": "eur"}).json() == []


def test_assets_are_the_coingecko_universe(collected: Collected) -> None:
    sent = json.loads(MARKETS.read_text())
    body = collected.api.get("/api/v1/assets").json()
    assert sorted(asset["asset_id"] for asset in body) == sorted(coin["id"] for coin in sent)
    names = {coin["id"]: coin["name"] for coin in sent}
    assert all(asset["name"] == names[asset["asset_id"]] for asset in body)
    assert body[0]["asset_id"] == "bitcoin" and body[0]["rank"] == 1
    active = collected.api.get("/api/v1/assets", params={"active": True}).json()
    assert [asset["asset_id"] for asset in active] == [asset["asset_id"] for asset in body]
