"""The range endpoints' fast path: rows as the driver returns them, decimals as text.

Its text must be exactly what the record path gives (`format(Decimal, "f")`), on both
backends: PostgreSQL's `NUMERIC::text`, and SQLite's stored `str(Decimal)`, which writes
exponents (`1E-8`) that the fast path has to spell out.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal as D

import pytest

from ohmycoins.records import Candle
from ohmycoins.storage import reads
from ohmycoins.storage.database import Database
from ohmycoins.storage.queries import read_records
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


def test_candle_rows_spell_decimals_as_the_stored_records(tricky_db: Database) -> None:
    args = {"start": None, "end": None, "limit": 100}
    rows = reads.read_candle_rows(tricky_db, "binance", "BTC/USDT", "1m", **args)
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
    page = reads.read_trade_rows(tricky_db, "binance", "BTC/USDT", start=None, end=None, limit=3)
    assert [row[4] for row in page.rows] == [format(v, "f") for v in TRICKY[:3]]
    assert [row[5] for row in page.rows] == [format(abs(v), "f") for v in TRICKY[:3]]
    assert page.more is True


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_row_pages_follow_the_keyset(tricky_db: Database, order: reads.Order) -> None:
    seen: list[int] = []
    after = None
    while True:
        page = reads.read_candle_rows(
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
    query = reads.candle_rows_query(
        tricky_db, "binance", "BTC/USDT", "1m", start=T0, end=None, limit=2, order="desc"
    )
    assert query.limit == 2 and query.decimals == (4, 5, 6, 7, 8)
    page = reads.fetch_rows(tricky_db, query)
    assert [row[3] for row in page.rows] == [T0 + 7 * MINUTE, T0 + 6 * MINUTE]
    if tricky_db.dialect == "postgresql":
        assert "AS TEXT" in query.sql  # NUMERIC is cast in the database, not in Python


def test_a_read_leaves_pooled_connections_transactional(tricky_db: Database) -> None:
    """The fast path reads in autocommit on PostgreSQL; the pool must get back a
    connection whose writes still roll back."""
    for _ in range(3):
        reads.read_candle_rows(tricky_db, "binance", "BTC/USDT", "1m", start=0, end=None, limit=1)
    with tricky_db.engine.connect() as conn:
        upsert_records(conn, [f.candle(symbol="ETH/USDT")])
        conn.rollback()
    page = reads.read_candle_rows(
        tricky_db, "binance", "ETH/USDT", "1m", start=0, end=None, limit=1
    )
    assert page.rows == []
