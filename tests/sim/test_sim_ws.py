"""The simulator's websocket on the wire: Binance's endpoints, control messages, errors,
limits and stream payloads, read with a plain aiohttp client.

The market clock is manual: a test subscribes, opens a twin of the stream in-process
(same cursor, same shared book), moves the clock and expects exactly the twin's frames.
"""

from __future__ import annotations

import itertools
from decimal import Decimal

import aiohttp
import orjson
import pytest

from ohmycoins.sim import SimulatorHandle, running_simulator
from ohmycoins.sim.streams import open_stream
from tests.support.binance_ws import apply_diff

from .support import MINUTE, NOW_MS, ManualClock, make_config
from .wire import Json, call, expected, receive, subscribe


async def test_raw_stream_in_the_url_sends_bare_payloads(
    live: SimulatorHandle, session: aiohttp.ClientSession, clock: ManualClock
) -> None:
    async with session.ws_connect(live.ws_url + "/btcusdt@trade") as ws:
        assert await call(ws, "LIST_SUBSCRIPTIONS", id=3) == {"result": ["btcusdt@trade"], "id": 3}
        twin = open_stream("btcusdt@trade", live.model)
        clock.now += 3000
        want = expected([twin], clock.now)
        assert len(want) > 30
        got = [await receive(ws) for _ in want]
    assert got == want
    ids = [frame["t"] for frame in got]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    rest = live.model.trades("BTCUSDT", from_id=ids[0], limit=len(ids))
    assert [(r["id"], r["price"], r["qty"], r["time"], r["isBuyerMaker"]) for r in rest] == [
        (f["t"], f["p"], f["q"], f["T"], f["m"]) for f in got
    ]
    assert set(got[0]) == {"e", "E", "s", "t", "p", "q", "T", "m", "M"}


async def test_combined_streams_wrap_frames_and_interleave_by_event_time(
    live: SimulatorHandle, session: aiohttp.ClientSession, clock: ManualClock
) -> None:
    base = live.base_url + "/stream?streams=btcusdt@aggTrade/ethusdt@bookTicker"
    async with session.ws_connect(base) as ws:
        assert await call(ws, "GET_PROPERTY", "combined", id=2) == {"result": True, "id": 2}
        twins = [open_stream(n, live.model) for n in ("btcusdt@aggTrade", "ethusdt@bookTicker")]
        clock.now += 2000
        want = expected(twins, clock.now, combined=True)
        got = [await receive(ws) for _ in want]
    assert got == want
    assert {frame["stream"] for frame in got} == {"btcusdt@aggTrade", "ethusdt@bookTicker"}
    agg = next(f["data"] for f in got if f["stream"] == "btcusdt@aggTrade")
    assert set(agg) == {"e", "E", "s", "a", "p", "q", "f", "l", "T", "m", "M"}
    book = next(f["data"] for f in got if f["stream"] == "ethusdt@bookTicker")
    assert set(book) == {"u", "s", "b", "B", "a", "A"}  # spot bookTicker: no e, no E
    assert all(isinstance(book[k], str) for k in "bBaA") and isinstance(book["u"], int)


async def test_subscribe_list_unsubscribe_and_properties(
    live: SimulatorHandle, session: aiohttp.ClientSession, clock: ManualClock
) -> None:
    async with session.ws_connect(live.ws_url) as ws:  # at most five messages a second
        twins = await subscribe(ws, live, "solusdt@trade", "btcusdt@depth@100ms")
        listed = await call(ws, "LIST_SUBSCRIPTIONS", id=4)
        assert listed == {"result": ["solusdt@trade", "btcusdt@depth@100ms"], "id": 4}
        assert await call(ws, "UNSUBSCRIBE", "solusdt@trade", id=5) == {"result": None, "id": 5}
        assert await call(ws, "SET_PROPERTY", "combined", True, id=6) == {"result": None, "id": 6}
        clock.now += 1000
        want = expected(twins[1:], clock.now, combined=True)
        got = [await receive(ws) for _ in want]
        assert got == want and got[0]["stream"] == "btcusdt@depth@100ms"
        assert await call(ws, "LIST_SUBSCRIPTIONS", id="x") == {
            "result": ["btcusdt@depth@100ms"],
            "id": "x",
        }


