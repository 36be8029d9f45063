"""A raw capture played back through ccxt.pro, as the live socket and REST gave it.

`ReplayStream` is an `ExchangeStream` whose sockets and REST answers come from a
`ReplayFeed` instead of the network: ccxt.pro parses and maintains books, our checks
run, as live. The feed hands events over in receive-time order and, before each,
sets the stream's clock to its captured receive time, so whatever reads the clock
(ticker and snapshot times, candle settling, batch times) reads what the live run read:

- a websocket message goes to the ccxt socket client of its URL (once the stream has
  subscribed there, as a live socket only speaks after a subscription); messages the
  live socket handed over in one loop turn (`g`) are handed over together;
- a REST answer answers the stream's request for the same method and path (in order);
  asked before its captured time, the request waits for it;
- a timer mark (`book` snapshots, `reconnect` backoff) fires the stream's timer of that
  name, so snapshots are taken at the same times, of the same books.

Between events the feed lets the stream run (`capture.settle`) and waits for
room in its queue: a replay never spills, so it also stores what a live run spilled.
`--speed X` paces events at X times their captured spacing; without it, as fast as
the stream stores them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from typing import Any

from ccxt.async_support.base.ws.client import Client
from ccxt.base import errors as ccxt_errors

from ohmycoins.settings import SourceSettings
from ohmycoins.sources.capture import Clock, Event, settle, without_host
from ohmycoins.sources.exchange_ws import ExchangeStream

log = logging.getLogger(__name__)

REPLAY_HOST = "replay.invalid"
SUBSCRIBE_TURNS = 2_000
"""Loop turns a message waits for the stream to subscribe to its socket's URL."""
ROOM_POLL_SECONDS = 0.002


class ReplayClock(Clock):
    """Stamps every event with the captured time the feed set."""

    def stamp(self) -> int:
        return self.latest_ms


class ReplayFeed:
    """The events of a capture, handed to one `ReplayStream` (see the module docstring)."""

    def __init__(self, events: Iterator[Event], speed: float | None = None) -> None:
        self.events = events
        self.speed = speed
        self.clock = ReplayClock()
        self.stream: ExchangeStream | None = None
        self.handed: list[int] = []
        """The clock value of each event handed over, in order."""
        self.paced: list[float] = []
        """With a speed, each event's due time: seconds after the first event."""
        self.unanswered = 0
        self._due: dict[str, deque[Any]] = defaultdict(deque)
        self._asked: dict[str, deque[asyncio.Future[Any]]] = defaultdict(deque)
        self._timers: dict[str, asyncio.Future[int]] = {}

    async def answer(self, request: str) -> Any:
        """The captured answer to a REST request (`GET /path?query`)."""
        if self._due[request]:
            return self._due[request].popleft()
        asked: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._asked[request].append(asked)
        return await asked

    async def timer(self, name: str) -> int:
        """The time of the next captured firing of the stream's timer `name`."""
        fired: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._timers[name] = fired
        return await fired

    async def run(self, has_room: Callable[[], bool]) -> None:
        """Hand every event over, then fail the requests the capture cannot answer."""
        loop = asyncio.get_running_loop()
        started, first, previous = loop.time(), None, None
        for event in self.events:
            first = event.t if first is None else first
            if not (event.kind == "message" and event.line.get("g") and previous == "message"):
                await self._settle(has_room)
                await self._pace(started + self._due_after(event.t, first))
            await self._hand(event)
            previous = event.kind
        await self._settle(has_room)
        self._fail_unanswered()

    def _due_after(self, t: int, first: int) -> float:
        if self.speed is None:
            return 0.0
        due = (t - first) / 1000 / self.speed
        self.paced.append(due)
        return due

    async def _pace(self, due: float) -> None:
        if self.speed is not None:
            await asyncio.sleep(max(0.0, due - asyncio.get_running_loop().time()))

    async def _settle(self, has_room: Callable[[], bool]) -> None:
        await settle()
        # the stream's queue tells no one when it has room again: look
        while not has_room() and not any(self._asked.values()):  # noqa: ASYNC110
            await asyncio.sleep(ROOM_POLL_SECONDS)

    async def _hand(self, event: Event) -> None:
        self.clock.latest_ms = event.t
        self.handed.append(event.t)
        if event.kind == "message":
            await self._message(str(event.line["url"]), event.line["msg"])
        elif event.kind == "rest":
            self._rest(str(event.line["rest"]), event.line.get("body"))
        else:
            self._mark(str(event.line["mark"]), event.t)

    async def _message(self, path: str, message: Any) -> None:
        assert self.stream is not None, "a feed runs for a stream"
        api = self.stream.api
        url = f"ws://{REPLAY_HOST}{path}"
        for _ in range(SUBSCRIBE_TURNS):
            if url in (api.clients or {}):
                break
            await asyncio.sleep(0)
        client = api.client(url)
        client.on_message_callback(client, message)

    def _rest(self, request: str, body: Any) -> None:
        if self._asked[request]:
            self._asked[request].popleft().set_result(body)
        else:
            self._due[request].append(body)

    def _mark(self, name: str, at: int) -> None:
        fired = self._timers.pop(name, None)
        if fired is not None and not fired.done():
            fired.set_result(at)

    def _fail_unanswered(self) -> None:
        for request, asked in self._asked.items():
            while asked:
                self.unanswered += 1
                error = ccxt_errors.ExchangeError(f"{request}: no answer in the capture")
                asked.popleft().set_exception(error)


class ReplayStream(ExchangeStream):
    """An exchange stream whose sockets and REST answers are a capture's (`feed`)."""

    def __init__(self, exchange_id: str, feed: ReplayFeed, *, name: str | None = None) -> None:
        self.feed = feed
        host = SourceSettings(url=f"http://{REPLAY_HOST}", ws_url=f"ws://{REPLAY_HOST}")
        super().__init__(exchange_id, host, name=name)
        self.clock = feed.clock
        self.api.enableRateLimit = False  # the capture was paced when it was made
        feed.stream = self

    def _refined(self, cls: type[Any]) -> type[Any]:
        return _replayed_class(super()._refined(cls), self.feed)

    async def timer(self, name: str, seconds: float) -> int:
        return await self.feed.timer(name)


class ReplaySocket(Client):  # type: ignore[misc]
    """A ccxt socket client that connects to nothing: the feed hands it its messages."""

    def connect(self, session: Any, backoff_delay: float = 0) -> Any:
        if not self.connected.done():
            self.connected.resolve(self.url)
            self.on_connected_callback(self)
        return self.connected

    async def send(self, message: Any) -> None:
        """Subscriptions go nowhere: the capture holds what the exchange answered."""


async def _no_wait(*_: Any) -> None:
    return None


def _replayed_class(base: type[Any], feed: ReplayFeed) -> type[Any]:
    class Replayed(base):  # type: ignore[misc]
        def client(self, url: str) -> Any:
            clients: dict[str, Any] = getattr(self, "clients", None) or {}
            if url not in clients:
                callbacks = (self.handle_message, self.on_error, self.on_close, self.on_connected)
                options = {"throttle": _no_wait, "verbose": False, "log": log.debug}
                clients[url] = ReplaySocket(url, *callbacks, options)
            self.clients = clients
            return clients[url]

        async def fetch(
            self, url: str, method: str = "GET", headers: Any = None, body: Any = None
        ) -> Any:
            return await feed.answer(f"{method} {without_host(url)}")

    Replayed.__name__ = f"Replayed{base.__name__}"
    return Replayed
