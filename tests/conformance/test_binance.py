"""Binance spot REST on real recorded answers.

The recordings (nautilus_trader's and cryptofeed's test data, and one
data.binance.vision kline file; see shared/fixtures/PROVENANCE.md) are read from
shared/fixtures at test time, never copied into the repository. The replay server
serves their exact bytes at the paths ccxt calls, and the real path runs unchanged:
`ExchangeClient("binance", SourceSettings(url=...))` over ccxt's async binance class,
`load_markets`, a `fetch_*`, the `parse_*` of `ohmycoins.sources.exchange`, `check`,
`store` (SQLite and PostgreSQL) and `read_records`. Every value asserted is read off a
recording (or computed by hand from one, where a test says so).
"""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ohmycoins.collectors.ingest import store
from ohmycoins.errors import PayloadError
from ohmycoins.quality.gaps import missing_ranges
from ohmycoins.quality.rules import check
from ohmycoins.records import Candle, OrderBook, Ticker, Trade
from ohmycoins.settings import SourceSettings
from ohmycoins.sources import ccxt_classes
from ohmycoins.sources.exchange import (
    ExchangeClient,
    parse_ohlcv,
    parse_order_book,
    parse_tickers,
    parse_trades,
)
from ohmycoins.sources.ratelimit import Limit
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import read_records
from ohmycoins.storage.tables import RECORD_TABLES
from tests.support.replay import ReplayUrl, Reply, replay_server

Recorded = Callable[..., Reply]

NOW = 1_638_000_000_000
"""2021-11-27 08:00 UTC: after every recording here, so no time counts as future."""

MINUTE = 60_000


def recording(recordings: Path, name: str) -> Any:
    """A recording decoded as the exchange sent it (strings stay strings)."""
    return json.loads((recordings / "binance" / name).read_text())


@asynccontextmanager
async def binance(
    routes: Mapping[str, Any], recorded: Recorded, info: str = "exchangeInfo_trimmed.json"
) -> AsyncIterator[tuple[ReplayUrl, ExchangeClient]]:
    """A replay server answering `routes` plus `/api/v3/exchangeInfo` (the recorded
    one), and an ExchangeClient pointed at it with its markets loaded."""
    answers = {"/api/v3/exchangeInfo": recorded(f"binance/{info}"), **routes}
    async with replay_server(answers) as url:
        client = ExchangeClient("binance", SourceSettings(url=url))
        try:
            await client.load_markets()
            yield url, client
        finally:
            await client.close()


# -- markets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("info", "symbols", "active"),
    [
        ("exchangeInfo_nautilus.json", 2, 2),
        ("exchangeInfo_trimmed.json", 17, 14),
    ],
)
async def test_load_markets_asks_only_the_spot_exchange_info(
    recorded: Recorded, info: str, symbols: int, active: int
) -> None:
    async with binance({}, recorded, info) as (url, client):
        markets = client.api.markets
    assert [(seen.method, seen.path) for seen in url.requests] == [("GET", "/api/v3/exchangeInfo")]
    assert len(markets) == symbols
    assert sum(1 for market in markets.values() if market["active"]) == active
    assert markets["BTC/USDT"]["id"] == "BTCUSDT"


@pytest.mark.parametrize("info", ["exchangeInfo_nautilus.json", "exchangeInfo_trimmed.json"])
async def test_the_published_rate_limits_replace_the_assumed_budget(
    recorded: Recorded, monkeypatch: pytest.MonkeyPatch, info: str
) -> None:
    """Both recordings publish 1,200 weight a minute and 6,100 requests per 5 minutes
    (and order limits, which are not ours): those are the limits kept to, not 6,000."""
    monkeypatch.setattr(ccxt_classes, "_WINDOWS", {})
    async with binance({}, recorded, info) as (_, client):
        assert client.window is not None
        assert client.window.limits == (Limit(1200, 60), Limit(6100, 300, per_request=True))


async def test_symbols_in_break_are_inactive_markets(recorded: Recorded) -> None:
    async with binance({}, recorded) as (_, client):
        markets = client.api.markets
    assert sorted(s for s, m in markets.items() if not m["active"]) == [
        "BCC/BTC",
        "HSR/BTC",
        "OAX/ETH",
    ]