@pytest.mark.parametrize(
    ("message", "reply"),
    [
        ("{not json", {"code": 3}),
        ('["SUBSCRIBE"]', {"code": 3}),
        ('{"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": -1}', {"code": 2, "id": None}),
        ('{"method": "SUBSCRIB", "params": [], "id": 9}', {"code": 2, "id": 9}),
        ('{"method": "SUBSCRIBE", "params": ["btcusdt@nope"], "id": 9}', {"code": 2, "id": 9}),
        ('{"method": "SUBSCRIBE", "params": "btcusdt@trade", "id": 9}', {"code": 2, "id": 9}),
        ('{"method": "SET_PROPERTY", "params": ["merged", true], "id": 9}', {"code": 0, "id": 9}),
        ('{"method": "SET_PROPERTY", "params": ["combined", 1], "id": 9}', {"code": 1, "id": 9}),
        ('{"method": "GET_PROPERTY", "params": [3], "id": 9}', {"code": 2, "id": 9}),
    ],
)
async def test_bad_requests_get_binance_errors_and_the_socket_lives_on(
    live: SimulatorHandle, session: aiohttp.ClientSession, message: str, reply: Json
) -> None:
    async with session.ws_connect(live.ws_url) as ws:
        await ws.send_str(message)
        answer = await receive(ws)
        assert {k: answer[k] for k in reply} == reply
        assert isinstance(answer["msg"], str) and answer["msg"]
        assert await call(ws, "LIST_SUBSCRIPTIONS", id=10) == {"result": [], "id": 10}


async def test_url_names_that_are_not_streams_are_ignored(
    live: SimulatorHandle, session: aiohttp.ClientSession
) -> None:
    async with session.ws_connect(live.ws_url + "/0") as ws:  # how ccxt connects
        assert await call(ws, "LIST_SUBSCRIPTIONS") == {"result": [], "id": 1}
        assert await call(ws, "GET_PROPERTY", "combined", id=2) == {"result": False, "id": 2}
    assert live.stats.websocket["connections"] == 1


async def test_a_symbol_the_market_does_not_list_is_accepted_and_silent(
    live: SimulatorHandle, session: aiohttp.ClientSession, clock: ManualClock
) -> None:
    async with session.ws_connect(live.ws_url) as ws:
        await subscribe(ws, live, "dogeusdt@trade", "btcusdt@ticker")
        clock.now += 1000
        frame = await receive(ws)
        assert frame["e"] == "24hrTicker" and frame["s"] == "BTCUSDT"


async def test_more_than_five_messages_a_second_closes_the_connection(
    live: SimulatorHandle, session: aiohttp.ClientSession
) -> None:
    async with session.ws_connect(live.ws_url) as ws:
        for i in range(6):
            await ws.send_str(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}).decode())
        replies = []
        while (message := await ws.receive()).type is aiohttp.WSMsgType.TEXT:
            replies.append(orjson.loads(message.data))
        assert message.type is aiohttp.WSMsgType.CLOSE
        assert ws.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION
    assert [r["id"] for r in replies] == [0, 1, 2, 3, 4]


async def test_stream_limit_per_connection(clock: ManualClock) -> None:
    async with (
        running_simulator(make_config(now_ms=clock, ws_max_streams=2)) as small,
        aiohttp.ClientSession() as session,
        session.ws_connect(small.ws_url + "/btcusdt@trade") as ws,
    ):
        reply = await call(ws, "SUBSCRIBE", "ethusdt@trade", "solusdt@trade", id=3)
        assert reply["code"] == 2 and reply["id"] == 3
        assert await call(ws, "SUBSCRIBE", "ethusdt@trade", id=4) == {"result": None, "id": 4}


async def test_depth_diffs_continue_the_rest_snapshot_into_the_same_book(
    live: SimulatorHandle, session: aiohttp.ClientSession, clock: ManualClock
) -> None:
    async with session.ws_connect(live.ws_url) as ws:
        twins = await subscribe(ws, live, "btcusdt@depth@100ms", "btcusdt@bookTicker")
        clock.now += 750  # diffs buffered before the snapshot
        async with session.get(live.base_url + "/api/v3/depth?symbol=BTCUSDT&limit=5000") as r:
            snapshot = await r.json()
        clock.now = (clock.now + 5000) // 1000 * 1000 + 999  # a window's last millisecond
        want = expected(twins, clock.now)
        got = [await receive(ws) for _ in want]
    assert got == want
    diffs = [f for f in got if f.get("e") == "depthUpdate"]
    assert all(f["E"] % 100 == 0 for f in diffs)
    assert all(b["U"] == a["u"] + 1 for a, b in itertools.pairwise(diffs))
    last_id = snapshot["lastUpdateId"]
    book = {side: {Decimal(p): Decimal(q) for p, q in snapshot[side]} for side in ("bids", "asks")}
    applied = [f for f in diffs if f["u"] > last_id]
    assert applied[0]["U"] <= last_id + 1 <= applied[0]["u"]
    assert len(applied) < len(diffs)  # some were older than the snapshot
    for diff in applied:
        apply_diff(book, diff)
    truth = live.model.depth("BTCUSDT", 5000)
    assert applied[-1]["u"] == truth["lastUpdateId"]
    for side, reverse in (("bids", True), ("asks", False)):
        ours = sorted(book[side].items(), reverse=reverse)[:1000]
        assert ours == [(Decimal(p), Decimal(q)) for p, q in truth[side][:1000]]
    tickers = [f for f in got if "e" not in f]
    top = tickers[-1]
    assert (top["b"], top["B"], top["a"], top["A"]) == (*truth["bids"][0], *truth["asks"][0])
    assert Decimal(top["b"]) < Decimal(top["a"])


