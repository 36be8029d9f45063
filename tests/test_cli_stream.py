"""`omc stream`: one stream in the foreground against a local Binance, a status line,
a clean stop after --seconds or on SIGINT."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from sqlalchemy import select

from ohmycoins.records import Trade
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import RECORD_TABLES
from tests.conftest import sqlite_url
from tests.support.binance_ws import STALL, agg_trade, binance_stub
from tests.support.cli import omc_process
from tests.support.polling import until

WAIT = 60.0


def stored_ids(url: str) -> list[int]:
    with Database(url).engine.connect() as conn:
        table = RECORD_TABLES[Trade]
        return sorted(int(i) for i in conn.execute(select(table.c.trade_id)).scalars())


def environment(stub_url: str, ws_url: str, db_url: str) -> dict[str, str]:
    return {"OMC_BINANCE_URL": stub_url, "OMC_BINANCE_WS_URL": ws_url, "OMC_DATABASE_URL": db_url}


async def test_stream_runs_for_n_seconds_with_a_status_line(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    scripts = {"btcusdt@aggTrade": [[agg_trade(1), agg_trade(2), agg_trade(3), STALL]]}
    async with binance_stub(scripts) as stub:
        args = ("stream", "--symbol", "BTC/USDT", "--channel", "trades", "--seconds", "3")
        process = await omc_process(*args, env=environment(stub.url, stub.ws_url, url))
        out, err = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode == 0, err.decode()[-2000:]
    text = out.decode()
    assert "msg/s" in text and "resyncs 0" in text
    assert "stopped: 3 stored" in text
    assert stored_ids(url) == [1, 2, 3]


async def test_stream_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    scripts = {"btcusdt@aggTrade": [[agg_trade(7), STALL]]}
    async with binance_stub(scripts) as stub:
        args = ("stream", "--symbol", "BTC/USDT", "--channel", "trades")
        process = await omc_process(*args, env=environment(stub.url, stub.ws_url, url))
        await until(lambda: _has(url, 7), WAIT)
        process.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode == 0, err.decode()[-2000:]
    assert "stopped: 1 stored" in out.decode()


def _has(url: str, trade_id: int) -> bool:
    try:
        return trade_id in stored_ids(url)
    except Exception:  # the schema is not there yet
        return False


async def test_an_unknown_channel_is_one_line(tmp_path: Path) -> None:
    async with binance_stub({}) as stub:
        args = ("stream", "--symbol", "BTC/USDT", "--channel", "orders", "--seconds", "1")
        env = environment(stub.url, stub.ws_url, sqlite_url(tmp_path))
        process = await omc_process(*args, env=env)
        _, err = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode == 1
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "unknown channel 'orders'" in lines[0], err.decode()