# -- klines ----------------------------------------------------------------------------

KLINES_FIRST, KLINES_LAST = 1_634_943_780_000, 1_634_944_320_000


async def fetch_klines(recorded: Recorded) -> tuple[ReplayUrl, list[list[Any]]]:
    routes = {"/api/v3/klines": recorded("binance/klines_BTCUSDT_1m.json")}
    async with binance(routes, recorded) as (url, client):
        rows = await client.fetch_ohlcv("BTC/USDT", "1m", KLINES_FIRST, KLINES_LAST, limit=10)
    return url, rows


async def test_klines_request_names_the_window(recorded: Recorded) -> None:
    url, _ = await fetch_klines(recorded)
    assert url.requests[-1].path == "/api/v3/klines"
    assert url.requests[-1].query == {
        "symbol": "BTCUSDT",
        "interval": "1m",
        "startTime": str(KLINES_FIRST),
        "endTime": str(KLINES_LAST),
        "limit": "10",
    }


async def test_klines_stored_with_the_exact_strings_of_the_file(
    recorded: Recorded, recordings: Path, db: Database
) -> None:
    _, rows = await fetch_klines(recorded)
    parsed = parse_ohlcv("binance", "BTC/USDT", "1m", rows)
    assert parsed.violations == []
    assert [check(candle, NOW) for candle in parsed.records] == [[]] * 10
    assert store(db, parsed.records, source="binance", at_ms=NOW).written == 10

    stored = read_records(db, Candle, exchange="binance", symbol="BTC/USDT", timeframe="1m")
    file_rows = recording(recordings, "klines_BTCUSDT_1m.json")
    assert [
        [c.ts, str(c.open), str(c.high), str(c.low), str(c.close), str(c.volume)] for c in stored
    ] == [row[:6] for row in file_rows]
    assert str(stored[0].open) == "60685.22000000"


async def test_klines_are_ten_consecutive_minutes_without_a_gap(recorded: Recorded) -> None:
    _, rows = await fetch_klines(recorded)
    times = [candle.ts for candle in parse_ohlcv("binance", "BTC/USDT", "1m", rows).records]
    assert (times[0], times[-1], len(times)) == (KLINES_FIRST, KLINES_LAST, 10)
    assert all(ts % MINUTE == 0 for ts in times)
    assert missing_ranges(times, KLINES_FIRST, KLINES_LAST + MINUTE, MINUTE) == []


async def test_last_kline_is_a_seven_trade_flat_minute(
    recorded: Recorded, recordings: Path
) -> None:
    _, rows = await fetch_klines(recorded)
    last = parse_ohlcv("binance", "BTC/USDT", "1m", rows).records[-1]
    assert recording(recordings, "klines_BTCUSDT_1m.json")[-1][8] == 7  # number of trades
    assert last.open == last.high == last.low == last.close == D("60739.85")
    assert str(last.volume) == "0.04734000"
    assert check(last, NOW) == []


# -- data.binance.vision kline CSV -----------------------------------------------------


def vision_rows(recordings: Path) -> list[list[Any]]:
    """The CSV's 12 columns cut to ccxt's row shape: integer open time, then the five
    number columns as the exact text in the file."""
    path = recordings / "binance" / "data_vision_ADABTC-1m-2021-11-27.csv"
    with path.open(newline="") as handle:
        table = list(csv.reader(handle))
    assert {len(row) for row in table} == {12}  # no header, twelve columns
    return [[int(row[0]), *row[1:6]] for row in table]


def test_vision_csv_stored_exactly(recordings: Path, db: Database) -> None:
    rows = vision_rows(recordings)
    parsed = parse_ohlcv("binance", "ADA/BTC", "1m", rows)
    assert parsed.violations == []
    assert all(check(candle, NOW) == [] for candle in parsed.records)
    assert store(db, parsed.records, source="binance", at_ms=NOW).written == 10

    stored = read_records(db, Candle, exchange="binance", symbol="ADA/BTC")
    assert stored == parsed.records
    assert stored[0].ts == 1_637_971_200_000  # 2021-11-27 00:00 UTC
    assert (str(stored[0].open), str(stored[0].volume)) == ("0.00002853", "36304.20000000")