async def test_kline_frames_update_then_close_the_minute(
    live: SimulatorHandle, session: aiohttp.ClientSession, clock: ManualClock
) -> None:
    end = (NOW_MS // MINUTE + 1) * MINUTE
    clock.now = end - 4500
    async with session.ws_connect(live.ws_url) as ws:
        twins = await subscribe(ws, live, "ethusdt@kline_1m")
        clock.now = end + 2000
        want = expected(twins, clock.now)
        got = [await receive(ws) for _ in want]
    assert got == want
    assert [(f["E"], f["k"]["x"]) for f in got] == [
        (end - 4000, False),
        (end - 2000, False),
        (end, True),
        (end + 2000, False),
    ]
    closing = got[2]["k"]
    row = live.model.klines("ETHUSDT", "1m", start_ms=end - MINUTE, limit=1)[0]
    assert (closing["t"], closing["T"], closing["i"]) == (row[0], row[6], "1m")
    assert [closing[k] for k in "ohlcvqVQ"] == [row[i] for i in (1, 2, 3, 4, 5, 7, 9, 10)]
    assert closing["n"] == row[8] == closing["L"] - closing["f"] + 1
    first = live.model.trades("ETHUSDT", from_id=closing["f"], limit=1)[0]
    assert first["time"] >= row[0] and first["price"] == row[1]
    assert Decimal(got[1]["k"]["v"]) <= Decimal(closing["v"])
    assert got[3]["k"]["t"] == end and got[3]["k"]["f"] == closing["L"] + 1


async def test_ticker_frames_are_the_rest_rolling_day(
    live: SimulatorHandle, session: aiohttp.ClientSession, clock: ManualClock
) -> None:
    async with session.ws_connect(live.ws_url + "/solusdt@ticker") as ws:
        assert await call(ws, "LIST_SUBSCRIPTIONS") == {"result": ["solusdt@ticker"], "id": 1}
        clock.now += 1000
        frame = await receive(ws)
    rest = live.model.ticker_24hr("SOLUSDT", at_ms=frame["E"])
    assert frame["E"] == frame["C"] == rest["closeTime"]
    assert (frame["c"], frame["o"], frame["h"], frame["l"], frame["v"], frame["q"]) == (
        rest["lastPrice"],
        rest["openPrice"],
        rest["highPrice"],
        rest["lowPrice"],
        rest["volume"],
        rest["quoteVolume"],
    )
    assert (frame["F"], frame["L"], frame["n"]) == (rest["firstId"], rest["lastId"], rest["count"])
    assert all(isinstance(frame[k], str) for k in "pPwxcQbBaAohlvq")
    assert all(isinstance(frame[k], int) for k in "EOCFLn")


async def test_the_server_pings_and_drops_a_client_that_never_pongs(clock: ManualClock) -> None:
    async with (
        running_simulator(make_config(now_ms=clock, ws_ping_seconds=0.2)) as sim,
        aiohttp.ClientSession() as session,
        session.ws_connect(sim.ws_url, autoping=False) as ws,
    ):
        assert (await ws.receive()).type is aiohttp.WSMsgType.PING
        while (message := await ws.receive()).type is aiohttp.WSMsgType.PING:
            pass
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.closed


async def test_same_seed_and_clock_send_the_same_frames(session: aiohttp.ClientSession) -> None:
    names = "btcusdt@trade/btcusdt@depth@100ms/ethusdt@kline_1m/solusdt@bookTicker"
    runs = []
    for _ in range(2):
        clock = ManualClock()
        async with running_simulator(make_config(now_ms=clock, stream_rate=10.0)) as sim:
            ws = await session.ws_connect(f"{sim.base_url}/stream?streams={names}")
            twins = [open_stream(name, sim.model) for name in names.split("/")]
            clock.now += 2500
            runs.append([await receive(ws) for _ in expected(twins, clock.now)])
            await ws.close()
    assert runs[0] == runs[1] and len(runs[0]) > 50
