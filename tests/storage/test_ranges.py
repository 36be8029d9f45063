"""The range endpoints' reads: rows as the driver returns them, and JSON objects written
by the database.

Their decimal text must be exactly what the record path gives (`format(Decimal, "f")`),
on both backends: PostgreSQL's `NUMERIC::text`, and SQLite's stored text, which is
written in plain notation (never `1E-8`) so that both forms serve it as it is. The JSON
form must be the row form as objects, whatever a text column holds.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal as D
from typing import Any

import orjson
import pytest
from sqlalchemy import insert

from ohmycoins.records import Candle
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import read_records
from ohmycoins.storage.reads import market as market_reads
from ohmycoins.storage.reads import ranges
from ohmycoins.storage.tables import RECORD_TABLES
from ohmycoins.storage.upsert import upsert, upsert_records
from tests import factories as f
from tests.api.conftest import MINUTE
from tests.factories import T0

TRICKY = [
    D("37000.10"),  # trailing zero kept
    D("0.00000001"),  # str() writes 1E-8
    D("1E+3"),  # exponent above zero
    D("0E-8"),  # a zero with a scale
    D("-0.5"),
    D("123456789012345678901234567890.123456789012345678"),  # beyond float and int64
    D("0.000000000000000001"),
    D("42"),
]


@pytest.fixture
def tricky_db(db: Database) -> Database:
    candles = [
        f.candle(ts=T0 + i * MINUTE, open=value, close=-value, volume=value if i % 2 else None)
        for i, value in enumerate(TRICKY)
    ]
    trades = [
        f.trade(trade_id=str(i), ts=T0 + i, price=value, amount=abs(value))
        for i, value in enumerate(TRICKY)
    ]
    upsert(db, candles + trades)
    return db


def candle_rows(db: Database, *series: str, **bounds: Any) -> ranges.RowPage:
    return ranges.fetch_rows(db, ranges.candle_query(db, *series, **bounds))


def trade_rows(db: Database, *market: str, **bounds: Any) -> ranges.RowPage:
    return ranges.fetch_rows(db, ranges.trade_query(db, *market, **bounds))


def test_candle_rows_spell_decimals_as_the_stored_records(tricky_db: Database) -> None:
    args = {"start": None, "end": None, "limit": 100}
    rows = candle_rows(tricky_db, "binance", "BTC/USDT", "1m", **args)
    records = read_records(tricky_db, Candle, exchange="binance", symbol="BTC/USDT")
    assert rows.columns == tuple(field.name for field in dataclasses.fields(records[0]))
    expected = [
        tuple(format(v, "f") if isinstance(v, D) else v for v in dataclasses.astuple(candle))
        for candle in records
    ]
    assert rows.rows == expected
    assert [row[4] for row in rows.rows] == [format(v, "f") for v in TRICKY]
    assert rows.rows[1][4] == "0.00000001" and rows.rows[2][4] == "1000"
    assert rows.rows[0][8] is None and rows.more is False


def test_trade_rows_spell_decimals_as_the_stored_records(tricky_db: Database) -> None:
    page = trade_rows(tricky_db, "binance", "BTC/USDT", start=None, end=None, limit=3)
    assert [row[4] for row in page.rows] == [format(v, "f") for v in TRICKY[:3]]
    assert [row[5] for row in page.rows] == [format(abs(v), "f") for v in TRICKY[:3]]
    assert page.more is True


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_row_pages_follow_the_keyset(tricky_db: Database, order: market_reads.Order) -> None:
    seen: list[int] = []
    after = None
    while True:
        page = candle_rows(
            tricky_db,
            "binance",
            "BTC/USDT",
            "1m",
            start=T0 + MINUTE,
            end=T0 + 6 * MINUTE,
            limit=2,
            order=order,
            after=after,
        )
        seen += [row[3] for row in page.rows]
        if not page.more:
            break
        after = page.rows[-1][3]
    expected = [T0 + i * MINUTE for i in range(1, 7)]
    assert seen == (expected if order == "asc" else expected[::-1])


def test_the_raw_query_is_the_one_fetched(tricky_db: Database) -> None:
    query = ranges.candle_query(
        tricky_db, "binance", "BTC/USDT", "1m", start=T0, end=None, limit=2, order="desc"
    )
    assert query.limit == 2 and query.key == ("ts",)
    page = ranges.fetch_rows(tricky_db, query)
    assert [row[3] for row in page.rows] == [T0 + 7 * MINUTE, T0 + 6 * MINUTE]
    if tricky_db.dialect == "postgresql":
        assert "AS TEXT" in query.sql  # NUMERIC is cast in the database, not in Python


def test_sqlite_stores_decimals_in_plain_notation(sqlite_db: Database) -> None:
    """Both write paths: the bulk upsert (driver adapter) and SQLAlchemy (ExactDecimal)."""
    upsert(sqlite_db, [f.candle(ts=T0, open=D("1E-8"), high=D("1E+3"), volume=D("0E-8"))])
    with sqlite_db.engine.begin() as conn:
        conn.execute(
            insert(RECORD_TABLES[Candle]).values(
                dataclasses.asdict(f.candle(ts=T0 + MINUTE, open=D("2E-9"), close=D("1.50")))
            )
        )
        stored = conn.exec_driver_sql("SELECT open, high, close, volume FROM candles ORDER BY ts")
        rows = stored.fetchall()
    assert rows[0][0] == "0.00000001" and rows[0][1] == "1000" and rows[0][3] == "0.00000000"
    assert rows[1][0] == "0.000000002" and rows[1][2] == "1.50"


def test_a_read_leaves_pooled_connections_transactional(tricky_db: Database) -> None:
    """The fast path reads in autocommit on PostgreSQL; the pool must get back a
    connection whose writes still roll back."""
    for _ in range(3):
        candle_rows(tricky_db, "binance", "BTC/USDT", "1m", start=0, end=None, limit=1)
    with tricky_db.engine.connect() as conn:
        upsert_records(conn, [f.candle(symbol="ETH/USDT")])
        conn.rollback()
    page = candle_rows(tricky_db, "binance", "ETH/USDT", "1m", start=0, end=None, limit=1)
    assert page.rows == []


def trade_json(db: Database, **bounds: Any) -> ranges.JsonPage:
    return ranges.fetch_json(
        db, ranges.trade_query(db, "binance", "BTC/USDT", **bounds, form="json")
    )


def objects(page: ranges.RowPage) -> list[dict[str, object]]:
    return [dict(zip(page.columns, row, strict=True)) for row in page.rows]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_json_pages_are_the_row_pages_as_objects(
    tricky_db: Database, order: market_reads.Order
) -> None:
    series = (tricky_db, "binance", "BTC/USDT", "1m")
    for limit in (3, 100):
        rows = candle_rows(*series, start=None, end=None, limit=limit, order=order)
        query = ranges.candle_query(
            *series, start=None, end=None, limit=limit, order=order, form="json"
        )
        page = ranges.fetch_json(tricky_db, query)
        assert orjson.loads(page.data) == objects(rows)
        assert page.more is rows.more and page.last == (rows.rows[-1][3],)
    assert b"E" not in page.data.replace(b"BTC", b"")  # every exponent spelt out
    assert b'"volume":null' in page.data and b" " not in page.data
    trades = trade_rows(tricky_db, "binance", "BTC/USDT", start=None, end=None, limit=5)
    json = trade_json(tricky_db, start=None, end=None, limit=5)
    assert orjson.loads(json.data) == objects(trades)
    last = trades.rows[-1]
    assert json.last == (last[3], last[2]) and json.more is True  # (ts, trade_id)


TEXTS = ['say "hi"', "back\\slash", "tab\tnew\nline\x01", "ünïcødé €", "emoji 🚀", "</script>"]


def test_json_objects_escape_any_text(db: Database) -> None:
    """A trade id is whatever the exchange sent: the database's JSON must escape it."""
    upsert(db, [f.trade(trade_id=text, ts=T0 + i) for i, text in enumerate(TEXTS)])
    page = trade_json(db, start=None, end=None, limit=10)
    assert [obj["trade_id"] for obj in orjson.loads(page.data)] == TEXTS


