"""The raw capture of a live stream, and the clock the stream stores by.

Format: JSON lines compressed with zstd, one file per exchange, channel and UTC hour,
`<capture_dir>/<exchange>/<channel>/<YYYY-MM-DDTHH>.jsonl.zst`. The channels are the
stream's (`trades`, `book`, `ticker`, `candles`), `control` (subscription answers and
other websocket messages), `rest` (every REST answer the stream asked for: markets,
book snapshots, trades by id) and `marks` (the stream's timers firing, and its start).
One line is one event; `t` is its local receive time (ms, UTC epoch), `n` its number in
the process (the order of events received in the same millisecond):

    {"t": 1735689600123, "n": 17, "g": 1, "url": "/ws/0", "msg": {...}}   websocket
    {"t": 1735689600130, "n": 18, "rest": "GET /api/v3/depth?symbol=BTCUSDT", "body": {...}}
    {"t": 1735689601000, "n": 19, "mark": "book"}                         a timer fired
    {"t": 1735689600000, "n": 0, "mark": "start", "spec": {...}}          a stream started

`g` is 1 when a websocket message was handled in the same event-loop turn as the event
before it (nothing of the stream ran between the two), so a replay hands them over
together, as the socket did. `url` and `rest` are without scheme and host.

Lines are batched in memory and written by a worker thread every `flush_seconds`; each
batch is a complete zstd frame appended to its file, so a killed process loses at most
the batch in memory, and a reader uses every complete frame of a truncated file.
"""

from __future__ import annotations

import asyncio
import calendar
import functools
import heapq
import logging
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import zstandard

from ohmycoins.timeframes import now_ms

log = logging.getLogger(__name__)

SUFFIX = ".jsonl.zst"
HOUR_MS = 3_600_000
_SCHEME_HOST = re.compile(r"^[a-z]+://[^/]+", re.IGNORECASE)


SETTLE_TURNS = 20
"""Loop turns that let a stream finish handling what it received (a ccxt future wakes
its watcher, which queues the records, within a few)."""


async def settle(turns: int = SETTLE_TURNS) -> None:
    """Let the loop run every task woken so far, and what those wake in turn."""
    for _ in range(turns):
        await asyncio.sleep(0)


class Clock:
    """When things happen, as a stream stores them: each event is stamped as it
    arrives (live, with the wall clock; in a replay, with its captured receive time),
    and `now_ms` is the latest stamp. Whatever decides what is stored reads this."""

    def __init__(self) -> None:
        self.latest_ms = 0

    def stamp(self) -> int:
        """An event arrives now: its receive time."""
        self.latest_ms = now_ms()
        return self.latest_ms

    def now_ms(self) -> int:
        return self.latest_ms or now_ms()


@functools.lru_cache(maxsize=256)
def without_host(url: str) -> str:
    """`url` without its scheme and host: the part a capture and its replay share.
    (Remembered: every captured message names its socket's URL, one of a few.)"""
    return _SCHEME_HOST.sub("", url)


