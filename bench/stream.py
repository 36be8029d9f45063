"""Live streams against the simulator: end to end beside a bare ccxt.pro loop.

    python bench/stream.py [--seconds 20] [--rate 5000] [--symbols 2] [--pairs 3]
                           [--minutes 0] [--redis URL] [--gaps 10]

The simulator runs in its own process (`omc sim --stream-rate RATE`), so its work is
not counted here. In this process, one after the other, for `--seconds` each:

(a) bare: ccxt.pro's binance class, `watch_trades` and `watch_order_book` loops on
    every symbol, parse only, with the stream's own options (trades as `aggTrade`, the
    stream Binance trades come from): the messages its socket handler saw, a second of
    wall time and a second of this process's CPU time (per core);
(b) end to end: the stream (`collectors.streams.Stream`) on the same channels: socket
    -> parse -> validate -> book checks -> micro-batched store into a fresh SQLite file
    -> publish to an in-process broker; messages a second of wall and of CPU time (all
    threads: the writer thread's too), and the ratio of each to (a). The simulator,
    not this process, sets the wall rate of both (neither uses its core fully), so the
    ratio per core is the one the goal is about; every book published is checked again
    as a subscriber receives it (invalid ones counted). (a) then (b) run `--pairs`
    times, each pair against a fresh simulator, and the ratio per core is printed for
    each pair, then its median and range: on a shared machine one pair alone swings;
(b') the same with the raw capture on (zstd JSON lines into the same temporary folder):
    its cost is the ratio of (b') to (b), both measured in this run;
(b'') the capture's own cost in this process: microseconds a message to encode and queue
    a depth diff of 20 levels a side (`CaptureWriter.message`) and to compress and
    write it (the worker thread's share), beside decoding the same frame (`json.loads`,
    what ccxt.pro does with every frame anyway);
(c) latency at 2,000 messages a second (one symbol's trades at that rate): receive ->
    publish per message (records are published as soon as they pass the checks), and
    first receive -> commit per stored batch, p50 and p99;
(d) with `--minutes N`, the stream of (c) runs N minutes more and the RSS of this
    process is printed when they start and every minute, with its growth;
(e) with `--redis URL` (or OMC_TEST_REDIS_URL): a batch of 20,000 trades published to
    Redis as a stream publishes it (`publish_records`: one pipelined call per channel)
    beside one awaited PUBLISH a message, in messages a second;
(f) gaps resynced: `--gaps N` times, the simulator drops one depth diff of a book
    stream (its fault API); the time from the fault to the first book published after
    the stream noticed the gap (a fresh snapshot, rebuilt), p50 and the largest; how
    many were resynced within 10 s (a diff dropped while the book was being rebuilt
    anyway is never noticed, and counts as not resynced).

Goals (issue 17): (b) >= 0.8 x (a) per core; publish p99 <= 20 ms and commit p99 <= 1.5 s at
2,000 messages a second; RSS growth < 10% over 30 minutes; 0 invalid books served; every
injected gap resynced within 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import ccxt.pro
from bench.scratch import free_port
from ccxt.base.errors import InvalidNonce

from ohmycoins.collectors.streams import Stream, StreamSpec
from ohmycoins.publish import MemoryBroker, RedisBroker, channel_for, message_for, publish_records
from ohmycoins.quality.books import book_problem
from ohmycoins.records import Trade
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.capture import CaptureWriter
from ohmycoins.sources.exchange import rewrite_hosts
from ohmycoins.sources.exchange_ws import WS_OPTIONS, ExchangeStream
from ohmycoins.storage.database import Database
from ohmycoins.timeframes import now_ms

SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def simulator(rate: float) -> Iterator[str]:
    """A fresh simulator process streaming at `rate` for the block: its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "ohmycoins", "sim", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--stream-rate", str(rate)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not _listening(port):
            if time.monotonic() > deadline:
                raise SystemExit("the simulator did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.kill()


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


class Counted(ccxt.pro.binance):  # type: ignore[misc]
    """ccxt.pro's binance, counting the messages its socket handler parses (and the
    book gaps its watcher was told of: it watches on, as any user of ccxt would)."""

    seen = 0
    resyncs = 0

    def handle_message(self, client: Any, message: Any) -> Any:
        Counted.seen += 1
        return super().handle_message(client, message)


class Rate:
    """Messages counted over a window: a second of wall time and of CPU time."""

    def __init__(self, count: int) -> None:
        self.first = count
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def end(self, count: int) -> tuple[float, float]:
        """(messages a second of wall time, messages a second of CPU time)."""
        messages = count - self.first
        wall = time.perf_counter() - self.wall
        return messages / wall, messages / (time.process_time() - self.cpu)


async def bare(url: str, symbols: tuple[str, ...], seconds: float) -> tuple[float, float]:
    """Messages a second (wall, CPU) through a bare ccxt.pro watch loop (parse only),
    on the channels the stream watches."""
    options = {"defaultType": "spot", "tradesLimit": 1000, **WS_OPTIONS["binance"]}
    exchange = Counted({"options": options})
    exchange.urls["api"] = rewrite_hosts(exchange.urls["api"], url)
    exchange.urls["api"]["ws"]["spot"] = "ws" + url.removeprefix("http") + "/ws"
    await exchange.load_markets()

    async def loop(watch: Any) -> None:
        while True:
            try:
                await watch()
            except InvalidNonce:  # a book gap: ccxt resyncs on the next call
                Counted.resyncs += 1

    jobs = [asyncio.create_task(loop(lambda s=s: exchange.watch_trades(s))) for s in symbols]
    jobs += [asyncio.create_task(loop(lambda s=s: exchange.watch_order_book(s))) for s in symbols]
    await asyncio.sleep(2)  # connected and synced
    Counted.resyncs = 0
    window = Rate(Counted.seen)
    await asyncio.sleep(seconds)
    rate = window.end(Counted.seen)
    died = [job.exception() for job in jobs if job.done()]
    for job in jobs:
        job.cancel()
    await asyncio.gather(*jobs, return_exceptions=True)
    await exchange.close()
    if died:
        raise SystemExit(f"the bare loop stopped: {died[0]!r}")
    return rate


class BookCheck:
    """A subscriber to the published books that checks each one as it arrives."""

    def __init__(self) -> None:
        self.served = 0
        self.invalid = 0

    async def watch(self, broker: MemoryBroker, channel: str) -> None:
        async with broker.subscribe(channel) as books:
            async for book in books:
                self.served += 1
                bids = [(Decimal(p), Decimal(q)) for p, q in book["bids"]]
                asks = [(Decimal(p), Decimal(q)) for p, q in book["asks"]]
                self.invalid += book_problem(bids, asks) is not None or not bids or not asks


@contextlib.asynccontextmanager
async def running_stream(
    url: str, spec: StreamSpec, broker: MemoryBroker, capture: bool = False
) -> AsyncIterator[Stream]:
    """A stream of `spec` against the simulator at `url`, storing into a fresh SQLite
    file (and capturing beside it when asked), publishing to `broker`; stopped (what is
    queued stored) and closed when the block ends."""
    folder = tempfile.mkdtemp(prefix="omc-bench-stream-")
    db = Database(f"sqlite:///{folder}/bench.db")
    db.upgrade()
    ws_url = "ws" + url.removeprefix("http") + "/ws"
    client = ExchangeStream("binance", SourceSettings(url=url, ws_url=ws_url))
    if capture:
        client.capture = CaptureWriter(Path(folder) / "capture", client.id)
    stream = Stream(spec, client, db, broker)
    stopping = asyncio.Event()
    job = asyncio.create_task(stream.run(stopping))
    try:
        yield stream
    finally:
        stopping.set()
        await job
        await client.close()


async def end_to_end(
    url: str,
    symbols: tuple[str, ...],
    channels: tuple[str, ...],
    seconds: float,
    minutes: int = 0,
    capture: bool = False,
) -> tuple[tuple[float, float], Stream, BookCheck]:
    """Messages a second (wall, CPU) through the whole stream; the stream, for its lags;
    the check of the books it published."""
    spec = StreamSpec("binance", symbols, channels, stale_seconds=60)
    broker = MemoryBroker(queue_size=100_000)
    books = BookCheck()
    checks = [asyncio.create_task(books.watch(broker, f"orderbook:binance:{s}")) for s in symbols]
    async with running_stream(url, spec, broker, capture) as stream:
        await asyncio.sleep(2)
        window = Rate(stream.stats.messages)
        await asyncio.sleep(seconds)
        rate = window.end(stream.stats.messages)
        await rss_every_minute(minutes)
    for check in checks:
        check.cancel()
    await asyncio.gather(*checks, return_exceptions=True)
    return rate, stream, books


async def rss_every_minute(minutes: int) -> None:
    """RSS now and after each of `minutes` minutes, with its growth since now."""
    if not minutes:
        return
    first = rss_mib()
    print(f"(d) RSS when the {minutes} min start: {first:.1f} MiB", flush=True)
    for minute in range(1, minutes + 1):
        await asyncio.sleep(60)
        now = rss_mib()
        growth = (now - first) / first * 100
        print(f"    after {minute} min: {now:.1f} MiB ({growth:+.1f}%)", flush=True)


def diff_frame(n: int) -> dict[str, Any]:
    levels = [[f"{41000 + i / 100:.2f}", f"{0.001 * (i + n):.5f}"] for i in range(20)]
    return {
        "e": "depthUpdate",
        "E": 1_700_000_000_000 + n,
        "s": "BTCUSDT",
        "U": n,
        "u": n,
        "b": levels,
        "a": levels,
    }


async def capture_cost(count: int = 50_000) -> str:
    """Microseconds a message: decode (the baseline), capture, and write."""
    frames = [json.dumps(diff_frame(n)) for n in range(count)]
    started = time.perf_counter()
    messages = [json.loads(frame) for frame in frames]
    decode = (time.perf_counter() - started) / count * 1e6
    writer = CaptureWriter(Path(tempfile.mkdtemp(prefix="omc-bench-capture-")), "binance")
    started = time.perf_counter()
    for n, message in enumerate(messages):
        writer.message("ws://127.0.0.1/ws/0", message, 1_700_000_000_000 + n, "book")
    queue = (time.perf_counter() - started) / count * 1e6
    started = time.perf_counter()
    await writer.flush()
    write = (time.perf_counter() - started) / count * 1e6
    ratio = writer.bytes_written / sum(len(f) + 40 for f in frames)
    return (
        f"decode {decode:.1f} us/message; capture: encode+queue {queue:.1f} us in the loop, "
        f"compress+write {write:.1f} us in the worker thread; zstd to {ratio:.0%} of the text"
    )


async def redis_publish(url: str, count: int = 20_000) -> str:
    """Messages a second to Redis: a batch as a stream publishes it, then one by one."""
    trades = [
        Trade("binance", "BTC/USDT", str(n), 1_700_000_000_000 + n, Decimal("41000.12"),
              Decimal("0.00123"), "buy")
        for n in range(count)
    ]  # fmt: skip
    broker = RedisBroker(url, prefix="omc-bench:")
    try:
        started = time.perf_counter()
        await publish_records(broker, trades)
        batched = count / (time.perf_counter() - started)
        started = time.perf_counter()
        for trade in trades:
            await broker.publish(channel_for(trade), message_for(trade))
        single = count / (time.perf_counter() - started)
    finally:
        await broker.close()
    return (
        f"(e) Redis: {batched:,.0f} messages/s batched (publish_records) | one PUBLISH a "
        f"message {single:,.0f} messages/s ({batched / single:.1f}x)"
    )


async def gap_resyncs(url: str, gaps: int) -> list[int]:
    """Milliseconds from each dropped depth diff to the first book published after the
    stream discarded the broken book (books are snapshotted every 0.1 s)."""
    spec = StreamSpec("binance", SYMBOLS[:1], ("book",), snapshot_seconds=0.1, stale_seconds=60)
    broker = MemoryBroker(queue_size=100_000)
    drop = {"rules": [{"kind": "drop_frame", "count": 1, "path": "depth@100ms"}]}
    took: list[int] = []
    async with (
        running_stream(url, spec, broker) as stream,
        broker.subscribe(f"orderbook:binance:{SYMBOLS[0]}") as books,
        aiohttp.ClientSession() as http,
    ):
        published = aiter(books)
        await asyncio.wait_for(anext(published), 30)  # synced
        for _ in range(gaps):
            resyncs, dropped_at = stream.stats.resyncs, now_ms()
            async with http.post(f"{url}/sim/faults", json=drop) as answer:
                answer.raise_for_status()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(GAP_LIMIT_S):
                    book = await resynced_book(published, stream, resyncs)
                    took.append(book["ts"] - dropped_at)
            await asyncio.sleep(0.5)
    return took


GAP_LIMIT_S = 10.0
"""How long (f) waits for a dropped diff to be noticed and the book rebuilt; a diff
dropped while the book was being rebuilt already (its diffs still buffered) is never
noticed: it counts as not resynced."""


async def resynced_book(
    published: AsyncIterator[dict[str, Any]], stream: Stream, resyncs: int
) -> dict[str, Any]:
    """The first book published after the stream discarded a book (its resyncs past
    `resyncs`); books come every 0.1 s, none while the book is rebuilt."""
    while True:
        book = await anext(published)
        noticed = stream.stats.resyncs > resyncs
        if noticed and book["ts"] > stream.stats.resync_times[-1]:
            return book


def percentiles(samples: list[int], unit: str) -> str:
    if len(samples) < 2:
        return "no samples"
    cuts = statistics.quantiles(samples, n=100)
    return f"p50 {cuts[49]:.0f} ms, p99 {cuts[98]:.0f} ms ({len(samples)} {unit})"


async def main(args: argparse.Namespace) -> None:
    symbols = SYMBOLS[: args.symbols]
    print(f"RSS at start: {rss_mib():.1f} MiB")
    per_core = []
    for pair in range(1, args.pairs + 1):
        with simulator(args.rate) as url:  # a fresh simulator for each pair
            baseline = await bare(url, symbols, args.seconds)
            ours, stream, books = await end_to_end(url, symbols, ("trades", "book"), args.seconds)
        per_core.append(ours[1] / baseline[1])
        print(
            f"[{pair}] (a) bare ccxt.pro watch loop: {baseline[0]:,.0f} messages/s, "
            f"{baseline[1]:,.0f} per core (a second of CPU); book gaps {Counted.resyncs}"
        )
        print(
            f"[{pair}] (b) end to end (store + publish): {ours[0]:,.0f} messages/s = "
            f"{ours[0] / baseline[0]:.2f} x bare; {ours[1]:,.0f} per core = "
            f"{ours[1] / baseline[1]:.2f} x bare per core; resyncs {stream.stats.resyncs}, "
            f"reconnects {stream.stats.reconnects}, stored {stream.stats.stored:,}; "
            f"books snapshotted {stream.stats.books_served:,}, published {books.served:,}, "
            f"invalid {books.invalid}",
            flush=True,
        )
    print(
        f"(b)/(a) per core over {args.pairs} pair(s): median {statistics.median(per_core):.2f} x, "
        f"from {min(per_core):.2f} to {max(per_core):.2f}"
    )
    with simulator(args.rate) as url:  # a fresh simulator, as (a) and (b) had
        captured, stream, _ = await end_to_end(
            url, symbols, ("trades", "book"), args.seconds, capture=True
        )
        written = stream.client.capture.bytes_written if stream.client.capture else 0
        print(
            f"(b') with the raw capture: {captured[1]:,.0f} messages per core = "
            f"{captured[1] / ours[1]:.2f} x (b); {written / 1e6:.1f} MB written"
        )
        print(f"(b'') {await capture_cost()}")
    with simulator(2000) as url:
        print(f"(c) at 2,000 messages/s asked of the simulator, {args.seconds:.0f} s:", flush=True)
        rate, stream, _ = await end_to_end(
            url, symbols[:1], ("trades",), args.seconds, args.minutes
        )
        publish = percentiles(list(stream.stats.publish_lags_ms), "messages")
        commit = percentiles(list(stream.stats.commit_lags_ms), "batches")
        print(f"    {rate[0]:,.0f} messages/s received; receive -> publish {publish}")
        print(f"    receive -> commit {commit}")
    if args.redis:
        print(await redis_publish(args.redis))
    if args.gaps:
        with simulator(args.rate) as url:
            took = sorted(await gap_resyncs(url, args.gaps))
        print(
            f"(f) {len(took)} of {args.gaps} gaps resynced within {GAP_LIMIT_S:.0f} s: "
            f"fault -> first book after it p50 {statistics.median(took):.0f} ms, "
            f"largest {took[-1]} ms"
            if took
            else f"(f) none of {args.gaps} gaps resynced within {GAP_LIMIT_S:.0f} s"
        )
    print(f"RSS at end: {rss_mib():.1f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=5000.0, help="simulator stream rate")
    parser.add_argument("--symbols", type=int, default=2, choices=(1, 2, 3))
    parser.add_argument("--minutes", type=int, default=0)
    parser.add_argument("--redis", default=os.environ.get("OMC_TEST_REDIS_URL"))
    parser.add_argument("--gaps", type=int, default=10, help="depth diffs dropped, one by one")
    parser.add_argument("--pairs", type=int, default=3, help="runs of (a) then (b), each pair")
    asyncio.run(main(parser.parse_args()))