def test_vision_csv_first_ten_minutes_have_no_gap(recordings: Path) -> None:
    times = [row[0] for row in vision_rows(recordings)]
    start = 1_637_971_200_000
    assert missing_ranges(times, start, start + 10 * MINUTE, MINUTE) == []


# -- order books -----------------------------------------------------------------------

DEPTH_ROUTES = {
    "/api/v3/depth?symbol=BTCUSDT": "binance/depth_BTCUSDT_limit10.json",
    "/api/v3/depth?symbol=NKNUSDT": "binance/depth_NKNUSDT_limit1000.json",
}


async def fetch_book(recorded: Recorded, symbol: str, depth: int) -> tuple[ReplayUrl, Any]:
    routes = {path: recorded(name) for path, name in DEPTH_ROUTES.items()}
    async with binance(routes, recorded) as (url, client):
        book = await client.fetch_order_book(symbol, depth)
    return url, book


async def test_depth_asked_for_1000_holds_609_bids(recorded: Recorded) -> None:
    url, book = await fetch_book(recorded, "NKN/USDT", 1000)
    assert url.requests[-1].query == {"symbol": "NKNUSDT", "limit": "1000"}
    assert (len(book["bids"]), len(book["asks"])) == (609, 1000)
    assert book["nonce"] == 499_869_752  # lastUpdateId
    assert book["timestamp"] is None  # Binance's depth answer carries no time


def stored_measures(db: Database, symbol: str) -> tuple[D, D]:
    """The derived mid and spread columns as stored beside the levels."""
    table = RECORD_TABLES[OrderBook]
    query = select(table.c.mid, table.c.spread).where(table.c.symbol == symbol)
    with db.engine.connect() as conn:
        mid, spread = conn.execute(query).one()
    return mid, spread


@pytest.mark.parametrize(
    ("symbol", "depth", "name", "bids", "asks", "mid", "spread"),
    [
        # best bid 60650.00000000, best ask 60650.01000000
        ("BTC/USDT", 10, "depth_BTCUSDT_limit10.json", 10, 10, "60650.005", "0.01"),
        # best bid 0.35210000, best ask 0.35250000
        ("NKN/USDT", 1000, "depth_NKNUSDT_limit1000.json", 609, 1000, "0.3523", "0.0004"),
    ],
)
async def test_book_stored_exactly_with_mid_and_spread_from_best_levels(
    recorded: Recorded,
    recordings: Path,
    db: Database,
    symbol: str,
    depth: int,
    name: str,
    bids: int,
    asks: int,
    mid: str,
    spread: str,
) -> None:
    _, raw = await fetch_book(recorded, symbol, depth)
    parsed = parse_order_book("binance", symbol, raw, NOW)
    assert parsed.violations == []
    assert check(parsed.records[0], NOW) == []
    assert store(db, parsed.records, source="binance", at_ms=NOW).written == 1

    (book,) = read_records(db, OrderBook, exchange="binance", symbol=symbol)
    file_book = recording(recordings, name)
    assert (len(book.bids), len(book.asks)) == (bids, asks)
    assert [[str(p), str(a)] for p, a in book.bids] == file_book["bids"]
    assert [[str(p), str(a)] for p, a in book.asks] == file_book["asks"]
    assert (book.mid, book.spread) == (D(mid), D(spread))
    assert stored_measures(db, symbol) == (D(mid), D(spread))
    assert book.ts == NOW  # no time in the answer: stamped when taken


# -- trades ----------------------------------------------------------------------------


async def test_trades_come_from_agg_trades_paged_by_id(recorded: Recorded) -> None:
    routes = {"/api/v3/aggTrades": recorded("binance/aggTrades_BTCUSDT.json")}
    async with binance(routes, recorded) as (url, client):
        await client.fetch_trades_from_id("BTC/USDT", 966492862, limit=10)
    assert url.requests[-1].path == "/api/v3/aggTrades"
    assert url.requests[-1].query == {"symbol": "BTCUSDT", "fromId": "966492862", "limit": "10"}


