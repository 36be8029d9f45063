"""A worker process holding one live stream, for the takeover test
(`python -m tests.collectors.stream_worker_proc DB_URL SIM_URL WS_URL --lease S`).

It runs the real stream collector (Binance's format, BTC/USDT trades) under a real
`Worker` with a short lease, prints `READY <owner>` once running, and stops gracefully
on SIGTERM; the test SIGKILLs it to see another worker take the stream over.
"""

from __future__ import annotations

import argparse
import asyncio

from ohmycoins.collectors.clients import Sources
from ohmycoins.collectors.streams import StreamSpec, stream_collector
from ohmycoins.scheduling.policy import Policy
from ohmycoins.scheduling.registry import Registry
from ohmycoins.scheduling.worker import Worker
from ohmycoins.settings import Settings, SourceSettings
from ohmycoins.sources.exchange_ws import ExchangeStream
from ohmycoins.storage.database import Database
from tests.scheduling.processes import serve

SPEC = StreamSpec("binance", ("BTC/USDT",), ("trades",), batch_seconds=0.1, stale_seconds=5.0)


def registry(db: Database, sim_url: str, ws_url: str) -> tuple[Registry, Sources]:
    """The one stream collector, its client aimed at the simulator."""
    sources = Sources(Settings(), db, None)
    client = ExchangeStream("binance", SourceSettings(url=sim_url, ws_url=ws_url))
    return Registry([stream_collector(sources, SPEC, client)]), sources


async def _serve(args: argparse.Namespace) -> None:
    db = Database(args.url)
    streams, sources = registry(db, args.sim, args.ws)
    policy = Policy(lease_seconds=args.lease, idle_cap_seconds=0.2, stop_timeout_seconds=5.0)
    worker = Worker(db, streams, policy)
    try:
        await serve(worker)
    finally:
        await sources.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("sim")
    parser.add_argument("ws")
    parser.add_argument("--lease", type=float, default=2.0)
    asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
