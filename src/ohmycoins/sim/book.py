"""The simulator's live order book: one per symbol, served by REST depth and the streams.

A Binance book is state, not a function of time: the REST ``/api/v3/depth`` snapshot's
``lastUpdateId`` and the ``depthUpdate`` diffs' ``U``/``u`` count the same level
changes, so a client that buffers diffs, fetches a snapshot and applies the diffs with
``u > lastUpdateId`` ends with the exchange's book.  ``LiveBook`` is that state.  It is
advanced lazily to the market clock in *events* (``rate`` a second, ten times as many
during a burst), each one a seeded, deterministic handful of level changes:

* the top of one side changes (so ``bookTicker`` fires once per event);
* the book follows the market's price (``mid``): asks below it and bids at or above
  it are taken, and a side whose best level drifted away gets a new level next to it;
* a few levels near the top change size, vanish or appear in a gap;
* each side is kept at ``levels`` levels by adding or removing far from the top.

Every level change gets its own update id, as on Binance, and the changes of the latest
events are kept (``history``) for the diff-depth and book-ticker streams to read.
"""

from __future__ import annotations

import bisect
import random
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

Change = tuple[int, int]
"""(price in ticks, quantity in steps); quantity 0 removes the level."""

HISTORY_EVENTS = 50_000
"""Events kept for the streams; a reader further behind than this misses diffs."""
MAX_CATCHUP_EVENTS = 100_000
"""A clock jump longer than this many events rebuilds the book in one event instead."""
BURST_FACTOR = 10


@dataclass(frozen=True)
class BookEvent:
    """The level changes of one event and the book's top after it."""

    time: int
    first_id: int
    last_id: int
    bids: tuple[Change, ...]
    asks: tuple[Change, ...]
    top: tuple[int, int, int, int]
    """best bid price, its quantity, best ask price, its quantity (0s when empty)."""


class _Side:
    """One side of the book: prices kept sorted best first, quantities by price."""

    def __init__(self, sign: int) -> None:
        self.sign = sign  # -1 for bids (best is highest), 1 for asks
        self.keys: list[int] = []  # sign * price, ascending: best first
        self.qty: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.keys)

    def price(self, index: int) -> int:
        return self.sign * self.keys[index]

    def best(self) -> int | None:
        return self.sign * self.keys[0] if self.keys else None

    def set(self, price: int, qty: int) -> None:
        if qty <= 0:
            if price in self.qty:
                del self.qty[price]
                del self.keys[bisect.bisect_left(self.keys, self.sign * price)]
            return
        if price not in self.qty:
            bisect.insort(self.keys, self.sign * price)
        self.qty[price] = qty

    def levels(self, limit: int) -> Iterator[Change]:
        for key in self.keys[:limit]:
            price = self.sign * key
            yield price, self.qty[price]


