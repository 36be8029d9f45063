"""`omc replay`: a raw capture stored again through the live stream's own path.

The capture's first event is the stream's start mark, which holds what it watched (its
`StreamSpec`); a `Stream` of that spec runs over a `ReplayStream` (sources/replay.py)
into the database given, so parsing, book maintenance, checks, quarantine, micro-batches
and the publish-then-store step (`check_and_publish`, `store_published`) are the live
ones. Rows are upserted: replaying into a database that holds part of the capture (a
stream that spilled) stores what is missing.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ohmycoins.collectors.streams import Stream, StreamSpec
from ohmycoins.errors import SourceError
from ohmycoins.publish import Broker
from ohmycoins.scheduling.registry import RunOutcome
from ohmycoins.sources.capture import SUFFIX, Event, read_events
from ohmycoins.sources.replay import ReplayFeed, ReplayStream
from ohmycoins.storage.database import Database

REPLAY_STALE_SECONDS = 1e9
"""No watchdog in a replay: the capture's gaps are the live socket's, already handled."""


@dataclass
class Replay:
    """What a replay did: its outcome, the feed (clock values handed out) and the
    one-line errors of files it could not read to the end."""

    outcome: RunOutcome
    feed: ReplayFeed
    errors: list[str]


def capture_files(paths: Iterable[Path]) -> list[Path]:
    """The files named, and the capture files under the directories named."""
    files: list[Path] = []
    for path in paths:
        files += sorted(path.rglob(f"*{SUFFIX}")) if path.is_dir() else [path]
    return files


async def replay(
    paths: Iterable[Path], db: Database, broker: Broker | None, speed: float | None = None
) -> Replay:
    """Replay the capture files `paths` into `db`, at `speed` (None: as fast as stored)."""
    errors: list[str] = []
    files = capture_files(paths)
    events = read_events(files, errors)
    start = next(events, None)
    if start is None or start.line.get("mark") != "start":
        raise SourceError("replay", f"{_names(files)}: no stream start mark first ({_seen(start)})")
    feed = ReplayFeed(events, speed)
    client = ReplayStream(str(start.line["ccxt"]), feed, name=str(start.line["exchange"]))
    stream = Stream(replay_spec(start.line["spec"]), client, db, broker)
    stopping = asyncio.Event()
    job = asyncio.create_task(stream.run(stopping))
    try:
        await _feed_while_running(feed, stream, job)
    finally:
        stopping.set()
        outcome = await job
        await client.close()
    return Replay(outcome, feed, errors)


async def _feed_while_running(feed: ReplayFeed, stream: Stream, job: asyncio.Task[Any]) -> None:
    """Feed the capture; a stream that ends first (an error) ends the replay."""
    feeding = asyncio.create_task(feed.run(lambda: not stream.queue_full))
    await asyncio.wait({feeding, job}, return_when=asyncio.FIRST_COMPLETED)
    if not feeding.done():
        feeding.cancel()
    else:
        await feeding


def replay_spec(values: dict[str, Any]) -> StreamSpec:
    """The captured spec, without a watchdog."""
    tuples = {key: tuple(values[key]) for key in ("symbols", "channels")}
    spec = StreamSpec(**{**values, **tuples})
    return dataclasses.replace(spec, stale_seconds=REPLAY_STALE_SECONDS)


def _names(files: list[Path]) -> str:
    return ", ".join(str(f) for f in files[:3]) + (" ..." if len(files) > 3 else "") or "no file"


def _seen(event: Event | None) -> str:
    return "empty" if event is None else f"first event: {event.kind} at {event.t}"
