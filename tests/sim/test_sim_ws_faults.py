"""Each websocket fault, switched on through ``/sim/faults``, seen on the wire: what a
stream client receives is exactly the clean frames, broken the way the rule says."""

from __future__ import annotations

import itertools
import time
from typing import Any

import aiohttp
import orjson

from ohmycoins.sim import SimulatorHandle

from .support import ManualClock
from .wire import expected, receive, subscribe

DEPTH = "btcusdt@depth@100ms"


async def switch(session: aiohttp.ClientSession, live: SimulatorHandle, **rule: Any) -> None:
    """Turn one rule on through the control API, as an operator would."""
    async with session.post(live.base_url + "/sim/faults", json={"rules": [rule]}) as response:
        assert response.status == 200, await response.text()


async def clean_and_received(
    session: aiohttp.ClientSession, live: SimulatorHandle, clock: ManualClock, extra: int
) -> tuple[list[Any], aiohttp.ClientWebSocketResponse, list[Any]]:
    """Subscribe to the diffs and move the clock a second; the clean frames, the socket
    and the first ``len(clean) + extra`` messages it received (JSON, or raw text)."""
    ws = await session.ws_connect(live.ws_url)
    twins = await subscribe(ws, live, DEPTH)
    clock.now += 999 - clock.now % 1000 + 1000
    want = expected(twins, clock.now)
    got: list[Any] = []
    for _ in range(len(want) + extra):
        message = await ws.receive()
        assert message.type is aiohttp.WSMsgType.TEXT, message
        try:
            got.append(orjson.loads(message.data))
        except orjson.JSONDecodeError:
            got.append(message.data)
    return want, ws, got


def gaps(frames: list[Any]) -> list[tuple[int, int]]:
    """(previous u, next U) wherever a diff does not continue the one before."""
    pairs = itertools.pairwise(frames)
    return [(a["u"], b["U"]) for a, b in pairs if b["U"] != a["u"] + 1]


async def test_dropped_diff_leaves_a_gap_in_the_update_ids(
    live: SimulatorHandle, session: aiohttp.ClientSession, clock: ManualClock
) -> None:
    await switch(session, live, kind="drop_frame", count=2, path="depth@100ms")
    want, ws, got = await clean_and_received(session, live, clock, -2)
    await ws.close()
    assert len(want) > 10
    assert got == want[2:]  # the first two diffs are missing, nothing else
    assert got[0]["U"] == want[1]["u"] + 1 > want[0]["U"]
    assert live.stats.faults_injected == {"drop_frame": 2}
    want, ws, got = await clean_and_received(session, live, clock, 0)
    await ws.close()
    assert got == want and gaps(got) == []  # count spent: clean again


async def test_drop_mid_stream_breaks_the_chain_where_it_fired(
    live: SimulatorHandle, session: aiohttp.ClientSession, clock: ManualClock
) -> None:
    await switch(session, live, kind="drop_frame", probability=0.25, path=DEPTH)
    ws = await session.ws_connect(live.ws_url)
    twins = await subscribe(ws, live, DEPTH)
    clock.now += 999 - clock.now % 1000 + 2000
    want = expected(twins, clock.now)
    got = [await receive(ws)]
    # one batch of a few kB is written without yielding: the count is final now
    dropped = live.stats.faults_injected["drop_frame"]
    got += [await receive(ws) for _ in range(len(want) - dropped - 1)]
    await ws.close()
    assert 0 < dropped < len(want) // 2
    assert [frame for frame in want if frame in got] == got
    assert 1 <= len(gaps(got)) <= dropped
    assert all(u < next_u for u, next_u in gaps(got))  # ids only ever skip forward


async def test_duplicate_frame_arrives_twice(
    live: SimulatorHandle, session: aiohttp.ClientSession, clock: ManualClock
) -> None:
    await switch(session, live, kind="duplicate_frame", count=1)
    want, ws, got = await clean_and_received(session, live, clock, 1)
    await ws.close()
    assert got == [want[0], *want]


async def test_reordered_frames_swap_two_diffs(
    live: SimulatorHandle, session: aiohttp.ClientSession, clock: ManualClock
) -> None:
    await switch(session, live, kind="reorder_frames", count=1, path=DEPTH)
    want, ws, got = await clean_and_received(session, live, clock, 0)
    await ws.close()
    assert got == [want[1], want[0], *want[2:]]
    assert got[1]["u"] < got[0]["U"]


async def test_garbage_frame_comes_before_the_real_one(
    live: SimulatorHandle, session: aiohttp.ClientSession, clock: ManualClock
) -> None:
    await switch(session, live, kind="garbage_frame", count=1)
    want, ws, got = await clean_and_received(session, live, clock, 1)
    await ws.close()
    assert isinstance(got[0], str)  # not JSON
    assert got[1:] == want


async def test_stall_keeps_the_socket_open_and_silent_then_sends_everything(
    live: SimulatorHandle, session: aiohttp.ClientSession, clock: ManualClock
) -> None:
    await switch(session, live, kind="stall", count=1, seconds=0.4)
    started = time.monotonic()
    want, ws, got = await clean_and_received(session, live, clock, 0)
    silent_for = time.monotonic() - started
    await ws.close()
    assert got == want  # late, in order, nothing lost
    assert silent_for >= 0.4  # a lower bound the stall guarantees
    assert live.stats.faults_injected == {"stall": 1}


async def test_disconnect_closes_the_socket(
    live: SimulatorHandle, session: aiohttp.ClientSession, clock: ManualClock
) -> None:
    await switch(session, live, kind="disconnect", count=1, path="depth@100ms")
    ws = await session.ws_connect(live.ws_url)
    await subscribe(ws, live, DEPTH)
    clock.now += 1000
    message = await ws.receive()
    assert message.type is aiohttp.WSMsgType.CLOSE
    assert ws.close_code == aiohttp.WSCloseCode.GOING_AWAY
    await ws.close()
    async with session.get(live.base_url + "/sim/stats") as response:
        stats = await response.json()
    assert stats["faults_injected"] == {"disconnect": 1}
    assert stats["websocket"]["connections"] == 1


async def test_burst_changes_the_book_ten_times_as_often(
    live: SimulatorHandle, session: aiohttp.ClientSession, clock: ManualClock
) -> None:
    await switch(session, live, kind="burst", count=1, seconds=1.0, path="bookTicker")
    ws = await session.ws_connect(live.ws_url)
    (twin,) = await subscribe(ws, live, "btcusdt@bookTicker")
    clock.now += 1000
    normal = [frame for _, frame in twin.frames(clock.now)]
    assert [await receive(ws) for _ in normal] == normal  # the first one set the burst off
    clock.now += 1000
    burst = [frame for _, frame in twin.frames(clock.now)]
    assert [await receive(ws) for _ in burst] == burst
    await ws.close()
    assert live.stats.faults_injected == {"burst": 1}
    assert 15 <= len(normal) <= 20  # 20 book changes a second, most move the top
    assert len(burst) >= 8 * len(normal)