@pytest.mark.parametrize("symbol", TEXTS)
def test_json_objects_carry_the_series_as_stored(db: Database, symbol: str) -> None:
    """The series' columns come from the filter's values, not the row, on PostgreSQL:
    they must read back as the stored text, whatever it holds."""
    upsert(db, [f.candle(symbol=symbol, ts=T0), f.candle(symbol=symbol + "x", ts=T0)])
    query = ranges.candle_query(
        db, "binance", symbol, "1m", start=None, end=None, limit=5, form="json"
    )
    rows = candle_rows(db, "binance", symbol, "1m", start=None, end=None, limit=5)
    assert orjson.loads(ranges.fetch_json(db, query).data) == objects(rows)
    assert [row[1] for row in rows.rows] == [symbol]


def test_an_empty_json_page(db: Database) -> None:
    query = ranges.candle_query(
        db, "binance", "NONE/USDT", "1m", start=0, end=None, limit=5, form="json"
    )
    page = ranges.fetch_json(db, query)
    assert (page.data, page.last, page.more) == (b"[]", None, False)


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_json_pages_follow_the_keyset(tricky_db: Database, order: market_reads.Order) -> None:
    seen: list[tuple[int, str]] = []
    after = None
    while True:
        page = trade_json(
            tricky_db,
            start=T0 + 1,
            end=T0 + 6,
            limit=2,
            order=order,
            after=after,
        )
        seen += [(obj["ts"], obj["trade_id"]) for obj in orjson.loads(page.data)]
        if not page.more:
            break
        assert page.last is not None
        after = (page.last[0], page.last[1])
    expected = [(T0 + i, str(i)) for i in range(1, 7)]
    assert seen == (expected if order == "asc" else expected[::-1])


BOUNDARY_LOOKALIKES = [',{"exchange":"x"}', "ends ,{", ',{"exchange":', "}", "{", '"', ","]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_json_pages_cut_at_object_boundaries_only(db: Database, order: market_reads.Order) -> None:
    """Every page one object short of what was fetched, whatever text the ids hold:
    SQLite's joined page is cut where the next object begins, and nowhere else."""
    ids = [f"{i}{text}" for i, text in enumerate(BOUNDARY_LOOKALIKES)]
    upsert(db, [f.trade(trade_id=text, ts=T0) for text in ids])
    for limit in (1, 2, 3):
        seen: list[str] = []
        after = None
        while True:
            page = trade_json(db, start=None, end=None, limit=limit, order=order, after=after)
            got = orjson.loads(page.data)
            assert len(got) == limit or not page.more
            seen += [obj["trade_id"] for obj in got]
            if not page.more:
                break
            assert page.last == (T0, got[-1]["trade_id"])
            after = (T0, got[-1]["trade_id"])
        every = trade_rows(db, "binance", "BTC/USDT", start=None, end=None, limit=99, order=order)
        assert seen == [row[2] for row in every.rows]  # the database's collation
        assert sorted(seen) == sorted(ids)
