"""One live stream: an exchange, a group of symbols and channels, for as long as it runs.

    watchers (one per channel and symbol, ccxt.pro) ─► bounded queue ─► publisher
       │  trades, tickers, closed candles                  each item checked and
       │  the maintained book, checked ───► snapshotter    published at once
       │                                    (top N levels        │ bounded queue
       └─ watchdog: quiet socket → reconnect  every cadence)     ▼
                                          storer: micro-batches (≤ 500 ms or 5,000
                                          records) → REST fill of missed trade ids
                                          (published too) → commit

- A session is one connection's watchers and its watchdog. Any of them ending (a
  socket gone quiet past `stale_seconds`, a network error) ends the session: sockets
  are recycled (closed, caches and all) and a new session starts after an exponential
  backoff with jitter, and never before the exchange's connection limits allow as
  many new sockets as the last session opened (`ConnectionPacer`).
- A book that breaks a rule (sequence, checksum, sort, crossed) is discarded by the
  source layer and resynced from a fresh snapshot; here it is counted and logged, and
  no snapshot of it is taken until a checked book comes back. Resyncs that keep
  failing back off as reconnects do. Every snapshot is checked again before it is
  queued: no invalid book is served.
- Trades: before a batch is stored, the trade ids of each symbol are checked against
  the last one stored; a hole (a reconnect, a takeover, ccxt's bounded cache outrun)
  is filled over REST by id first (`fetch_trades_from_id`: Binance pages forward,
  Coinbase backwards), stored a chunk at a time with the cursor, so the stored ids
  stay consecutive, one row per id, and a long hole never sits whole in memory.
- Publish first: a record reaches subscribers as soon as it passes the checks
  (`check_and_publish`), while the storer commits it in its micro-batch
  (`store_published`), one commit in flight; a commit that fails is retried with the
  same records (the upsert is idempotent), so what was published is stored.
- Candles: stored only once closed (the exchange's flag, or, where it sends none, the
  interval's end plus `settle_ms`); the candle in progress is published, flagged, and
  never stored.
- Time: whatever decides what is stored (ticker and snapshot times, the snapshot
  cadence, candle settling, batch times) reads the client's `clock` (the receive time of
  the latest event) and its captured `timer`s, never the wall clock, so that `omc
  replay` of the raw capture (`sources/capture.py`, `collectors/replay.py`) stores the
  same rows. The watchdog and backoff delays alone read the wall clock.
- Bounded memory: one bounded queue between the watchers and the storer. When storage
  falls behind and it is full, trades and candles wait for room (the socket is then
  read late; ids ccxt's cache dropped meanwhile are filled over REST); tickers and
  book snapshots are spilled (`Spill`): counted in `spilled`, logged with the span of
  receive times and the capture files that hold it, and stored by `omc replay` of
  those files into the same database. Stopping stores what was queued, the batch being
  gathered, and what the sockets had handed over; frames arriving after that are
  neither captured nor stored (the next run fills their trades by id).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection

from ohmycoins.collectors.clients import SIM_EXCHANGE, Sources
from ohmycoins.collectors.collect import check_and_publish, run_outcome, store_published
from ohmycoins.errors import SourceError, StorageError, TemporarySourceError
from ohmycoins.publish import Broker, stream_stats_key
from ohmycoins.quality.books import book_problem
from ohmycoins.records import Candle, OrderBook, Record, Trade
from ohmycoins.scheduling.registry import Collector, RunContext, RunOutcome
from ohmycoins.scheduling.schedule import Schedule
from ohmycoins.scheduling.worker import cancel_and_wait
from ohmycoins.settings import (
    STREAM_CHANNELS,
    STREAM_RESYNC_TIMES,
    SourceSettings,
    StreamSettings,
)
from ohmycoins.sources.capture import CaptureWriter, settle
from ohmycoins.sources.exchange import parse_ohlcv, parse_tickers, parse_trades
from ohmycoins.sources.exchange_ws import (
    ExchangeStream,
    ResyncError,
    book_depth,
    exchange_time,
    top_levels,
)
from ohmycoins.sources.parsing import Parsed
from ohmycoins.storage.cursors import SeriesKey, read_cursor, write_cursor
from ohmycoins.storage.database import Database
from ohmycoins.timeframes import now_ms, timeframe_ms

log = logging.getLogger(__name__)

LAG_SAMPLES = 10_000
"""Lag samples kept per stream (the latest ones), for percentiles."""

FILL_PAGE = 1000
"""Trades asked for in one REST page of a fill (Binance's and Coinbase's most)."""

STREAM_SCHEDULE = Schedule.every(5)
"""How soon a stream that ended (its worker stopped, or it failed) is due again."""


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """What one stream watches, and how it batches, snapshots and watches itself."""

    exchange: str
    symbols: tuple[str, ...]
    channels: tuple[str, ...] = ("trades", "book", "ticker")
    depth: int = 50
    """Levels a side of each stored book snapshot."""
    book_levels: int = 100
    """Levels a side of the maintained book (at least `depth`; rounded up to a depth the
    exchange accepts, or its whole book where it sends only that)."""
    snapshot_seconds: float = 1.0
    timeframe: str = "1m"
    batch_seconds: float = 0.5
    batch_records: int = 5_000
    queue_size: int = 10_000
    stale_seconds: float = 30.0
    """A socket quiet for longer is reconnected (the stream's normal gap is far less)."""
    settle_ms: int = 2_000
    fill_chunk: int = 10_000
    """Trade ids fetched over REST and stored together when a hole is filled."""
    backoff_initial_seconds: float = 0.5
    backoff_max_seconds: float = 30.0

    @property
    def name(self) -> str:
        """The collector (task) name: one stream per exchange, whatever it watches."""
        return f"{self.exchange}_stream"


@dataclass
class StreamStats:
    """Counts and lags of one stream since it started (health, metrics, status line)."""

    messages: int = 0
    reconnects: int = 0
    resyncs: int = 0
    sequence_breaks: int = 0
    """Messages out of sequence, or after a gap in it (the source layer's count)."""
    stale_seconds: float = 0.0
    stored: int = 0
    quarantined: int = 0
    filled: int = 0
    """Trades fetched over REST to close a hole in the ids."""
    spilled: int = 0
    """Latest-value items (tickers, books) dropped because the queue was full."""
    books_served: int = 0
    exchange_lag_ms: int | None = None
    publish_lag_ms: int | None = None
    last_message_ms: int | None = None
    queue_depth: int = 0
    started_ms: int = field(default_factory=now_ms)
    last_by_channel: dict[str, int] = field(default_factory=dict)
    commit_lags_ms: deque[int] = field(default_factory=lambda: deque(maxlen=LAG_SAMPLES))
    """Per stored batch: its first record's receive time to its commit (bounded)."""
    publish_lags_ms: deque[int] = field(default_factory=lambda: deque(maxlen=LAG_SAMPLES))
    """Per queued item (a message's records): its receive time to its publish (bounded)."""
    resync_times: deque[int] = field(default_factory=lambda: deque(maxlen=STREAM_RESYNC_TIMES))
    """When the latest resyncs happened (the alert on resyncs counts those in its window)."""
    _window: list[tuple[int, int]] = field(default_factory=list)

    def saw(self, channel: str, received_ms: int, exchange_ms: int | None) -> None:
        """Count a message of `channel` received at `received_ms` (sent at `exchange_ms`)."""
        self.messages += 1
        self.last_message_ms = received_ms
        self.last_by_channel[channel] = received_ms
        if exchange_ms is not None:
            self.exchange_lag_ms = received_ms - exchange_ms

    def resynced(self, at: int) -> None:
        """Count a book discarded and resynced at `at`."""
        self.resyncs += 1
        self.resync_times.append(at)

    def report(self, now: int) -> dict[str, Any]:
        """What health and metrics show of the stream (JSON-ready)."""
        last = self.last_message_ms
        return {
            "messages": self.messages,
            "messages_per_second": round(self.rate(now), 3),
            "exchange_lag_ms": self.exchange_lag_ms,
            "publish_lag_ms": self.publish_lag_ms,
            "reconnects": self.reconnects,
            "resyncs": self.resyncs,
            "sequence_breaks": self.sequence_breaks,
            "stale_seconds": round(self.stale_seconds, 3),
            "quiet_seconds": None if last is None else max(0.0, (now - last) / 1000),
            "queue_depth": self.queue_depth,
            "spilled": self.spilled,
            "stored": self.stored,
            "quarantined": self.quarantined,
            "filled": self.filled,
            "started_ts": self.started_ms,
            "last_message_ts": last,
            "resync_times": list(self.resync_times),
            "reported_ts": now,
        }

    def rate(self, now: int) -> float:
        """Messages a second over about the last five seconds."""
        self._window.append((now, self.messages))
        while len(self._window) > 2 and now - self._window[1][0] >= 5_000:
            self._window.pop(0)
        (then, count) = self._window[0]
        return (self.messages - count) * 1000 / (now - then) if now > then else 0.0


@dataclass
class Spill:
    """One span of latest-value records (tickers, book snapshots) dropped while the
    queue was full (storage behind): logged when it begins and, with its size and the
    capture files that still hold it, when it ends. Those records are recovered by
    `omc replay` of the files into the same database (rows are upserted, so what was
    stored already is left as it is). Trades and candles are never spilled: their
    watchers wait for room (and trade ids missed meanwhile are filled over REST)."""

    stream: str
    first_ms: int | None = None
    last_ms: int = 0
    records: int = 0

    def dropped(self, received_ms: int, records: int) -> None:
        if self.first_ms is None:
            self.first_ms = received_ms
            log.warning("%s: queue full, spilling tickers and books to the capture", self.stream)
        self.last_ms = received_ms
        self.records += records

    def ended(self, capture: CaptureWriter | None) -> None:
        if self.first_ms is None:
            return
        files = (
            "no capture: lost"
            if capture is None
            else capture.span_files(self.first_ms, self.last_ms)
        )
        log.warning(
            "%s: %d record(s) spilled, received %d to %d; omc replay stores them: %s",
            self.stream,
            self.records,
            self.first_ms,
            self.last_ms,
            files,
        )
        self.first_ms, self.records = None, 0


@dataclass(frozen=True, slots=True)
class _Item:
    """What a watcher hands the storer: records, when received, and what to do."""

    received_ms: int
    records: list[Record]
    in_progress: list[Record] = field(default_factory=list)
    rejected: Parsed[Any] | None = None


@dataclass(frozen=True, slots=True)
class _Published:
    """What the publisher hands the storer: an item's checked records (published)."""

    received_ms: int
    checked: Parsed[Any]
    trades: list[Trade]
    """Every trade of the item, valid or not: their ids move the trade cursor."""


class Stream:
    """One stream run: `await Stream(...).run(stopping)` until `stopping` is set."""

    def __init__(
        self,
        spec: StreamSpec,
        client: ExchangeStream,
        db: Database,
        broker: Broker | None,
    ) -> None:
        self.spec = spec
        self.client = client
        self.db = db
        self.broker = broker
        self.stats = StreamStats()
        self._queue: asyncio.Queue[_Item | None] = asyncio.Queue(spec.queue_size)
        self._published: asyncio.Queue[_Published | None] = asyncio.Queue(spec.queue_size)
        self._stopping = False
        self._open: dict[tuple[str, int], Candle] = {}
        self._last_trade: dict[str, int | None] = {}
        self._spill = Spill(spec.name)
        client.on_message = self._on_message

    def _on_message(self, channel: str, message: Any, received_ms: int) -> None:
        if channel != "control":
            self.stats.saw(channel, received_ms, exchange_time(message))

    async def run(self, stopping: asyncio.Event) -> RunOutcome:
        """Watch, check and store until `stopping` is set; then store what is queued."""
        for channel in self.spec.channels:
            if channel not in STREAM_CHANNELS:
                known = list(STREAM_CHANNELS)
                raise SourceError(self.client.id, f"unknown channel {channel!r}; use {known}")
        await self._report()  # this run's report replaces the one its last run left
        if self.client.capture is not None:
            self._mark_start(self.client.capture)
        await self.client.load_markets()
        publisher = asyncio.create_task(self._publish_forever(), name=f"{self.spec.name}:publish")
        storer = asyncio.create_task(self._store_forever(), name=f"{self.spec.name}:store")
        reporter = asyncio.create_task(self._report_forever(), name=f"{self.spec.name}:report")
        connected = asyncio.create_task(self._connected(), name=f"{self.spec.name}:connect")
        stop = asyncio.create_task(stopping.wait())
        self.client.receiving = True
        try:
            running = {publisher, storer, connected, stop}
            await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in (publisher, storer, connected):
                if task.done() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            self.client.receiving = False  # the capture ends where handling does
            await settle()  # what the sockets handed over is queued, then stored
            await cancel_and_wait((connected, stop, reporter))
            await self._drain(publisher, storer)
            await self.client.recycle()
            await self._report()
            if self.client.capture is not None:
                await self.client.capture.flush()
        problem = f"{self.stats.resyncs} book resync(s)" if self.stats.resyncs else None
        return run_outcome(self.stats.stored, self.stats.quarantined, problem=problem)

    def _mark_start(self, capture: CaptureWriter) -> None:
        """The capture's first event: what a replay needs to run this stream again."""
        at = self.client.clock.stamp()
        spec = asdict(self.spec)
        capture.mark("start", at, spec=spec, ccxt=self.client.ccxt_id, exchange=self.client.id)

    @property
    def queue_full(self) -> bool:
        return self._queue.full()

    async def _report_forever(self, every: float = 1.0) -> None:
        while True:
            await self._report()
            await asyncio.sleep(every)

    async def _report(self) -> None:
        """Publish the counters as the stream's latest value (health, metrics)."""
        self.stats.queue_depth = self._depth()
        self.stats.sequence_breaks = self.client.sequence_breaks
        if self.broker is not None:
            report = self.stats.report(now_ms())
            await self.broker.set_latest(stream_stats_key(self.spec.name), report)

    # --- connection: sessions, watchdog, backoff ---------------------------------

    async def _connected(self) -> None:
        """Sessions one after another; a failed one is followed by a backoff."""
        failures = 0
        while True:
            before = self.stats.messages
            reason = await self._session()
            self.stats.reconnects += 1
            sockets = len(self.client.api.clients)
            await self.client.recycle()
            failures = 1 if self.stats.messages > before else failures + 1
            delay = self._reconnect_delay(failures, sockets)
            log.warning("%s reconnects in %.1fs: %s", self.spec.name, delay, reason)
            await self.client.timer("reconnect", delay)

    def _reconnect_delay(self, failures: int, sockets: int) -> float:
        """The backoff, or longer when the exchange's connection limits do not yet allow
        the `sockets` the next session opens."""
        return max(self._backoff(failures), self.client.pacer.delay(max(1, sockets)))

    def _backoff(self, failures: int) -> float:
        """Exponential in consecutive failures, capped, with full jitter on top."""
        base: float = self.spec.backoff_initial_seconds * 2.0 ** max(0, failures - 1)
        jitter = random.uniform(0, self.spec.backoff_initial_seconds)
        return min(self.spec.backoff_max_seconds, base) + jitter

    async def _session(self) -> str:
        """Run the watchers and the watchdog until one ends; returns why."""
        jobs: list[asyncio.Task[Any]] = [
            asyncio.create_task(self._watchdog(), name=f"{self.spec.name}:watchdog")
        ]
        for channel in self.spec.channels:
            for symbol in self.spec.symbols:
                job = self._watcher(channel, symbol)
                jobs.append(asyncio.create_task(job, name=f"{self.spec.name}:{channel}:{symbol}"))
        if "book" in self.spec.channels:
            jobs.append(asyncio.create_task(self._snapshots(), name=f"{self.spec.name}:books"))
        try:
            done, _ = await asyncio.wait(jobs, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_wait(jobs)
        ended = done.pop()
        error = ended.exception()
        if error is None:
            return str(ended.result())
        if isinstance(error, TemporarySourceError):
            return str(error)
        raise error

    async def _watchdog(self) -> str:
        """Returns when a channel has had no message for `stale_seconds` (each channel
        has its own sockets: one may stall while the others talk)."""
        started = now_ms()
        limit_ms = int(self.spec.stale_seconds * 1000)
        while True:
            last = min(self._heard(c, started) for c in self.spec.channels)
            quiet = now_ms() - last
            if quiet >= limit_ms:
                self.stats.stale_seconds += quiet / 1000
                quietest = min(self.spec.channels, key=lambda c: self._heard(c, started))
                return f"no {quietest} message for {quiet / 1000:.1f}s"
            await asyncio.sleep((limit_ms - quiet) / 1000)

    def _heard(self, channel: str, since: int) -> int:
        """When `channel` last spoke (for an exchange whose messages we cannot tell
        apart, when any did), but not before `since`."""
        heard = self.stats.last_by_channel
        return max(heard.get(channel, heard.get("data", 0)), since)

    def _watcher(self, channel: str, symbol: str) -> Coroutine[Any, Any, None]:
        watchers: dict[str, Callable[[str], Coroutine[Any, Any, None]]] = {
            "trades": self._watch_trades,
            "book": self._watch_book,
            "ticker": self._watch_ticker,
            "candles": self._watch_candles,
        }
        return watchers[channel](symbol)

    # --- watchers: wire → records → queue ----------------------------------------

    async def _watch_trades(self, symbol: str) -> None:
        while True:
            raw = await self.client.watch_trades(symbol)
            parsed = parse_trades(self.client.id, symbol, raw)
            at = self.client.clock.now_ms()
            await self._queue.put(_Item(at, list(parsed.records), rejected=parsed))

    async def _watch_ticker(self, symbol: str) -> None:
        while True:
            raw = await self.client.watch_ticker(symbol)
            at = self.client.clock.now_ms()
            parsed = parse_tickers(self.client.id, {symbol: raw}, at)
            self._offer(_Item(at, list(parsed.records), rejected=parsed))

    async def _watch_candles(self, symbol: str) -> None:
        step = timeframe_ms(self.spec.timeframe)
        while True:
            rows = await self.client.watch_ohlcv(symbol, self.spec.timeframe)
            at = self.client.clock.now_ms()
            parsed = parse_ohlcv(self.client.id, symbol, self.spec.timeframe, rows)
            closed: list[Record] = []
            live: list[Record] = []
            for candle in parsed.records:
                flag = self.client.candle_closed(symbol, self.spec.timeframe, candle.ts)
                if flag is None:
                    self._open[(symbol, candle.ts)] = candle  # closes after the settle delay
                (closed if flag else live).append(candle)
            closed += self._settled(symbol, at - step - self.spec.settle_ms)
            await self._queue.put(_Item(at, closed, in_progress=live, rejected=parsed))

    def _settled(self, symbol: str, opened_by: int) -> list[Record]:
        """Candles without a closed flag whose interval and settle delay have passed."""
        done = [key for key in self._open if key[0] == symbol and key[1] <= opened_by]
        return [self._open.pop(key) for key in sorted(done)]

    async def _watch_book(self, symbol: str) -> None:
        """Watch one book. A discarded book is resynced at once; while resyncs follow
        each other with no diff applied in between (a snapshot that never meets the
        diffs), each waits longer than the last, so a book that cannot sync does not
        spend the REST budget, or the loop, in a tight circle."""
        failed = updates = 0
        while True:
            try:
                book = await self.client.watch_order_book(symbol, self._book_depth())
            except ResyncError as exc:
                self.stats.resynced(now_ms())
                log.warning("%s: %s book discarded, resyncing: %s", self.spec.name, symbol, exc)
                failed, updates = failed + 1, 0
                if failed > 1:
                    await self.client.timer(f"resync {symbol}", self._backoff(failed - 1))
                continue
            updates += 1
            if updates > 1:  # a diff applied to the snapshot: the resync held
                failed = 0
            problem = book_problem(book["bids"], book["asks"])
            if problem:
                self.stats.resynced(now_ms())
                raise ResyncError(self.client.id, f"{symbol} book not served: {problem}")

    def _book_depth(self) -> int | None:
        return book_depth(self.client.ccxt_id, max(self.spec.depth, self.spec.book_levels))

    async def _snapshots(self) -> None:
        """Every `snapshot_seconds`, the top `depth` levels of each book synced and
        checked: read from the source's book as it is at the timer's firing (not as a
        watcher last saw it), so a replay firing at the same point reads the same."""
        while True:
            at = await self.client.timer("book", self.spec.snapshot_seconds)
            snapshots: list[Record] = []
            for symbol in self.spec.symbols:
                book = self.client.synced_book(symbol)
                if book is None:
                    continue
                bids = top_levels(book["bids"], self.spec.depth)
                asks = top_levels(book["asks"], self.spec.depth)
                if book_problem(bids, asks) is None:
                    snapshots.append(
                        OrderBook(self.client.id, symbol, at, tuple(bids), tuple(asks))
                    )
            if snapshots:
                self.stats.books_served += len(snapshots)
                self._offer(_Item(at, snapshots))

    def _offer(self, item: _Item) -> None:
        """Queue a latest-value item; when the queue is full it is spilled (see
        `Spill`): counted, logged, left to the capture."""
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self.stats.spilled += len(item.records)
            self._spill.dropped(item.received_ms, len(item.records))
        else:
            self._spill.ended(self.client.capture)

    def _depth(self) -> int:
        """Items waiting to be published or stored."""
        return self._queue.qsize() + self._published.qsize()

    # --- publisher: each item checked and published as it comes ------------------

    async def _publish_forever(self) -> None:
        """Until the queue's end (None, queued by `_drain`), passed on to the storer."""
        while (item := await self._queue.get()) is not None:
            await self._published.put(await self._publish(item))
        await self._published.put(None)

    async def _publish(self, item: _Item) -> _Published:
        """Check an item's records and publish the valid ones now (publish first)."""
        violations = item.rejected.violations if item.rejected else []
        parsed: Parsed[Any] = Parsed(item.records, violations)
        checked = await check_and_publish(
            self.broker, parsed, now_ms(), in_progress=item.in_progress
        )
        self.stats.publish_lag_ms = now_ms() - item.received_ms
        self.stats.publish_lags_ms.append(self.stats.publish_lag_ms)
        trades = [record for record in item.records if isinstance(record, Trade)]
        return _Published(item.received_ms, checked, trades)

    # --- storer: micro-batches of published records, committed ------------------

    async def _store_forever(self) -> None:
        """Batch after batch until the queue's end (None), whose batch is stored too."""
        while (first := await self._published.get()) is not None:
            batch, ended = await self._batch_after(first)
            await self._store_until_stored(batch)
            if ended:
                return

    async def _batch_after(self, first: _Published) -> tuple[list[_Published], bool]:
        """`first` and what follows it within `batch_seconds`, up to `batch_records`;
        and whether the queue's end came."""
        loop = asyncio.get_running_loop()
        batch = [first]
        size = len(first.checked.records)
        deadline = loop.time() + self.spec.batch_seconds
        while size < self.spec.batch_records and (left := deadline - loop.time()) > 0:
            try:
                item = await asyncio.wait_for(self._published.get(), left)
            except TimeoutError:
                break
            if item is None:
                return batch, True
            batch.append(item)
            size += len(item.checked.records)
        return batch, False

    async def _store_until_stored(self, batch: list[_Published]) -> None:
        """Store a batch, waiting out a database or REST fill that fails for a while
        (with backoff; the queues fill up meanwhile, then hold the watchers back)."""
        failures = 0
        while True:
            try:
                await self._store(batch)
                return
            except (TemporarySourceError, StorageError) as exc:
                if self._stopping:  # the next run fills the trades by id
                    log.warning("%s: last batch not stored: %s", self.spec.name, exc)
                    return
                failures += 1
                delay = self._backoff(failures)
                log.warning("%s: batch not stored (%s); again in %.1fs", self.spec.name, exc, delay)
                await asyncio.sleep(delay)

    async def _drain(self, publisher: asyncio.Task[None], storer: asyncio.Task[None]) -> None:
        """Let the publisher and the storer take what is queued to its end, then stop
        (a last batch that fails is not retried)."""
        self._stopping = True
        if storer.done():
            await cancel_and_wait((publisher,))
            return
        if publisher.done():
            await self._published.put(None)
        else:
            await self._queue.put(None)
        await asyncio.gather(publisher, storer, return_exceptions=True)
        self._spill.ended(self.client.capture)

    async def _store(self, batch: list[_Published]) -> None:
        self.stats.queue_depth = self._depth()
        trades = [trade for item in batch for trade in item.trades]
        await self._fill_holes(trades)
        records = [record for item in batch for record in item.checked.records]
        violations = [v for item in batch for v in item.checked.violations]
        first_received = min(item.received_ms for item in batch)
        await self._commit(
            Parsed(records, violations),
            _newest_trades(trades),
            after_commit=lambda: self.stats.commit_lags_ms.append(now_ms() - first_received),
        )

    async def _commit(
        self,
        checked: Parsed[Any],
        newest: dict[str, Trade],
        after_commit: Callable[[], None] | None = None,
    ) -> None:
        """Store checked records, and move each symbol's trade cursor to its trade in
        `newest` in the same transaction."""
        result = await store_published(
            self.db,
            self.client.id,
            checked,
            now_ms(),
            before_commit=functools.partial(self._advance, newest),
            after_commit=after_commit,
        )
        for symbol, trade in newest.items():
            self._last_trade[symbol] = max(int(trade.trade_id), self._last_trade.get(symbol) or 0)
        self.stats.stored += result.written
        self.stats.quarantined += result.quarantined

    async def _fill_holes(self, trades: list[Trade]) -> None:
        """Store the trades missing between the last stored id (or, for a symbol with
        none stored, the first of these) and the newest of these, fetched over REST by
        id, before these are stored."""
        if not self.client.pages_trade_ids:
            return
        for symbol in sorted({t.symbol for t in trades}):
            ids = sorted(int(t.trade_id) for t in trades if t.symbol == symbol)
            last = await self._last_trade_id(symbol)
            span = _missing_span(ids[0] - 1 if last is None else last, ids)
            if span is None:
                continue
            name = self.spec.name
            log.info("%s: %s trade ids %d..%d missing; fetching them", name, symbol, *span)
            await self._fill(symbol, *span, streamed=set(ids))

    async def _fill(self, symbol: str, first: int, last: int, streamed: set[int]) -> None:
        """Fetch and store the trades with ids in [`first`, `last`], `fill_chunk` ids at
        a time: a long outage's hole is held in memory a chunk at a time, and a fill cut
        short resumes after the last chunk stored. Ids the stream has (`streamed`) are
        left to their own batch, published once; the cursor stops below the first of
        them until that batch is stored."""
        unstored = min((i for i in streamed if i >= first), default=None)
        while first <= last:
            end = min(last, first + self.spec.fill_chunk - 1)
            fetched = await self._fetch_ids(symbol, first, end)
            if not fetched:
                return  # the exchange has no more
            missing = [t for t in fetched if int(t.trade_id) not in streamed]
            self.stats.filled += len(missing)
            checked = await check_and_publish(self.broker, Parsed(missing), now_ms())
            below = [t for t in missing if unstored is None or int(t.trade_id) < unstored]
            await self._commit(checked, _newest_trades(below))
            first = max(int(t.trade_id) for t in fetched) + 1

    async def _fetch_ids(self, symbol: str, first: int, last: int) -> list[Trade]:
        """Trades with ids in [`first`, `last`] over REST, page by page (a page asks for
        no more than the span left); an empty page ends it (the exchange has no more)."""
        fetched: list[Trade] = []
        while first <= last:
            size = min(FILL_PAGE, last - first + 1)
            raw = await self.client.fetch_trades_from_id(symbol, first, size)
            parsed = parse_trades(self.client.id, symbol, raw).records
            page = [t for t in parsed if int(t.trade_id) <= last]
            if not page:
                break
            fetched += page
            first = max(int(t.trade_id) for t in page) + 1
        return fetched

    async def _last_trade_id(self, symbol: str) -> int | None:
        if symbol not in self._last_trade:
            key = SeriesKey(self.client.id, "trades", symbol)
            _, cursor_id = await asyncio.to_thread(_read_cursor, self.db, key)
            self._last_trade[symbol] = int(cursor_id) if cursor_id and cursor_id.isdigit() else None
        return self._last_trade[symbol]

    def _advance(self, newest: dict[str, Trade], conn: Connection) -> None:
        """Move each symbol's trade cursor to its newest trade id (`_newest_trades`),
        never back."""
        for symbol, trade in newest.items():
            key = SeriesKey(self.client.id, "trades", symbol)
            _, stored = read_cursor(conn, key)
            if stored is None or not stored.isdigit() or int(stored) < int(trade.trade_id):
                write_cursor(conn, key, trade.ts, ts=trade.ts, id=trade.trade_id)


def _newest_trades(records: list[Trade]) -> dict[str, Trade]:
    """The trade with the newest (integer) id of each symbol among `records`."""
    newest: dict[str, Trade] = {}
    for trade in records:
        if isinstance(trade, Trade) and trade.trade_id.isdigit():
            kept = newest.get(trade.symbol)
            if kept is None or int(trade.trade_id) > int(kept.trade_id):
                newest[trade.symbol] = trade
    return newest


def _missing_span(last: int, ids: list[int]) -> tuple[int, int] | None:
    """The oldest and the newest id missing between `last` and the newest of `ids`
    (in any order, repeats allowed); None when none is."""
    span: tuple[int, int] | None = None
    expected = last + 1
    for trade_id in sorted({trade_id for trade_id in ids if trade_id > last}):
        if trade_id > expected:  # a hole: expected .. trade_id - 1
            span = (expected if span is None else span[0], trade_id - 1)
        expected = trade_id + 1
    return span


def _read_cursor(db: Database, key: SeriesKey) -> tuple[int | None, str | None]:
    with db.engine.connect() as conn:
        return read_cursor(conn, key)


def stream_specs(settings: StreamSettings, exchange: str, symbols: tuple[str, ...]) -> StreamSpec:
    """The stream `[streams]` asks for on one exchange."""
    return StreamSpec(
        exchange,
        settings.symbols or symbols,
        settings.channels,
        depth=settings.depth,
        snapshot_seconds=settings.snapshot_seconds,
        timeframe=settings.timeframe,
        stale_seconds=settings.stale_seconds,
    )


def with_capture(settings: StreamSettings, client: ExchangeStream) -> ExchangeStream:
    """`client`, capturing into `[streams] capture_dir` unless `capture` is off."""
    if settings.capture:
        client.capture = CaptureWriter(settings.capture_dir, client.id)
    return client


def default_collectors(sources: Sources) -> list[Collector]:
    """One stream per exchange `[streams]` names that is open (in the demo, the
    simulator's websocket as the exchange `sim`), over the universe's symbols."""
    settings = sources.settings.streams
    if not settings.enabled:
        return []
    symbols = sources.settings.universe.symbols
    if sources.simulator_url is not None:
        ws_url = "ws" + sources.simulator_url.removeprefix("http") + "/ws"
        simulated = SourceSettings(url=sources.simulator_url, ws_url=ws_url)
        client = with_capture(settings, ExchangeStream("binance", simulated, name=SIM_EXCHANGE))
        return [stream_collector(sources, stream_specs(settings, SIM_EXCHANGE, symbols), client)]
    collectors = []
    for exchange in settings.exchanges:
        if exchange in sources.exchanges:
            options = sources.settings.source(exchange)
            client = ExchangeStream(exchange, options, redis_url=sources.settings.redis_url)
            with_capture(settings, client)
            spec = stream_specs(settings, exchange, symbols)
            collectors.append(stream_collector(sources, spec, client))
    return collectors


def stream_collector(sources: Sources, spec: StreamSpec, client: ExchangeStream) -> Collector:
    """The long-lived job of one stream; its client is closed with the process's."""
    sources.keep(client)

    async def run(context: RunContext) -> RunOutcome:
        stream = Stream(spec, client, context.db, sources.broker)
        sources.stream_stats[spec.name] = stream.stats
        return await stream.run(context.stopping or asyncio.Event())

    return Collector(spec.name, "exchange", client.id, STREAM_SCHEDULE, run, 9, kind="stream")


def status_line(spec: StreamSpec, stats: StreamStats) -> str:
    """One line for `omc stream`: rate, lags, what was stored, what went wrong."""
    lag = "-" if stats.exchange_lag_ms is None else f"{stats.exchange_lag_ms} ms"
    publish = "-" if stats.publish_lag_ms is None else f"{stats.publish_lag_ms} ms"
    return (
        f"{spec.exchange} {','.join(spec.symbols)} [{','.join(spec.channels)}]  "
        f"{stats.rate(now_ms()):.1f} msg/s  lag {lag}  publish {publish}  "
        f"stored {stats.stored:,}  resyncs {stats.resyncs}  reconnects {stats.reconnects}"
    )
