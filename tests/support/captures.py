"""Shared by the raw capture tests: the rows of the stream tables, and `omc replay` run
as a user runs it."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from ohmycoins.records import Candle, OrderBook, Ticker, Trade
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import RECORD_TABLES
from tests.support.cli import omc_process

STREAM_TABLES = (Trade, OrderBook, Ticker, Candle)


def stream_rows(db: Database) -> dict[str, list[Any]]:
    """Every row of the stream tables (trades, books, tickers, candles), in key order."""
    found = {}
    with db.engine.connect() as conn:
        for record in STREAM_TABLES:
            table = RECORD_TABLES[record]
            keys = list(table.primary_key.columns)
            found[table.name] = [tuple(r) for r in conn.execute(select(table).order_by(*keys))]
    return found


async def omc_replay(*args: str, db_url: str, wait: float = 120.0) -> tuple[int, str, str]:
    """`omc replay ARGS` into `db_url`: its exit code, stdout and stderr."""
    process = await omc_process("replay", *args, env={"OMC_DATABASE_URL": db_url})
    out, err = await asyncio.wait_for(process.communicate(), wait)
    return process.returncode or 0, out.decode(), err.decode()