class LiveBook:
    """One symbol's order book, advanced event by event to the market clock.

    ``mid`` gives the market's price (ticks) at a time, or None before the listing;
    ``unit`` is a typical level size in steps and ``gap`` the mean distance in ticks
    between levels.
    """

    def __init__(
        self,
        seed: int,
        first_id: int,
        levels: int,
        rate: float,
        unit: float,
        gap: float,
        mid: Callable[[int], int | None],
    ) -> None:
        if rate <= 0 or levels < 1:
            raise ValueError("book rate and levels must be positive")
        self.seed = seed
        self.levels = levels
        self.period = 1000.0 / rate
        self.unit = unit
        self.gap = gap
        self._mid = mid
        self.bids = _Side(-1)
        self.asks = _Side(1)
        self.last_update_id = first_id
        self.time: int | None = None
        self._next = 0.0
        self._events = 0
        self._burst_until = -1
        self.history: deque[BookEvent] = deque(maxlen=HISTORY_EVENTS)

    # ---------------------------------------------------------------- reading

    def snapshot(self, limit: int) -> tuple[int, list[Change], list[Change]]:
        """lastUpdateId, the best ``limit`` bids and asks."""
        return self.last_update_id, list(self.bids.levels(limit)), list(self.asks.levels(limit))

    def top(self) -> tuple[int, int, int, int]:
        bid, ask = self.bids.best(), self.asks.best()
        return (
            bid or 0,
            self.bids.qty[bid] if bid is not None else 0,
            ask or 0,
            self.asks.qty[ask] if ask is not None else 0,
        )

    def events_after(self, update_id: int) -> list[BookEvent]:
        """Kept events whose changes come after ``update_id``, oldest first."""
        history = self.history
        if not history or history[-1].last_id <= update_id:
            return []
        i = len(history)
        while i > 0 and history[i - 1].last_id > update_id:
            i -= 1
        return [history[j] for j in range(i, len(history))]

    # ---------------------------------------------------------------- writing

    def burst(self, seconds: float) -> None:
        """Change ``BURST_FACTOR`` times as often for the next ``seconds`` of market time."""
        if self.time is None:
            return
        self._burst_until = max(self._burst_until, self.time + int(seconds * 1000))
        self._next = min(self._next, self.time + self.period / BURST_FACTOR)

    def advance(self, now: int) -> None:
        """Play every event due by ``now`` (the first call builds the book at ``now``)."""
        if self.time is None:
            self._rebuild(now, record=False)
            return
        if now <= self.time:
            return
        if (now - self._next) / self.period > MAX_CATCHUP_EVENTS:
            self._rebuild(now, record=True)
            return
        while self._next <= now:
            at = int(self._next)
            self._event(at)
            step = self.period / BURST_FACTOR if at < self._burst_until else self.period
            self._next += step
        self.time = now

    def _rebuild(self, now: int, *, record: bool) -> None:
        """Replace the whole book by a fresh one around the price at ``now``."""
        rng = random.Random(self.seed * 1_000_003 + now)
        changes: dict[int, dict[int, int]] = {-1: {}, 1: {}}
        for side in (self.bids, self.asks):
            for price in list(side.qty):
                changes[side.sign][price] = 0
                side.set(price, 0)
        mid = self._mid(now)
        if mid is not None:
            best_ask = mid + int(rng.random() * 2)
            best_bid = best_ask - 1 - int(rng.random() * 2)
            for side, start in ((self.bids, best_bid), (self.asks, best_ask)):
                price = start
                while len(side) < self.levels and price >= 1:
                    qty = self._size(rng)
                    side.set(price, qty)
                    changes[side.sign][price] = qty
                    price += side.sign * self._step(rng)
        self.time = now
        self._next = (now // self.period + 1) * self.period
        if record:
            self._record(now, list(changes[-1].items()), list(changes[1].items()))

    def _size(self, rng: random.Random) -> int:
        return 1 + int(self.unit * (0.01 + 5.0 * rng.random() ** 3))

    def _step(self, rng: random.Random) -> int:
        return 1 + int(2.0 * self.gap * rng.random() ** 2)

    def _event(self, at: int) -> None:
        self._events += 1
        rng = random.Random((self.seed * 1_000_003 + at) * 8191 + self._events)
        bids: list[Change] = []
        asks: list[Change] = []
        out = {-1: bids, 1: asks}

        def put(side: _Side, price: int, qty: int) -> None:
            side.set(price, qty)
            out[side.sign].append((price, qty))

        mid = self._mid(at)
        if mid is not None:
            self._follow(mid, rng, put)
        side = self.bids if rng.random() < 0.5 else self.asks
        if len(side):
            put(side, side.price(0), self._size(rng))
        for _ in range(int(rng.random() * 3)):
            self._touch(self.bids if rng.random() < 0.5 else self.asks, rng, put)
        for side in (self.bids, self.asks):
            self._keep_depth(side, rng, put)
        if bids or asks:
            self._record(at, bids, asks)

    def _follow(self, mid: int, rng: random.Random, put: Callable[[_Side, int, int], None]) -> None:
        """Take the levels the last trade went through; refill a side left far behind."""
        while len(self.asks) and self.asks.price(0) < mid:
            put(self.asks, self.asks.price(0), 0)
        while len(self.bids) and self.bids.price(0) >= mid:
            put(self.bids, self.bids.price(0), 0)
        far = 2 * int(self.gap) + 2
        best_ask = self.asks.best()
        if best_ask is None or best_ask - mid > far:
            put(self.asks, mid + int(rng.random() * 2), self._size(rng))
        best_bid = self.bids.best()
        if mid > 1 and (best_bid is None or mid - 1 - best_bid > far):
            put(self.bids, mid - 1 - int(rng.random() * 2), self._size(rng))

    def _touch(
        self, side: _Side, rng: random.Random, put: Callable[[_Side, int, int], None]
    ) -> None:
        """Resize, remove or add one level near the top of ``side``."""
        if len(side) < 2:
            return
        index = int(rng.random() ** 3 * min(50, len(side) - 1))
        roll = rng.random()
        price = side.price(index)
        if roll < 0.7:
            put(side, price, self._size(rng))
        elif roll < 0.85:
            put(side, price, 0)
        else:
            behind = side.price(index + 1)
            if abs(behind - price) > 1:
                put(side, (price + behind) // 2, self._size(rng))

    def _keep_depth(
        self, side: _Side, rng: random.Random, put: Callable[[_Side, int, int], None]
    ) -> None:
        while len(side) > self.levels:
            put(side, side.price(-1), 0)
        while 0 < len(side) < self.levels:
            price = side.price(-1) + side.sign * self._step(rng)
            if price < 1:
                return
            put(side, price, self._size(rng))

    def _record(self, at: int, bids: list[Change], asks: list[Change]) -> None:
        first = self.last_update_id + 1
        self.last_update_id += len(bids) + len(asks)
        self.history.append(
            BookEvent(at, first, self.last_update_id, tuple(bids), tuple(asks), self.top())
        )
