"""freqtrade's candle and trade files: real exchange history (Bittrex/Binance,
2017-2019; see shared/fixtures/PROVENANCE.md), read from shared/fixtures at test time,
never copied into the repository, and run through the path exchange data takes:
`parse_ohlcv` / `parse_trades`, `check`, `store` (SQLite and PostgreSQL),
`read_records`, and `missing_ranges` over the stored series.

freqtrade keeps every number as a JSON float. ccxt, configured as ExchangeClient
configures it (`number = str`), reads a number with `safe_number`, which is
`str(value)` of whatever the JSON decoder produced: the float `5.33e-05` reaches our
parser as the string ``"5.33e-05"``. So the rows are shaped by ccxt's own base
`parse_ohlcv` with `number = str`, and the parser sees exactly what it would see.
Python's float repr is the shortest text that reads back as the same float, so no
digit is invented and the order between prices is kept: the rules judge the candles
the exchange sent.
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from ccxt.base.exchange import Exchange

from ohmycoins.collectors.ingest import store
from ohmycoins.quality.gaps import missing_ranges
from ohmycoins.quality.rules import check
from ohmycoins.records import Candle, Trade
from ohmycoins.sources.exchange import parse_ohlcv, parse_trades
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import read_records
from ohmycoins.timeframes import timeframe_ms

NOW = 1_700_000_000_000
"""2023-11-14: after every file here."""

SERIES = {
    # file: (timeframe, candles, holes, missing candles)
    "UNITTEST_BTC-1m.json": ("1m", 13_681, 538, 717),
    "UNITTEST_BTC-30m.json": ("30m", 1_920, 0, 0),
    "ADA_BTC-5m.json": ("5m", 5_720, 5, 40),
    "ETH_BTC-5m.json": ("5m", 5_760, 0, 0),
    "XRP_ETH-1m.json": ("1m", 3_560, 0, 0),
    "XRP_ETH-5m.json": ("5m", 712, 0, 0),
}
"""The spot candle files. NOTES.md says `UNITTEST_BTC-1m` has "538 missing minutes"
and `ADA_BTC-5m` "5": those are the numbers of holes; the holes span 717 minutes and
40 five-minute candles."""


def ccxt_numbers() -> Any:
    """ccxt's base exchange reading numbers as ExchangeClient sets it up."""
    exchange = Exchange()
    exchange.number = str
    return exchange


@cache
def ccxt_rows(recordings: Path, name: str) -> list[list[Any]]:
    """A freqtrade candle file as ccxt (number = str) hands its rows to `parse_ohlcv`."""
    exchange = ccxt_numbers()
    rows = json.loads((recordings / "freqtrade" / name).read_text())
    return [exchange.parse_ohlcv(row) for row in rows]


def candles(recordings: Path, name: str) -> list[Candle]:
    timeframe = SERIES[name][0]
    symbol = name.split("-")[0].replace("_", "/")
    parsed = parse_ohlcv("binance", symbol, timeframe, ccxt_rows(recordings, name))
    assert parsed.violations == []
    return parsed.records


def test_float_numbers_reach_the_parser_as_their_repr(recordings: Path) -> None:
    row = ccxt_rows(recordings, "ADA_BTC-5m.json")[0]
    assert row == [
        1_515_560_100_000,
        "5.33e-05",
        "5.33e-05",
        "5.288e-05",
        "5.29e-05",
        "431401.97869504",
    ]
    first = candles(recordings, "ADA_BTC-5m.json")[0]
    assert (str(first.open), str(first.low)) == ("0.0000533", "0.00005288")  # not binary


@pytest.mark.parametrize("name", SERIES)
def test_every_candle_passes_the_rules(recordings: Path, name: str) -> None:
    series = candles(recordings, name)
    assert len(series) == SERIES[name][1]
    broken = [(candle.ts, check(candle, NOW)) for candle in series if check(candle, NOW)]
    assert broken == []


@pytest.mark.parametrize("name", ["UNITTEST_BTC-1m.json", "ADA_BTC-5m.json"])
def test_stored_series_keeps_the_exchange_holes(recordings: Path, db: Database, name: str) -> None:
    timeframe, count, holes, missing = SERIES[name]
    series = candles(recordings, name)
    assert len({candle.ts for candle in series}) == count  # no duplicate open times
    assert store(db, series, source="freqtrade", at_ms=NOW).written == count

    stored = read_records(db, Candle, exchange="binance", symbol=series[0].symbol)
    assert stored == series
    step = timeframe_ms(timeframe)
    times = [candle.ts for candle in stored]
    ranges = missing_ranges(times, times[0], times[-1] + step, step)
    assert len(ranges) == holes
    assert sum((last - first) // step + 1 for first, last in ranges) == missing
    assert count + missing == (times[-1] - times[0]) // step + 1


def test_ada_btc_longest_hole_is_33_candles(recordings: Path) -> None:
    times = [candle.ts for candle in candles(recordings, "ADA_BTC-5m.json")]
    step = 5 * 60_000
    ranges = missing_ranges(times, times[0], times[-1] + step, step)
    # 2018-01-15 12:00 to 14:40 UTC; the other four holes are 1, 1, 4 and 1 candles
    assert max(ranges, key=lambda r: r[1] - r[0]) == (1_516_017_600_000, 1_516_027_200_000)
    assert [(last - first) // step + 1 for first, last in ranges] == [1, 1, 4, 1, 33]


@pytest.mark.parametrize("name", [n for n, spec in SERIES.items() if not spec[2]])
def test_series_without_holes_leave_no_missing_range(recordings: Path, name: str) -> None:
    step = timeframe_ms(SERIES[name][0])
    times = [candle.ts for candle in candles(recordings, name)]
    assert missing_ranges(times, times[0], times[-1] + step, step) == []


def test_xrp_eth_trades_stored_with_contiguous_ids(recordings: Path, db: Database) -> None:
    """freqtrade's trade rows `[ts_ms, id, order, side, price, amount, cost]` shaped as
    the ccxt trades they were saved from (numbers as ccxt with number = str hands them)."""
    path = recordings / "freqtrade" / "XRP_ETH-trades.json.gz"
    rows = json.loads(gzip.decompress(path.read_bytes()))
    exchange = ccxt_numbers()
    raw = [
        {
            "timestamp": ts,
            "id": trade_id,
            "side": side,
            "price": exchange.parse_number(price),
            "amount": exchange.parse_number(amount),
        }
        for ts, trade_id, _order, side, price, amount, _cost in rows
    ]
    parsed = parse_trades("binance", "XRP/ETH", raw)
    assert parsed.violations == []
    assert all(check(trade, NOW) == [] for trade in parsed.records)
    assert store(db, parsed.records, source="freqtrade", at_ms=NOW).written == 12_477

    stored = read_records(db, Trade, exchange="binance", symbol="XRP/ETH")
    assert stored == parsed.records
    ids = [int(trade.trade_id) for trade in stored]
    assert ids == list(range(13_519_807, 13_532_284))  # no trade id missing
    assert [trade.side for trade in stored].count("buy") == 6_524
    assert [trade.side for trade in stored].count("sell") == 5_953
    first = stored[0]
    assert (first.ts, str(first.price), str(first.amount)) == (
        1_570_752_011_620,
        "0.00141342",
        "23.0",
    )
    times = [trade.ts for trade in stored]
    assert times == sorted(times)  # ids follow time
