"""How fast the simulator's websocket can feed a stream client, beside a bare server.

    python bench/sim_stream.py [--rates 100,500,2000] [--symbols 2] [--seconds 10]

For each stream rate, `omc sim --stream-rate R` runs in its own process (wall-clock
market) and one client reads the combined streams `trade`, `aggTrade`, `bookTicker`
and `depth@100ms` of `--symbols` symbols for `--seconds`.  Printed per rate: messages
a second received, against what the market produced in the same time (each symbol:
R trades, 0.4 R aggregate trades, up to R book tickers and 10 diffs a second), the
delay from a frame's event time to its receipt (p50 / p99, ms), and the simulator
process's CPU (cores).

Baseline, same run: a bare aiohttp websocket server in its own process sending
pre-encoded frames of the same size as fast as it can to the same kind of client:
the ceiling of the transport on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import orjson
from bench.scratch import cpu_seconds, free_port

ROOT = Path(__file__).resolve().parents[1]
SYMBOLS = ("btcusdt", "ethusdt", "solusdt", "bnbusdt", "xrpusdt", "adausdt")
CHANNELS = ("trade", "aggTrade", "bookTicker", "depth@100ms")

BARE_SERVER = """
import asyncio
import sys
from aiohttp import web

FRAME = sys.argv[2]

async def handle(request):
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    try:
        while not ws.closed:
            for _ in range(100):
                await ws.send_str(FRAME)
            await asyncio.sleep(0)
    except ConnectionResetError:
        pass
    return ws

app = web.Application()
app.add_routes([web.get("/ws", handle)])
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


async def connect(session: aiohttp.ClientSession, url: str) -> aiohttp.ClientWebSocketResponse:
    for _ in range(400):
        try:
            return await session.ws_connect(url, max_msg_size=0)
        except aiohttp.ClientConnectorError:
            await asyncio.sleep(0.05)
    raise SystemExit(f"nothing listens at {url}")


async def read(url: str, seconds: float, timed: bool) -> tuple[int, list[float], int]:
    """Messages received in ``seconds`` after the first, event-to-receipt delays (ms),
    and the size of the last message."""
    delays: list[float] = []
    count = size = 0
    async with aiohttp.ClientSession() as session:
        ws = await connect(session, url)
        first = await ws.receive()
        size = len(first.data)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            message = await ws.receive()
            count += 1
            if timed and count % 10 == 0:
                data = orjson.loads(message.data)["data"]
                if "E" in data:
                    delays.append(time.time() * 1000 - data["E"])
    return count, delays, size  # leaving the session drops the connection


def spawn(args: list[str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=30)


def run_sim(rate: float, symbols: int, seconds: float) -> None:
    port = free_port()
    command = [sys.executable, "-m", "ohmycoins", "sim", "--port", str(port)]
    process = spawn([*command, "--stream-rate", str(rate)])
    names = "/".join(f"{s}@{c}" for s in SYMBOLS[:symbols] for c in CHANNELS)
    try:
        cpu0 = cpu_seconds(process.pid) or 0.0
        started = time.monotonic()
        count, delays, _ = asyncio.run(
            read(f"ws://127.0.0.1:{port}/stream?streams={names}", seconds, True)
        )
        cores = ((cpu_seconds(process.pid) or 0.0) - cpu0) / (time.monotonic() - started)
    finally:
        stop(process)
    produced = symbols * (rate * 2.4 + min(rate, 10.0))
    delays.sort()
    p50 = statistics.median(delays) if delays else float("nan")
    p99 = delays[int(len(delays) * 0.99)] if delays else float("nan")
    print(
        f"simulator  rate {rate:>7.0f}/s  received {count / seconds:>9.0f} msg/s"
        f"  (market produced ~{produced:,.0f}/s)  event->receipt p50 {p50:6.1f} ms"
        f"  p99 {p99:6.1f} ms  simulator CPU {cores:.2f} cores"
    )


def run_bare(seconds: float, frame: str) -> None:
    port = free_port()
    process = spawn([sys.executable, "-c", BARE_SERVER, str(port), frame])
    try:
        count, _, _ = asyncio.run(read(f"ws://127.0.0.1:{port}/ws", seconds, False))
    finally:
        stop(process)
    print(
        f"baseline   bare aiohttp server, {len(frame)}-byte frames: {count / seconds:>9.0f} msg/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="100,500,2000")
    parser.add_argument("--symbols", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; {args.symbols} symbols x {len(CHANNELS)} streams")
    frame = orjson.dumps(
        {
            "stream": "btcusdt@trade",
            "data": {
                "e": "trade",
                "E": 1760000000076,
                "s": "BTCUSDT",
                "t": 788781693,
                "p": "46668.68000000",
                "q": "0.04652000",
                "T": 1760000000076,
                "m": False,
                "M": True,
            },
        }
    ).decode()
    run_bare(args.seconds, frame)
    for rate in (float(r) for r in args.rates.split(",")):
        run_sim(rate, args.symbols, args.seconds)


if __name__ == "__main__":
    main()