async def test_agg_trades_stored_with_ids_sides_and_exact_prices(
    recorded: Recorded, recordings: Path, db: Database
) -> None:
    routes = {"/api/v3/aggTrades": recorded("binance/aggTrades_BTCUSDT.json")}
    async with binance(routes, recorded) as (_, client):
        raw = await client.fetch_trades("BTC/USDT", limit=10)
    parsed = parse_trades("binance", "BTC/USDT", raw)
    assert parsed.violations == []
    assert store(db, parsed.records, source="binance", at_ms=NOW).written == 10

    stored = read_records(db, Trade, exchange="binance", symbol="BTC/USDT")
    file_trades = recording(recordings, "aggTrades_BTCUSDT.json")
    # the aggregate id `a` (not the first/last trade ids f/l), the trade time `T`, and
    # the taker side: a buyer who is the maker (m) means the taker sold
    assert [(t.trade_id, t.ts, str(t.price), str(t.amount), t.side) for t in stored] == [
        (str(f["a"]), f["T"], f["p"], f["q"], "sell" if f["m"] else "buy") for f in file_trades
    ]
    assert [t.side for t in stored].count("sell") == 3


async def test_recent_trades_recording_reads_the_same_way(
    recorded: Recorded, recordings: Path, db: Database
) -> None:
    """ccxt's spot fetch_trades only ever calls aggTrades, so the /api/v3/trades
    recording goes through the loaded client's own ccxt `parse_trades` instead of HTTP;
    `isBuyerMaker` gives the taker side."""
    file_trades = recording(recordings, "trades_BTCUSDT.json")
    async with binance({}, recorded) as (_, client):
        raw = client.api.parse_trades(file_trades, client.api.market("BTC/USDT"))
    parsed = parse_trades("binance", "BTC/USDT", raw)
    assert parsed.violations == []
    store(db, parsed.records, source="binance", at_ms=NOW)

    stored = read_records(db, Trade, exchange="binance", symbol="BTC/USDT")
    assert [(t.trade_id, t.ts, str(t.price), str(t.amount), t.side) for t in stored] == [
        (str(f["id"]), f["time"], f["price"], f["qty"], "sell" if f["isBuyerMaker"] else "buy")
        for f in file_trades
    ]
    # three trades share one millisecond: ids, not times, tell them apart
    assert [t.ts for t in stored].count(1_634_942_949_950) == 3


# -- tickers ---------------------------------------------------------------------------


def ticker_list(recordings: Path) -> Reply:
    """The recorded single-symbol 24hr object inside the JSON list Binance answers to
    `symbols=[...]`, which is what ccxt asks (its bytes unchanged between brackets)."""
    body = (recordings / "binance" / "ticker_24hr_BTCUSDT.json").read_bytes()
    return Reply(b"[" + body + b"]")


async def test_ticker_stored_with_close_time_and_exact_numbers(
    recorded: Recorded, recordings: Path, db: Database
) -> None:
    routes = {"/api/v3/ticker/24hr": ticker_list(recordings)}
    async with binance(routes, recorded) as (url, client):
        raw = await client.fetch_tickers(["BTC/USDT"])
    assert url.requests[-1].query == {"symbols": '["BTCUSDT"]'}
    parsed = parse_tickers("binance", raw, NOW)
    assert parsed.violations == []
    assert check(parsed.records[0], NOW) == []
    store(db, parsed.records, source="binance", at_ms=NOW)

    (ticker,) = read_records(db, Ticker, exchange="binance", symbol="BTC/USDT")
    assert ticker.ts == 1_634_944_401_452  # closeTime, epoch ms
    assert str(ticker.last) == "60755.18000000"
    assert (str(ticker.bid), str(ticker.ask)) == ("60755.18000000", "60755.19000000")
    assert (str(ticker.high_24h), str(ticker.low_24h)) == ("63732.39000000", "60000.00000000")
    assert str(ticker.open_24h) == "62636.13000000"
    assert str(ticker.quote_volume_24h) == "3289695271.67717710"
    assert ticker.change_pct_24h == D("-3.003")


async def test_single_symbol_ticker_object_for_a_list_request_is_a_payload_error(
    recorded: Recorded,
) -> None:
    """The bare object (Binance's answer to `symbol=`) where `symbols=` expects a list."""
    routes = {"/api/v3/ticker/24hr": recorded("binance/ticker_24hr_BTCUSDT.json")}
    async with binance(routes, recorded) as (_, client):
        with pytest.raises(PayloadError):
            await client.fetch_tickers(["BTC/USDT"])
