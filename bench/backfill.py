"""Candle backfill end to end against the exchange simulator, beside a naive ccxt loop.

    python bench/backfill.py [--seconds 60] [--symbols 6] [--latency-ms 100]
                             [--baseline-seconds 30] [--pages-in-flight 8] [--quick]

Each run gets its own fresh simulator in a separate process (so its CPU is not charged
to the client), answering after `--latency-ms` with Binance's weight budget (6000 per
clock-aligned 60 s window, klines weight 2; 429 when over it, 418 when a client keeps
sending after a 429), a fixed market clock, and its own fresh SQLite file.

- ohmycoins: `CandleSync` (fetch through `ExchangeClient` and its weight window →
  parse → validate → store with the cursor) backfills every symbol's 1m candles
  concurrently (`asyncio.gather` of `sync.sync` per symbol, `--pages-in-flight` per
  symbol) for `--seconds` of wall time, then is cancelled. It starts on a weight-window
  boundary (waiting up to one window for it), so the run covers whole windows.
- baseline: the naive path, a plain sequential loop of ccxt's sync `binance` with
  `enableRateLimit` (ccxt's own throttle): `fetch_ohlcv(symbol, '1m', since, 1000)`
  page by page, each page a pandas DataFrame written with `to_sql(if_exists='append')`
  through SQLAlchemy, the symbols one after another, for `--baseline-seconds`.

For both it prints candles stored per second (rows in the database at the end of the
run ÷ wall time), the weight utilisation (weight the simulator counted ÷ (limit *
elapsed / window)), 429 and 418 counts, requests, and the CPU used by the client and
the simulator processes (a client near 1.0 core is CPU-bound: the GIL); then the weight
of every whole window the run covered, how many fetched candles were not stored yet
(a queue in memory), what limited the run, the speed-up ohmycoins ÷ baseline, the goals
(utilisation ≥ 0.90, zero 418s, speed-up ≥ 3) and peak RSS. `--quick` is a smoke run
of about 15 s with a 5 s window (500 weight: the same rate as Binance's budget).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ccxt
import pandas as pd
from bench.scratch import count_rows, cpu_seconds
from sqlalchemy import create_engine

from ohmycoins.collectors.candles import CandleSync
from ohmycoins.records import Candle
from ohmycoins.settings import SourceSettings
from ohmycoins.sim import DEFAULT_START_MS, SimulatorConfig, running_simulator
from ohmycoins.sim.endpoints import ENDPOINTS
from ohmycoins.sources.binance import binance_spot_weight
from ohmycoins.sources.exchange import ExchangeClient, WeightBudget, rewrite_hosts
from ohmycoins.storage.database import Database
from ohmycoins.storage.tables import RECORD_TABLES

MINUTE_MS = 60_000
PAGE = 1000
KLINES_WEIGHT = 2
KNOWN_SYMBOLS = ("BTC", "ETH", "SOL", "BNB", "XRP", "ADA", "DOGE")
WEIGHTS = {endpoint.path: endpoint.weight({}) for endpoint in ENDPOINTS}
"""Weight of one request per path (fixed for every path a backfill uses)."""


# ------------------------------------------------------------------ simulator


@dataclass(frozen=True)
class Setup:
    """What both runs share: market, budget, latency and range."""

    symbols: tuple[str, ...]  # unified, e.g. BTC/USDT
    latency_ms: float
    weight_limit: int
    window_s: float
    since: int
    now: int

    def sim_spec(self) -> dict[str, Any]:
        return {
            "seed": 42,
            "symbols": [s.replace("/", "") for s in self.symbols],
            "start_ms": DEFAULT_START_MS,
            "latency_ms": self.latency_ms,
            "weight_limit": self.weight_limit,
            "window_seconds": self.window_s,
            "now_ms": self.now,
        }


async def serve_sim(spec: dict[str, Any]) -> None:
    """Child process: serve the simulator until the parent closes our stdin."""
    now = int(spec.pop("now_ms"))
    config = SimulatorConfig(**spec, now_ms=lambda: now)
    async with running_simulator(config) as sim:
        print(sim.base_url, flush=True)
        await asyncio.to_thread(sys.stdin.read)


class SimProcess:
    """A simulator in its own process, watched through its `/sim/` control API."""

    def __init__(self, setup: Setup) -> None:
        command = [sys.executable, __file__, "--serve-sim", json.dumps(setup.sim_spec())]
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().decode().strip()
        if not self.base_url.startswith("http"):
            raise RuntimeError("the simulator process did not start")

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.base_url}/sim/stats", timeout=10) as answer:
            stats: dict[str, Any] = json.load(answer)
        return stats

    def cpu_seconds(self) -> float | None:
        """User + system CPU of the simulator process so far (Linux /proc), else None."""
        return cpu_seconds(self.proc.pid)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@contextmanager
def simulator(setup: Setup) -> Iterator[SimProcess]:
    sim = SimProcess(setup)
    try:
        yield sim
    finally:
        sim.close()


def weight_of(stats: dict[str, Any]) -> int:
    """Weight the simulator charged in total (every request counts, 429s too)."""
    return sum(WEIGHTS.get(path, 1) * n for path, n in stats["requests_by_path"].items())


# ---------------------------------------------------------------------- result


@dataclass
class Result:
    name: str
    candles: int
    seconds: float
    stats: dict[str, Any]
    client_cpu_s: float
    sim_cpu_s: float | None
    setup: Setup
    note: str = ""

    @property
    def weight(self) -> int:
        return weight_of(self.stats)

    @property
    def rate(self) -> float:
        return self.candles / self.seconds

    @property
    def utilisation(self) -> float:
        allowed = self.setup.weight_limit * self.seconds / self.setup.window_s
        return self.weight / allowed

    @property
    def requests(self) -> int:
        return int(self.stats["requests"])

    def row(self) -> str:
        sim_cpu = "-" if self.sim_cpu_s is None else f"{self.sim_cpu_s / self.seconds:.2f}"
        return (
            f"{self.name:10} {self.candles:>11,} {self.seconds:>7.1f} {self.rate:>10,.0f} "
            f"{self.requests:>9,} {self.requests / self.seconds:>6.1f} {self.weight:>8,} "
            f"{self.utilisation:>6.2f} {self.stats['rate_limited']:>5} {self.stats['banned']:>5} "
            f"{self.client_cpu_s / self.seconds:>7.2f} {sim_cpu:>5}"
        )


HEADER = (
    f"{'run':10} {'candles':>11} {'seconds':>7} {'candles/s':>10} {'requests':>9} "
    f"{'req/s':>6} {'weight':>8} {'util.':>6} {'429s':>5} {'418s':>5} "
    f"{'cpu/cli':>7} {'cpu/sim':>5}"
)


# ---------------------------------------------------------------------- ohmycoins


async def sample_windows(sim: SimProcess, window_s: float, peaks: dict[int, int]) -> None:
    """Keep the simulator's weight count of every window (its last value before the
    window ends: sampled every 0.25 s and just before each boundary)."""
    while True:
        to_edge = window_s - time.time() % window_s
        await asyncio.sleep(min(0.25, to_edge - 0.04) if to_edge > 0.06 else to_edge + 0.01)
        at = time.time()
        stats = await asyncio.to_thread(sim.stats)
        index = math.floor(at / window_s)
        peaks[index] = max(peaks.get(index, 0), int(stats["weight_used"]))


async def run_ohmycoins(
    setup: Setup, seconds: float, pages_in_flight: int, folder: str
) -> tuple[Result, list[int]]:
    db_url = f"sqlite:///{Path(folder) / 'ohmycoins.db'}"
    db = Database(db_url)
    db.upgrade()
    table = RECORD_TABLES[Candle].name
    with simulator(setup) as sim:
        budget = WeightBudget(setup.weight_limit, setup.window_s, binance_spot_weight)
        client = ExchangeClient("binance", SourceSettings(url=sim.base_url), budget=budget)
        sync = CandleSync(client, db, pages_in_flight=pages_in_flight, clock=lambda: setup.now)
        wait = setup.window_s - time.time() % setup.window_s
        print(f"  waiting {wait:.1f} s for a weight-window boundary...", flush=True)
        await asyncio.sleep(wait + 0.01)
        peaks: dict[int, int] = {}
        sampler = asyncio.create_task(sample_windows(sim, setup.window_s, peaks))
        cpu0, sim_cpu0, start = time.process_time(), sim.cpu_seconds(), time.time()
        jobs = [
            asyncio.ensure_future(sync.sync(symbol, "1m", setup.since, setup.now))
            for symbol in setup.symbols
        ]
        done, _ = await asyncio.wait(jobs, timeout=seconds)
        end = time.time()
        cpu, sim_cpu = time.process_time() - cpu0, sim.cpu_seconds()
        stats = await asyncio.to_thread(sim.stats)
        candles = await asyncio.to_thread(count_rows, db_url, table)
        for job in [*jobs, sampler]:
            job.cancel()
        await asyncio.gather(*jobs, sampler, return_exceptions=True)
        await client.close()
        finished = sum(1 for job in done if not job.cancelled() and job.exception() is None)
    db.dispose()
    sim_cpu_s = None if sim_cpu is None or sim_cpu0 is None else sim_cpu - sim_cpu0
    # Whole windows inside [start, end]; the start is a boundary (plus a few ms).
    first = math.ceil(start / setup.window_s - 0.01)
    last = math.floor(end / setup.window_s + 0.01)
    full = [peaks.get(index, 0) for index in range(first, last)]
    note = (
        f"{len(setup.symbols)} symbols concurrently, pages_in_flight={pages_in_flight} "
        f"per symbol ({pages_in_flight * len(setup.symbols)} overall), "
        f"{finished}/{len(jobs)} series finished; client's weight window sent "
        f"{client.window.spent if client.window else 0:,.0f}"
    )
    result = Result("ohmycoins", candles, end - start, stats, cpu, sim_cpu_s, setup, note)
    return result, full


# ---------------------------------------------------------------------- baseline


def run_baseline(setup: Setup, seconds: float, folder: str) -> Result:
    """A plain loop: ccxt with its own throttle, one page at a time, pandas to_sql."""
    db_url = f"sqlite:///{Path(folder) / 'baseline.db'}"
    engine = create_engine(db_url)
    with simulator(setup) as sim:
        exchange = ccxt.binance({"enableRateLimit": True})
        exchange.urls["api"] = rewrite_hosts(exchange.urls["api"], sim.base_url)
        cpu0, sim_cpu0, start = time.process_time(), sim.cpu_seconds(), time.time()
        deadline = start + seconds
        reached = 0
        for symbol in setup.symbols:
            if time.time() >= deadline:
                break
            reached += 1
            since = setup.since
            while since < setup.now and time.time() < deadline:
                rows = exchange.fetch_ohlcv(symbol, "1m", since, PAGE)
                if not rows:
                    break
                frame = pd.DataFrame(rows, columns=["ts", "open", "high", "low", "close", "volume"])
                frame.insert(0, "symbol", symbol)
                frame.to_sql("ohlcv", engine, if_exists="append", index=False)
                since = int(rows[-1][0]) + MINUTE_MS
        end = time.time()
        cpu, sim_cpu = time.process_time() - cpu0, sim.cpu_seconds()
        stats = sim.stats()
        exchange.close()
    engine.dispose()
    candles = count_rows(db_url, "ohlcv")
    sim_cpu_s = None if sim_cpu is None or sim_cpu0 is None else sim_cpu - sim_cpu0
    note = f"sequential, reached {reached}/{len(setup.symbols)} symbols"
    return Result("baseline", candles, end - start, stats, cpu, sim_cpu_s, setup, note)


# ------------------------------------------------------------------------ main


def symbols_for(n: int) -> tuple[str, ...]:
    """Known simulator markets first, then generic USDT pairs the simulator makes up."""
    bases = [*KNOWN_SYMBOLS, *(f"SIM{i}" for i in range(len(KNOWN_SYMBOLS), n))][:n]
    return tuple(f"{base}/USDT" for base in bases)


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(ours: Result, base: Result, windows: list[int], setup: Setup) -> None:
    print()
    print(HEADER)
    for result in (ours, base):
        print(result.row())
    for result in (ours, base):
        print(f"  {result.name}: {result.note}")
    ceiling = setup.weight_limit / setup.window_s / KLINES_WEIGHT
    print(
        f"budget ceiling: {ceiling:,.0f} klines requests/s = {ceiling * PAGE:,.0f} candles/s; "
        f"ohmycoins reached {ours.requests / ours.seconds / ceiling:.0%} of it"
    )
    if windows:
        shares = ", ".join(f"{w:,} ({w / setup.weight_limit:.2f})" for w in windows)
        print(f"ohmycoins weight per whole window (simulator's count): {shares}")
    else:
        print("ohmycoins covered no whole weight window (run longer for per-window figures)")
    pages = ours.stats["requests_by_path"].get("/api/v3/klines", 0)
    pages -= ours.stats["rate_limited"] + ours.stats["banned"]
    backlog = max(0, pages * PAGE - ours.candles)
    share = backlog / (pages * PAGE) if pages else 0.0
    print(
        f"ohmycoins fetched ≈{pages * PAGE:,} candles ({pages:,} pages), stored {ours.candles:,}: "
        f"≈{backlog:,} ({share:.0%}) fetched but not stored when the run ended"
    )
    cores = ours.client_cpu_s / ours.seconds
    sim_cores = (ours.sim_cpu_s or 0.0) / ours.seconds
    limits = []
    if share > 0.10:
        limits.append("storing: fetched pages queue in memory for the single writer")
    if ours.utilisation < 0.90:
        limits.append("the budget is not used up")
    if limits:
        if cores >= 0.75:
            why = (
                f"the collector process is CPU/GIL-bound ({cores:.2f} cores; parsing on the "
                "event loop and the writer thread share one GIL)"
            )
        elif sim_cores >= 0.85:
            why = f"the simulator process is CPU-bound ({sim_cores:.2f} cores)"
        else:
            why = "neither process is CPU-bound: too few pages in flight for the latency?"
        print(f"limited by {' and '.join(limits)}; {why}")
    speedup = ours.rate / base.rate if base.rate else math.inf
    print(f"speed-up ohmycoins ÷ baseline: {speedup:.2f}x")
    print(
        f"goals: utilisation ≥ 0.90: {ours.utilisation:.2f} {verdict(ours.utilisation >= 0.90)}"
        f" | zero 418s: {ours.stats['banned']} {verdict(ours.stats['banned'] == 0)}"
        f" | ≥ 3x baseline: {speedup:.2f}x {verdict(speedup >= 3)}"
    )
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS {own:,.0f} MiB (largest simulator process {children:,.0f} MiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, help="ohmycoins run (default 60, quick 5)")
    parser.add_argument("--symbols", type=int, default=6)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--baseline-seconds", type=float, help="(default 30, quick 3)")
    parser.add_argument(
        "--pages-in-flight", type=int, default=8, help="per symbol (CandleSync's default: 8)"
    )
    parser.add_argument("--quick", action="store_true", help="a ~15 s smoke run, 5 s windows")
    parser.add_argument("--serve-sim", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sim:
        asyncio.run(serve_sim(json.loads(args.serve_sim)))
        return
    quick = args.quick
    seconds = args.seconds or (5.0 if quick else 60.0)
    baseline_seconds = args.baseline_seconds or (3.0 if quick else 30.0)
    limit, window_s = (500, 5.0) if quick else (6000, 60.0)
    # Enough history for the budget's ceiling over the whole run, with room to spare.
    per_symbol = math.ceil(1.5 * limit / KLINES_WEIGHT * PAGE * seconds / window_s / args.symbols)
    since = DEFAULT_START_MS + 7 * 24 * 60 * MINUTE_MS
    setup = Setup(
        symbols_for(args.symbols),
        args.latency_ms,
        limit,
        window_s,
        since,
        since + (per_symbol // PAGE + 1) * PAGE * MINUTE_MS,
    )
    print(
        f"1m candle backfill of {len(setup.symbols)} symbols ({', '.join(setup.symbols)}), "
        f"{setup.latency_ms:g} ms latency, budget {limit} weight / {window_s:g} s "
        f"(klines weight {KLINES_WEIGHT}), {(setup.now - since) // MINUTE_MS:,} candles per "
        f"symbol available; simulators in their own processes; SQLite; {os.cpu_count()} CPUs",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as folder:
        print(f"baseline: {baseline_seconds:g} s...", flush=True)
        base = run_baseline(setup, baseline_seconds, folder)
        print(f"ohmycoins: {seconds:g} s...", flush=True)
        ours, windows = asyncio.run(run_ohmycoins(setup, seconds, args.pages_in_flight, folder))
    report(ours, base, windows, setup)


if __name__ == "__main__":
    main()