def capture_path(directory: Path, exchange: str, channel: str, at_ms: int) -> Path:
    """The file of `channel` for the UTC hour of `at_ms`."""
    return _hour_path(directory, exchange, channel, at_ms // HOUR_MS)


@functools.lru_cache(maxsize=256)
def _hour_path(directory: Path, exchange: str, channel: str, hour: int) -> Path:
    name = time.strftime("%Y-%m-%dT%H", time.gmtime(hour * HOUR_MS / 1000))
    return directory / exchange / channel / f"{name}{SUFFIX}"


def expire_captures(directory: Path, before_ms: int, *, dry_run: bool = False) -> int:
    """Delete the capture files whose whole hour ended by `before_ms` (only count them
    when `dry_run`); returns how many. Files not named as the writer names them stay."""
    gone = 0
    for path in directory.glob(f"*/*/*{SUFFIX}"):
        hour = _file_hour(path)
        if hour is not None and (hour + 1) * HOUR_MS <= before_ms:
            if not dry_run:
                path.unlink(missing_ok=True)
            gone += 1
    return gone


def _file_hour(path: Path) -> int | None:
    """The UTC hour (hours since the epoch) a capture file holds, from its name."""
    try:
        started = calendar.timegm(time.strptime(path.name.removesuffix(SUFFIX), "%Y-%m-%dT%H"))
    except ValueError:
        return None
    return started // 3600


class CaptureWriter:
    """Appends a stream's events to its capture files without holding up the loop:
    events are encoded at once (ccxt may change its objects later), written in batches."""

    def __init__(self, directory: Path, exchange: str, flush_seconds: float = 0.25) -> None:
        self.directory = directory
        self.exchange = exchange
        self.flush_seconds = flush_seconds
        self.events = 0
        self.bytes_written = 0
        self._pending: list[tuple[Path, bytes]] = []
        self._number = 0
        self._turn_open = False
        self._last_was_message = False
        self._timer: asyncio.TimerHandle | None = None
        self._writing: asyncio.Task[None] | None = None

    def message(self, url: str, message: Any, received_ms: int, channel: str) -> None:
        together = self._turn_open and self._last_was_message
        event = {"g": int(together), "url": without_host(url), "msg": message}
        self._add(channel, received_ms, event, is_message=True)

    def rest(self, method: str, url: str, body: Any, received_ms: int) -> None:
        self._add("rest", received_ms, {"rest": f"{method} {without_host(url)}", "body": body})

    def mark(self, name: str, at_ms: int, **values: Any) -> None:
        self._add("marks", at_ms, {"mark": name, **values})

    def _add(
        self, channel: str, at_ms: int, event: dict[str, Any], is_message: bool = False
    ) -> None:
        line = orjson.dumps({"t": at_ms, "n": self._number, **event}) + b"\n"
        self._number += 1
        self._pending.append((capture_path(self.directory, self.exchange, channel, at_ms), line))
        self._last_was_message = is_message
        loop = asyncio.get_running_loop()
        if not self._turn_open:
            self._turn_open = True
            loop.call_soon(self._turn_over)
        if self._timer is None:
            self._timer = loop.call_later(self.flush_seconds, self._write_soon)

    def span_files(self, first_ms: int, last_ms: int) -> str:
        """The capture files (a glob a shell expands) holding the events of a span."""
        hours = range(first_ms // HOUR_MS, last_ms // HOUR_MS + 1)
        return " ".join(
            str(capture_path(self.directory, self.exchange, "*", hour * HOUR_MS)) for hour in hours
        )

    def _turn_over(self) -> None:
        self._turn_open = False

    def _write_soon(self) -> None:
        self._timer = None
        if self._writing is not None and not self._writing.done():
            self._timer = asyncio.get_running_loop().call_later(
                self.flush_seconds, self._write_soon
            )
            return
        batch, self._pending = self._pending, []
        self._writing = asyncio.create_task(asyncio.to_thread(self._write, batch))

    async def flush(self) -> None:
        """Write everything received so far (a stream stopping)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._writing is not None:
            await self._writing
        batch, self._pending = self._pending, []
        if batch:
            await asyncio.to_thread(self._write, batch)

    def _write(self, batch: list[tuple[Path, bytes]]) -> None:
        """One zstd frame per file of the batch, appended (runs in a worker thread)."""
        by_file: dict[Path, list[bytes]] = defaultdict(list)
        for path, line in batch:
            by_file[path].append(line)
        compressor = zstandard.ZstdCompressor(level=3)
        for path, lines in by_file.items():
            frame = compressor.compress(b"".join(lines))
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("ab") as file:
                    file.write(frame)
            except OSError as exc:
                log.error("capture: %d event(s) not written to %s: %s", len(lines), path, exc)
                continue
            self.events += len(lines)
            self.bytes_written += len(frame)


@dataclass(frozen=True, slots=True)
class Event:
    """One captured event: `kind` is `message`, `rest` or `mark`; `line` the whole line."""

    t: int
    n: int
    kind: str
    line: dict[str, Any]


def read_events(paths: Iterable[Path], errors: list[str]) -> Iterator[Event]:
    """The events of capture files merged by receive time (then number). A file that is
    missing, truncated or corrupt adds one line to `errors` and yields what it holds
    before the damage; the other files are read on."""
    streams = [_file_events(path, errors) for path in paths]
    return heapq.merge(*streams, key=lambda event: (event.t, event.n))


def _file_events(path: Path, errors: list[str]) -> Iterator[Event]:
    count = 0
    try:
        for raw in _lines(path):
            line = orjson.loads(raw)
            yield Event(int(line["t"]), int(line["n"]), _kind(line), line)
            count += 1
    except (OSError, zstandard.ZstdError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
        errors.append(f"capture {path}: unreadable after {count} event(s): {exc}")


def _kind(line: dict[str, Any]) -> str:
    for kind, key in (("message", "msg"), ("rest", "rest"), ("mark", "mark")):
        if key in line:
            return kind
    raise KeyError("no msg, rest or mark")


def _lines(path: Path) -> Iterator[bytes]:
    """The lines of a capture file, frame by frame; a frame cut short is an error
    (after the lines of the frames before it)."""
    data = path.read_bytes()
    decompressor = zstandard.ZstdDecompressor()
    while data:
        frame = decompressor.decompressobj()
        text = frame.decompress(data)
        if not frame.eof:
            raise zstandard.ZstdError("last frame cut short")
        yield from text.splitlines()
        data = frame.unused_data
