"""Deterministic, randomly accessible spot market: the ground truth behind the simulator.

Every value is a pure function of ``(seed, symbol, minute)``, so any candle, trade or
book can be produced without simulating the history before it:

* the log-price of a minute's close is a sum of smooth value-noise octaves (knots every
  30 minutes ... 4 weeks, hashed with splitmix64) plus per-minute white noise, squashed
  into a per-symbol band so magnitudes stay realistic;
* a minute's open is the previous minute's close; its noise, wicks, volume, taker share
  and trade count come from a keyed BLAKE2b digest (one digest serves four minutes);
* trade and aggregate-trade counts per minute vary in complementary pairs of minutes, so
  the number of trades before any minute (hence every trade id) is O(#holes) to compute;
* the trades of a minute are generated from a seeded PRNG so that their first, last,
  highest and lowest prices are the candle's open, close, high and low, their quantities
  sum to the candle's volume and their count is the candle's trade count.

Maintenance windows ("holes") have no candles and no trades, nothing exists before
``start_ms`` (the listing) or after the model's clock; the minute containing "now" is
served partially, with only the trades that already happened.  The server formats
nothing itself: it serves exactly what these methods return.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import hashlib
import math
import random
import struct
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from ohmycoins.sim.book import LiveBook
from ohmycoins.sim.config import SimulatorConfig
from ohmycoins.sim.intervals import MINUTE_MS, Interval, parse_interval
from ohmycoins.sim.symbols import SymbolSpec, format_wire, pow10, spec_for, to_wire_units

Bar = tuple[int, int, int, int, int, int, int, int, int, int]
"""open_time_ms, open, high, low, close (ticks), volume (steps), quote volume (1e-8),
trade count, taker buy volume (steps), taker buy quote volume (1e-8)."""

JsonDict = dict[str, Any]
KlineRow = list[Any]

HOUR = 60
DAY_MS = 86_400_000
MAX_KLINES = 1000
MAX_TRADES = 1000
MAX_DEPTH = 5000
BOOK_RATE = 10.0
"""Book events a second when the configuration does not set a stream rate."""
_MASK = (1 << 64) - 1
_INV63 = 1.0 / 2.0**63
_SQRT6 = math.sqrt(6.0)
_INV16 = 1.0 / 65536.0
_SCALES = (30, 360, 2880, 40320)
_UNPACK_BLOCK = struct.Struct("<32H").unpack
_E8 = 10**8
_WIRE = "%d.%08d"
_CACHE_LIMIT = 200_000
_GROUPS_CACHED = 400_000
"""Aggregate trades kept per symbol: a fast stream rate makes minutes large."""


class ModelError(ValueError):
    """A request the market cannot answer."""


class UnknownSymbolError(ModelError):
    """The symbol is not listed in this market."""


class InvalidIntervalError(ModelError):
    """The kline interval is not one Binance serves here."""


class AggGroup(NamedTuple):
    """One aggregate trade: consecutive trades of one taker order at one price."""

    agg_id: int
    first_id: int
    price: int
    time: int
    buyer_maker: bool
    qtys: tuple[int, ...]


class Trade(NamedTuple):
    """One trade, prices in ticks and quantity in steps."""

    id: int
    price: int
    qty: int
    time: int
    buyer_maker: bool


def mix64(value: int) -> int:
    """splitmix64 finaliser: a cheap, well-distributed 64-bit hash."""
    x = (value + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


@functools.cache
def _smoothstep(length: int) -> tuple[float, ...]:
    """``3t^2 - 2t^3`` at ``t = r / length`` for every r in [0, length)."""
    return tuple((r / length) ** 2 * (3.0 - 2.0 * r / length) for r in range(length))


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def wall_clock_ms() -> int:
    """Milliseconds since the epoch from the system clock."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class _Scale:
    length: int
    amplitude: float
    salt: int


class _Sym:
    """Precomputed constants and caches of one symbol."""

    def __init__(self, seed: int, spec: SymbolSpec) -> None:
        self.spec = spec
        material = f"ohmycoins-sim:{seed}:{spec.symbol}".encode()
        self.key = hashlib.blake2b(material, digest_size=32).digest()
        salts: tuple[int, ...] = struct.unpack(
            "<8Q", hashlib.blake2b(self.key, digest_size=64).digest()
        )
        self.scales = tuple(
            _Scale(length, spec.sigma * math.sqrt(length) * 1.2, mix64(salts[0] + i * 7919))
            for i, length in enumerate(_SCALES)
        )
        self.agg_salt, self.group_salt, self.book_salt = salts[2:5]
        self.trade_base = 100_000_000 + salts[5] % 900_000_000
        self.agg_base = 50_000_000 + salts[6] % 450_000_000
        self.book_base = 1_000_000_000 + salts[7] % 9_000_000_000
        self.base_ticks = spec.base_price * 10**spec.price_decimals
        self.price_mult = pow10(8 - spec.price_decimals)
        self.qty_mult = pow10(8 - spec.qty_decimals)
        self.notional_decimals = spec.price_decimals + spec.qty_decimals
        self.notional_mult = pow10(8 - self.notional_decimals) if self.notional_decimals <= 8 else 0
        self.volume_steps = spec.volume_per_minute * 10**spec.qty_decimals
        self.trade_spread = spec.trades_per_minute // 3
        self.agg_spread = spec.aggs_per_minute // 3
        self.min_volume = spec.trades_per_minute + self.trade_spread + 1
        self.hours: dict[int, Bar | None] = {}
        self.groups: dict[int, tuple[AggGroup, ...]] = {}
        self.cached_groups = 0
        self._check_counts()

    def _check_counts(self) -> None:
        most_aggs = self.spec.aggs_per_minute + self.agg_spread
        fewest_aggs = self.spec.aggs_per_minute - self.agg_spread
        fewest_trades = self.spec.trades_per_minute - self.trade_spread
        if fewest_aggs < 4 or most_aggs > fewest_trades:
            raise ValueError(f"inconsistent trade counts for {self.spec.symbol}")

    def price(self, ticks: int) -> str:
        return format_wire(ticks * self.price_mult)

    def qty(self, steps: int) -> str:
        return format_wire(steps * self.qty_mult)

    def notional(self, ticks: int, steps: int) -> int:
        return to_wire_units(ticks * steps, self.notional_decimals)


def _count_sum(a: int, b: int, base: int, count_at: Callable[[int], int]) -> int:
    """Sum of per-minute counts over minutes [a, b).

    Counts vary in complementary pairs of minutes (2j, 2j+1) that always add up to
    ``2 * base``, so only the two edge minutes need to be looked at.
    """
    if a >= b:
        return 0
    total = 0
    if a & 1:
        total += count_at(a)
        a += 1
    if a < b and b & 1:
        total += count_at(b - 1)
        b -= 1
    return total + (b - a) * base


def combine(bars: Sequence[Bar], open_time: int) -> Bar:
    """Aggregate consecutive bars into one candle opening at ``open_time``."""
    return (
        open_time,
        bars[0][1],
        max(bar[2] for bar in bars),
        min(bar[3] for bar in bars),
        bars[-1][4],
        sum(bar[5] for bar in bars),
        sum(bar[6] for bar in bars),
        sum(bar[7] for bar in bars),
        sum(bar[8] for bar in bars),
        sum(bar[9] for bar in bars),
    )


class MarketModel:
    """The simulated exchange's data, answering in Binance's wire format."""

    def __init__(
        self,
        seed: int,
        symbols: Sequence[str],
        start_ms: int,
        holes: Sequence[tuple[int, int]] = (),
        now_ms: Callable[[], int] | None = None,
        rate: float | None = None,
    ) -> None:
        if not symbols:
            raise ValueError("the market needs at least one symbol")
        if rate is not None and rate < MIN_RATE:
            raise ValueError(f"the stream rate must be at least {MIN_RATE} a second, got {rate}")
        self.seed = seed
        self.start_ms = start_ms
        self.first_minute = _ceil_div(start_ms, MINUTE_MS)
        self.holes = _merge_holes(holes)
        self._clock = now_ms or wall_clock_ms
        self.rate = rate
        self._syms = {s: _Sym(seed, _paced(spec_for(s), rate)) for s in dict.fromkeys(symbols)}
        self._books: dict[str, LiveBook] = {}

    @classmethod
    def from_config(cls, config: SimulatorConfig) -> MarketModel:
        """The market a simulator of ``config`` serves."""
        return cls(
            config.seed,
            config.symbols,
            config.start_ms,
            config.holes,
            config.now_ms,
            config.stream_rate,
        )

    # ----------------------------------------------------------------- basics

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self._syms)

    def spec(self, symbol: str) -> SymbolSpec:
        return self._sym(symbol).spec

    def now(self) -> int:
        """The model's clock in epoch milliseconds."""
        return self._clock()

    def is_live(self, minute_ms: int) -> bool:
        """Whether the exchange traded during the minute opening at ``minute_ms``."""
        minute = minute_ms // MINUTE_MS
        return minute >= self.first_minute and not any(a <= minute < b for a, b in self.holes)

    def _sym(self, symbol: str) -> _Sym:
        try:
            return self._syms[symbol]
        except KeyError:
            raise UnknownSymbolError(symbol) from None

    # ------------------------------------------------------------ live minutes

    def _next_live(self, minute: int) -> int:
        minute = max(minute, self.first_minute)
        for start, end in self.holes:
            if start <= minute < end:
                minute = end
        return minute

    def _prev_live(self, minute: int) -> int | None:
        for start, end in reversed(self.holes):
            if start <= minute < end:
                minute = start - 1
        return minute if minute >= self.first_minute else None

    def _segments(self, a: int, b: int) -> Iterator[tuple[int, int]]:
        """Live sub-ranges of minutes [a, b)."""
        a = max(a, self.first_minute)
        for start, end in self.holes:
            if a >= b:
                return
            if end <= a or start >= b:
                continue
            if start > a:
                yield a, start
            a = max(a, end)
        if a < b:
            yield a, b

    # ------------------------------------------------------------- price path

    def _fields(self, st: _Sym, m0: int, m1: int) -> list[tuple[int, ...]]:
        """Eight uniform 16-bit fields per minute of [m0, m1); one digest covers 4 minutes."""
        b0, b1 = m0 >> 2, (m1 + 3) >> 2
        key, blake = st.key, hashlib.blake2b
        fields: list[tuple[int, ...]] = []
        for block in range(b0, b1):
            f = _UNPACK_BLOCK(blake(block.to_bytes(8, "little"), key=key).digest())
            fields += (f[0:8], f[8:16], f[16:24], f[24:32])
        skip = m0 - (b0 << 2)
        return fields[skip : skip + m1 - m0]

    @staticmethod
    def _octave(scale: _Scale, m0: int, m1: int) -> list[float]:
        """One value-noise octave (smoothstep between hashed knots) over minutes [m0, m1)."""
        table = _smoothstep(scale.length)
        out: list[float] = []
        pos = m0
        while pos < m1:
            k, r = divmod(pos, scale.length)
            stop = min(m1, (k + 1) * scale.length)
            left = mix64(scale.salt + k) * _INV63 - 1.0
            right = mix64(scale.salt + k + 1) * _INV63 - 1.0
            a, d = scale.amplitude * left, scale.amplitude * (right - left)
            out += [a + d * s for s in table[r : r + stop - pos]]
            pos = stop
        return out

    def _path(self, st: _Sym, m0: int, m1: int) -> tuple[list[int], list[tuple[int, ...]]]:
        """Close (ticks) and random fields of minutes [m0, m1)."""
        fields = self._fields(st, m0, m1)
        k = st.spec.sigma * _SQRT6
        noise = [k * ((f[0] + f[1]) * _INV16 - 1.0) for f in fields]
        c0, c1, c2, c3 = (self._octave(scale, m0, m1) for scale in st.scales)
        band, inv_band, base = st.spec.band, 1.0 / st.spec.band, st.base_ticks
        exp, tanh = math.exp, math.tanh
        closes = [
            round(base * exp(band * tanh((n + a + b + c + d) * inv_band)))
            for n, a, b, c, d in zip(noise, c0, c1, c2, c3, strict=True)
        ]
        return closes, fields

    def _full_bars(self, st: _Sym, m0: int, m1: int) -> list[Bar]:
        """Complete 1m bars of minutes [m0, m1), holes or not (callers skip them)."""
        closes, fields = self._path(st, m0 - 1, m1)
        spec = st.spec
        wick = spec.sigma * 1.5 * _INV16 * _INV16
        inv_sigma = 1.0 / spec.sigma
        v0 = st.volume_steps * 0.3 + st.min_volume
        v1 = st.volume_steps * 1.4 * _INV16 * _INV16
        v2 = st.volume_steps * 0.4
        base_count, width, spread = spec.trades_per_minute, 2 * st.trade_spread + 1, st.trade_spread
        mult, notional = st.notional_mult, st.notional
        bars: list[Bar] = []
        append = bars.append
        delta = fields[0][7] % width - spread
        t, o = m0 * MINUTE_MS, closes[0]
        for minute, c, f in zip(range(m0, m1), closes[1:], fields[1:], strict=True):
            _, _, u2, u3, u4, u5, u6, u7 = f
            if o > c:
                high, low, move = o + int(o * wick * u2 * u2), c - int(c * wick * u3 * u3), o - c
            else:
                high, low, move = c + int(c * wick * u2 * u2), o - int(o * wick * u3 * u3), c - o
            low = max(low, 1)
            activity = min(4.0, move * inv_sigma / o)
            volume = int(v0 + v1 * u4 * u4 + v2 * activity)
            vwap = low + int((high - low) * (0.25 + 0.5 * _INV16 * u5))
            taker = int(volume * (0.35 + 0.3 * _INV16 * u6))
            if not minute & 1:
                delta = u7 % width - spread
            count = base_count - delta if minute & 1 else base_count + delta
            if mult:
                quote, taker_quote = vwap * volume * mult, vwap * taker * mult
            else:
                quote, taker_quote = notional(vwap, volume), notional(vwap, taker)
            append((t, o, high, low, c, volume, quote, count, taker, taker_quote))
            t += MINUTE_MS
            o = c
        return bars

    def _minute_bars(self, st: _Sym, m0: int, m1: int, now: int) -> list[Bar]:
        """Bars of the live minutes in [m0, m1) that have opened by ``now``."""
        now_minute = now // MINUTE_MS
        bars: list[Bar] = []
        for a, b in self._segments(m0, min(m1, now_minute)):
            bars.extend(self._full_bars(st, a, b))
        if m0 <= now_minute < m1 and self._next_live(now_minute) == now_minute:
            bars.append(self._partial_bar(st, now_minute, now))
        return bars

    def _partial_bar(self, st: _Sym, minute: int, now: int) -> Bar:
        full = self._full_bars(st, minute, minute + 1)[0]
        groups = [g for g in self._groups(st, minute) if g.time <= now]
        if not groups:
            o = full[1]
            return (full[0], o, o, o, o, 0, 0, 0, 0, 0)
        prices = [g.price for g in groups]
        volume = sum(sum(g.qtys) for g in groups)
        count = sum(len(g.qtys) for g in groups)
        share = full[5]
        return (
            full[0],
            full[1],
            max(prices),
            min(prices),
            prices[-1],
            volume,
            full[6] * volume // share,
            count,
            full[8] * volume // share,
            full[9] * volume // share,
        )

    # ------------------------------------------------------------- aggregates

    def _hour_bars(self, st: _Sym, h0: int, h1: int, now: int) -> list[Bar | None]:
        """One aggregate per hour in [h0, h1); complete hours are cached."""
        complete_before = (now // MINUTE_MS) // HOUR
        missing = [h for h in range(h0, h1) if h not in st.hours or h >= complete_before]
        fresh: dict[int, Bar | None] = {}
        for run_start, run_end in _runs(missing):
            by_hour: dict[int, list[Bar]] = {}
            for bar in self._minute_bars(st, run_start * HOUR, run_end * HOUR, now):
                by_hour.setdefault(bar[0] // (HOUR * MINUTE_MS), []).append(bar)
            for h in range(run_start, run_end):
                bars = by_hour.get(h)
                fresh[h] = combine(bars, h * HOUR * MINUTE_MS) if bars else None
        if len(st.hours) > _CACHE_LIMIT:
            st.hours.clear()
        for h, value in fresh.items():
            if h < complete_before:
                st.hours[h] = value
        return [fresh[h] if h in fresh else st.hours[h] for h in range(h0, h1)]

    def _range_bar(self, st: _Sym, m0: int, m1: int, now: int) -> Bar | None:
        """Aggregate of the live minutes in [m0, m1) up to ``now``; None if there are none."""
        h0, h1 = _ceil_div(m0, HOUR), m1 // HOUR
        if h0 >= h1:
            bars = self._minute_bars(st, m0, m1, now)
        else:
            bars = self._minute_bars(st, m0, h0 * HOUR, now)
            bars += [bar for bar in self._hour_bars(st, h0, h1, now) if bar is not None]
            bars += self._minute_bars(st, h1 * HOUR, m1, now)
        return combine(bars, m0 * MINUTE_MS) if bars else None

    # ----------------------------------------------------------------- klines

    def klines(
        self,
        symbol: str,
        interval: str,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 500,
        at_ms: int | None = None,
    ) -> list[KlineRow]:
        """Rows of ``GET /api/v3/klines`` with Binance's startTime/endTime/limit semantics,
        as they were at ``at_ms`` (default: now)."""
        st = self._sym(symbol)
        try:
            iv = parse_interval(interval)
        except KeyError:
            raise InvalidIntervalError(interval) from None
        now = self.now() if at_ms is None else at_ms
        limit = max(1, min(limit, MAX_KLINES))
        if start_ms is not None:
            starts = self._starts_forward(iv, start_ms, end_ms, limit, now // MINUTE_MS)
        else:
            starts = self._starts_backward(iv, end_ms, limit, now // MINUTE_MS)
        return self._rows(st, iv, self._bucket_bars(st, iv, starts, now))

    def _starts_forward(
        self, iv: Interval, start_ms: int, end_ms: int | None, limit: int, now_minute: int
    ) -> list[int]:
        """Starts of the first ``limit`` non-empty buckets opening in [start_ms, end_ms]."""
        last = now_minute if end_ms is None else min(now_minute, end_ms // MINUTE_MS)
        first = iv.first_at_or_after(_ceil_div(start_ms, MINUTE_MS))
        if iv.minutes == 0:
            return self._calendar_forward(iv, first, last, limit, now_minute)
        width = iv.minutes
        starts: list[int] = []
        for a, b in self._segments(first, now_minute + 1):
            lo = max(iv.start(a), starts[-1] + width if starts else first)
            hi = min(iv.start(b - 1), last)
            starts.extend(range(lo, hi + 1, width)[: limit - len(starts)])
            if len(starts) >= limit or hi >= last:
                break
        return starts

    def _starts_backward(
        self, iv: Interval, end_ms: int | None, limit: int, now_minute: int
    ) -> list[int]:
        """Starts of the last ``limit`` non-empty buckets opening at or before end_ms."""
        last = now_minute if end_ms is None else min(now_minute, end_ms // MINUTE_MS)
        if iv.minutes == 0:
            return self._calendar_backward(iv, last, limit, now_minute)
        width = iv.minutes
        starts: list[int] = []
        for a, b in reversed(list(self._segments(self.first_minute, now_minute + 1))):
            hi = min(iv.start(b - 1), starts[-1] - width if starts else iv.start(last))
            starts.extend(range(hi, iv.start(a) - 1, -width)[: limit - len(starts)])
            if len(starts) >= limit:
                break
        starts.reverse()
        return starts

    def _calendar_forward(
        self, iv: Interval, bucket: int, last: int, limit: int, now_minute: int
    ) -> list[int]:
        starts: list[int] = []
        while len(starts) < limit:
            live = self._next_live(bucket)
            if live > now_minute:
                break
            bucket = max(bucket, iv.start(live))
            if bucket > last:
                break
            starts.append(bucket)
            bucket = iv.next(bucket)
        return starts

    def _calendar_backward(self, iv: Interval, last: int, limit: int, now_minute: int) -> list[int]:
        bucket = iv.start(last)
        starts: list[int] = []
        while len(starts) < limit:
            live = self._prev_live(min(iv.next(bucket) - 1, now_minute))
            if live is None:
                break
            bucket = iv.start(live)
            starts.append(bucket)
            bucket = iv.previous(bucket)
        starts.reverse()
        return starts

    def _bucket_bars(self, st: _Sym, iv: Interval, starts: list[int], now: int) -> list[Bar]:
        if not starts:
            return []
        if iv.minutes == 1:
            return self._minute_bars(st, starts[0], starts[-1] + 1, now)
        if 0 < iv.minutes < HOUR:
            grouped: dict[int, list[Bar]] = {}
            for bar in self._minute_bars(st, starts[0], iv.next(starts[-1]), now):
                grouped.setdefault(iv.start(bar[0] // MINUTE_MS), []).append(bar)
            return [combine(grouped[s], s * MINUTE_MS) for s in starts]
        self._hour_bars(st, starts[0] // HOUR, _ceil_div(iv.next(starts[-1]), HOUR), now)
        bars = [self._range_bar(st, s, iv.next(s), now) for s in starts]
        return [bar for bar in bars if bar is not None]

    @staticmethod
    def _rows(st: _Sym, iv: Interval, bars: list[Bar]) -> list[KlineRow]:
        """Binance kline rows; a bar's open string is reused from the previous close."""
        pm, qm, span = st.price_mult, st.qty_mult, iv.minutes * MINUTE_MS
        rows: list[KlineRow] = []
        append = rows.append
        prev_close, prev_text = -1, ""
        for t, o, h, low, c, volume, quote, count, taker, taker_quote in bars:
            open_text = prev_text if o == prev_close else _WIRE % divmod(o * pm, _E8)
            prev_close, prev_text = c, _WIRE % divmod(c * pm, _E8)
            append(
                [
                    t,
                    open_text,
                    _WIRE % divmod(h * pm, _E8),
                    _WIRE % divmod(low * pm, _E8),
                    prev_text,
                    _WIRE % divmod(volume * qm, _E8),
                    (t + span if span else iv.next(t // MINUTE_MS) * MINUTE_MS) - 1,
                    _WIRE % divmod(quote, _E8),
                    count,
                    _WIRE % divmod(taker * qm, _E8),
                    _WIRE % divmod(taker_quote, _E8),
                    "0",
                ]
            )
        return rows

    # ----------------------------------------------------------------- trades

    def _trade_count(self, st: _Sym, minute: int) -> int:
        """Trades in a complete live minute (the same value ``_full_bars`` reports)."""
        even = minute & ~1
        delta = self._fields(st, even, even + 1)[0][7] % (2 * st.trade_spread + 1) - st.trade_spread
        return st.spec.trades_per_minute + (-delta if minute & 1 else delta)

    @staticmethod
    def _agg_count(st: _Sym, minute: int) -> int:
        """Aggregate trades in a complete live minute."""
        delta = mix64(st.agg_salt + (minute >> 1)) % (2 * st.agg_spread + 1) - st.agg_spread
        return st.spec.aggs_per_minute + (-delta if minute & 1 else delta)

    def _trades_before(self, st: _Sym, minute: int) -> int:
        base = st.spec.trades_per_minute
        return sum(
            _count_sum(a, b, base, lambda m: self._trade_count(st, m))
            for a, b in self._segments(self.first_minute, minute)
        )

    def _aggs_before(self, st: _Sym, minute: int) -> int:
        base = st.spec.aggs_per_minute
        return sum(
            _count_sum(a, b, base, lambda m: self._agg_count(st, m))
            for a, b in self._segments(self.first_minute, minute)
        )

    def _groups(self, st: _Sym, minute: int) -> tuple[AggGroup, ...]:
        """All aggregate trades of a live minute (complete, regardless of the clock)."""
        cached = st.groups.get(minute)
        if cached is None:
            cached = self._make_groups(st, minute)
            if len(st.groups) > _CACHE_LIMIT or st.cached_groups > _GROUPS_CACHED:
                st.groups.clear()
                st.cached_groups = 0
            st.groups[minute] = cached
            st.cached_groups += len(cached)
        return cached

    def _make_groups(self, st: _Sym, minute: int) -> tuple[AggGroup, ...]:
        _, o, high, low, c, volume, _, count, _, _ = self._full_bars(st, minute, minute + 1)[0]
        n = self._agg_count(st, minute)
        rng = random.Random(mix64(st.group_salt + minute))
        offsets = sorted(int(rng.random() * MINUTE_MS) for _ in range(n))
        prices = [low + int(rng.random() * (high - low + 1)) for _ in range(n)]
        hi_at = 1 + int(rng.random() * (n - 2))
        lo_at = 1 + int(rng.random() * (n - 3))
        lo_at += lo_at >= hi_at
        prices[0], prices[-1], prices[hi_at], prices[lo_at] = o, c, high, low
        sizes = [1] * n
        for _ in range(count - n):
            sizes[int(rng.random() * n)] += 1
        qtys = _partition(volume, count, rng)
        makers = [rng.random() < 0.5 for _ in range(n)]
        first_trade = st.trade_base + self._trades_before(st, minute)
        first_agg = st.agg_base + self._aggs_before(st, minute)
        groups: list[AggGroup] = []
        used = 0
        for j in range(n):
            part = tuple(qtys[used : used + sizes[j]])
            t = minute * MINUTE_MS + offsets[j]
            groups.append(
                AggGroup(first_agg + j, first_trade + used, prices[j], t, makers[j], part)
            )
            used += sizes[j]
        return tuple(groups)

    def _groups_forward(
        self, st: _Sym, minute: int, now: int, skip: Callable[[AggGroup], int] | None = None
    ) -> Iterator[AggGroup]:
        """Groups from ``minute`` on that happened by ``now``; with ``skip``, those of the
        first minute whose ``skip`` key is below 0 are passed over by bisection (a fast
        stream rate makes a minute's groups many)."""
        now_minute = now // MINUTE_MS
        minute = self._next_live(minute)
        first = True
        while minute <= now_minute:
            groups = self._groups(st, minute)
            start = bisect.bisect_left(groups, 0, key=skip) if first and skip else 0
            first = False
            for i in range(start, len(groups)):
                group = groups[i]
                if group.time > now:
                    return
                yield group
            minute = self._next_live(minute + 1)

    def _groups_backward(self, st: _Sym, until: int) -> Iterator[AggGroup]:
        minute = self._prev_live(until // MINUTE_MS)
        while minute is not None:
            for group in reversed(self._groups(st, minute)):
                if group.time <= until:
                    yield group
            minute = self._prev_live(minute - 1)

    def _minute_of(
        self, st: _Sym, offset: int, counter: Callable[[_Sym, int], int], now: int
    ) -> int:
        """The live minute holding the ``offset``-th trade (or aggregate) since listing."""
        lo, hi = self.first_minute, now // MINUTE_MS
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if counter(st, mid) <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def _trades_from(self, st: _Sym, from_id: int, now: int) -> Iterator[Trade]:
        offset = max(0, from_id - st.trade_base)
        minute = self._minute_of(st, offset, self._trades_before, now)
        skip = lambda g: g.first_id + len(g.qtys) - 1 - from_id  # noqa: E731
        for group in self._groups_forward(st, minute, now, skip):
            for i, qty in enumerate(group.qtys):
                trade_id = group.first_id + i
                if trade_id >= from_id:
                    yield Trade(trade_id, group.price, qty, group.time, group.buyer_maker)

    def _recent_trades(self, st: _Sym, limit: int, until: int) -> list[Trade]:
        found: list[Trade] = []
        for group in self._groups_backward(st, until):
            for i in range(len(group.qtys) - 1, -1, -1):
                found.append(
                    Trade(
                        group.first_id + i,
                        group.price,
                        group.qtys[i],
                        group.time,
                        group.buyer_maker,
                    )
                )
                if len(found) == limit:
                    return found[::-1]
        return found[::-1]

    def _trade_json(self, st: _Sym, trade: Trade) -> JsonDict:
        return {
            "id": trade.id,
            "price": st.price(trade.price),
            "qty": st.qty(trade.qty),
            "quoteQty": format_wire(st.notional(trade.price, trade.qty)),
            "time": trade.time,
            "isBuyerMaker": trade.buyer_maker,
            "isBestMatch": True,
        }

    def trades(self, symbol: str, from_id: int | None = None, limit: int = 500) -> list[JsonDict]:
        """``/api/v3/trades`` (from_id None: most recent) and ``/api/v3/historicalTrades``."""
        st = self._sym(symbol)
        now = self.now()
        limit = max(1, min(limit, MAX_TRADES))
        if from_id is None:
            found = self._recent_trades(st, limit, now)
        else:
            found = []
            for trade in self._trades_from(st, from_id, now):
                found.append(trade)
                if len(found) == limit:
                    break
        return [self._trade_json(st, t) for t in found]

    def agg_trades(
        self,
        symbol: str,
        from_id: int | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 500,
    ) -> list[JsonDict]:
        """``/api/v3/aggTrades``: by id, by time window, or the most recent ones."""
        st = self._sym(symbol)
        now = self.now()
        limit = max(1, min(limit, MAX_TRADES))
        upper = now if end_ms is None else min(now, end_ms)
        if from_id is None and start_ms is None:
            found = []
            for group in self._groups_backward(st, upper):
                found.append(group)
                if len(found) == limit:
                    break
            found.reverse()
        else:
            found = self._aggs_forward(st, from_id, start_ms, upper, limit, now)
        return [self._agg_json(st, g) for g in found]

    def _aggs_forward(
        self, st: _Sym, from_id: int | None, start_ms: int | None, upper: int, limit: int, now: int
    ) -> list[AggGroup]:
        if from_id is not None:
            offset = max(0, from_id - st.agg_base)
            minute = self._minute_of(st, offset, self._aggs_before, now)
        else:
            minute = (start_ms or 0) // MINUTE_MS
        lowest_id = from_id if from_id is not None else 0
        earliest = start_ms if start_ms is not None else 0
        found: list[AggGroup] = []
        skip = lambda g: min(g.agg_id - lowest_id, g.time - earliest)  # noqa: E731
        for group in self._groups_forward(st, minute, now, skip):
            if group.time > upper or len(found) == limit:
                break
            if group.agg_id >= lowest_id and group.time >= earliest:
                found.append(group)
        return found

    @staticmethod
    def _agg_json(st: _Sym, group: AggGroup) -> JsonDict:
        return {
            "a": group.agg_id,
            "p": st.price(group.price),
            "q": st.qty(sum(group.qtys)),
            "f": group.first_id,
            "l": group.first_id + len(group.qtys) - 1,
            "T": group.time,
            "m": group.buyer_maker,
            "M": True,
        }

    def first_trade_id(self, symbol: str) -> int:
        """Id of the very first trade (at listing)."""
        return self._sym(symbol).trade_base

    def last_trade(self, symbol: str) -> JsonDict | None:
        """The latest trade that happened by now, or None before the listing."""
        st = self._sym(symbol)
        found = self._recent_trades(st, 1, self.now())
        return self._trade_json(st, found[0]) if found else None

    # ------------------------------------------------------------- order book

    def book(self, symbol: str) -> LiveBook:
        """The symbol's live book, played up to the clock (built on first use)."""
        st = self._sym(symbol)
        book = self._books.get(symbol)
        now = self.now()
        if book is None:
            book = LiveBook(
                seed=mix64(st.book_salt),
                first_id=st.book_base + now // 10,
                levels=MAX_DEPTH,
                rate=self.rate or BOOK_RATE,
                unit=st.volume_steps / 40,
                gap=max(1.0, st.base_ticks / 200_000),
                mid=lambda at: self._mid_price(st, at),
            )
            self._books[symbol] = book
        book.advance(now)
        return book

    def depth(self, symbol: str, limit: int = 100) -> JsonDict:
        """``/api/v3/depth``: the best ``limit`` levels of the live book."""
        limit = max(1, min(limit, MAX_DEPTH))
        last_id, bids, asks = self.book(symbol).snapshot(limit)
        return {
            "lastUpdateId": last_id,
            "bids": self.wire_levels(symbol, bids),
            "asks": self.wire_levels(symbol, asks),
        }

    def wire_levels(self, symbol: str, levels: Iterable[tuple[int, int]]) -> list[list[str]]:
        """Book levels (ticks, steps) as Binance's ``[price, quantity]`` strings."""
        st = self._sym(symbol)
        pm, qm, wire = st.price_mult, st.qty_mult, _WIRE
        return [[wire % divmod(p * pm, _E8), wire % divmod(q * qm, _E8)] for p, q in levels]

    def _mid_price(self, st: _Sym, at: int) -> int | None:
        """The price the book is centred on at ``at`` (ticks): the minute's open moving
        evenly to its close, so the book drifts with the candles instead of jumping
        with every trade; the last close during a maintenance window."""
        minute = at // MINUTE_MS
        live = self._prev_live(minute)
        if live is None:
            return None
        groups = self._groups(st, live)
        if live != minute:
            return groups[-1].price
        o, c = groups[0].price, groups[-1].price
        return o + (c - o) * (at - minute * MINUTE_MS) // MINUTE_MS

    # ---------------------------------------------------------------- streams

    def trades_after(self, symbol: str, after_id: int, until_ms: int) -> list[Trade]:
        """Trades with an id above ``after_id`` that happened by ``until_ms``."""
        st = self._sym(symbol)
        return list(self._trades_from(st, after_id + 1, until_ms))

    def aggs_after(self, symbol: str, after_id: int, until_ms: int) -> list[AggGroup]:
        """Aggregate trades with an id above ``after_id`` that happened by ``until_ms``."""
        st = self._sym(symbol)
        return self._aggs_forward(st, after_id + 1, None, until_ms, 1 << 62, until_ms)

    def last_ids(self, symbol: str, at_ms: int) -> tuple[int, int]:
        """Ids of the last trade and aggregate trade by ``at_ms`` (one below the first
        ones before the listing)."""
        st = self._sym(symbol)
        for group in self._groups_backward(st, at_ms):
            return group.first_id + len(group.qtys) - 1, group.agg_id
        return st.trade_base - 1, st.agg_base - 1

    def trade_json(self, symbol: str, trade: Trade) -> JsonDict:
        """A trade as ``/api/v3/trades`` shows it."""
        return self._trade_json(self._sym(symbol), trade)

    def agg_json(self, symbol: str, group: AggGroup) -> JsonDict:
        """An aggregate trade as ``/api/v3/aggTrades`` shows it."""
        return self._agg_json(self._sym(symbol), group)

    def wire_price(self, symbol: str, ticks: int) -> str:
        return self._sym(symbol).price(ticks)

    def wire_qty(self, symbol: str, steps: int) -> str:
        return self._sym(symbol).qty(steps)

    def first_trade_of(self, symbol: str, minute_ms: int) -> int:
        """Id of the first trade of the live minute opening at ``minute_ms``."""
        st = self._sym(symbol)
        return st.trade_base + self._trades_before(st, minute_ms // MINUTE_MS)

    # ---------------------------------------------------------------- tickers

    def ticker_24hr(self, symbol: str, at_ms: int | None = None) -> JsonDict:
        """``/api/v3/ticker/24hr`` over the 1m candles opened in the 24 hours before
        ``at_ms`` (default: now); the best bid and ask are the live book's."""
        st = self._sym(symbol)
        now = self.now() if at_ms is None else at_ms
        window_start = now - DAY_MS
        first_minute = _ceil_div(window_start, MINUTE_MS)
        bar = self._range_bar(st, first_minute, now // MINUTE_MS + 1, now)
        last = self._recent_trades(st, 1, now)
        book = self.depth(symbol, 1)
        stats = _ticker_stats(
            st, bar, last[0] if last else None, self._prev_close(st, first_minute)
        )
        first_id = st.trade_base + self._trades_before(st, self._next_live(first_minute))
        last_id = last[0].id if last else -1
        count = last_id - first_id + 1 if bar and last_id >= first_id else 0
        return {
            "symbol": symbol,
            **stats,
            "bidPrice": book["bids"][0][0] if book["bids"] else "0.00000000",
            "bidQty": book["bids"][0][1] if book["bids"] else "0.00000000",
            "askPrice": book["asks"][0][0] if book["asks"] else "0.00000000",
            "askQty": book["asks"][0][1] if book["asks"] else "0.00000000",
            **_ticker_range(st, bar),
            "openTime": window_start,
            "closeTime": now,
            "firstId": first_id if count else -1,
            "lastId": last_id if count else -1,
            "count": count,
        }

    def _prev_close(self, st: _Sym, minute: int) -> int:
        return self._path(st, minute - 1, minute)[0][0]

    def ticker_price(self, symbol: str) -> JsonDict:
        """``/api/v3/ticker/price``: the last trade price."""
        last = self.last_trade(symbol)
        return {"symbol": symbol, "price": last["price"] if last else "0.00000000"}

    def book_ticker(self, symbol: str) -> JsonDict:
        """``/api/v3/ticker/bookTicker``: best bid and ask of the current book."""
        book = self.depth(symbol, 1)
        bid = book["bids"][0] if book["bids"] else ["0.00000000", "0.00000000"]
        ask = book["asks"][0] if book["asks"] else ["0.00000000", "0.00000000"]
        return {
            "symbol": symbol,
            "bidPrice": bid[0],
            "bidQty": bid[1],
            "askPrice": ask[0],
            "askQty": ask[1],
        }

    def avg_price(self, symbol: str) -> JsonDict:
        """``/api/v3/avgPrice``: volume-weighted price of the last five complete minutes."""
        st = self._sym(symbol)
        now = self.now()
        end = now // MINUTE_MS
        bar = self._range_bar(st, end - 5, end, now)
        price = _weighted(st, bar) if bar else 0
        return {"mins": 5, "price": format_wire(price), "closeTime": end * MINUTE_MS - 1}


MIN_RATE = 0.25
"""Slowest stream rate: 15 trades a minute keep the model's count invariants."""


def _paced(spec: SymbolSpec, rate: float | None) -> SymbolSpec:
    """``spec`` trading ``rate`` times a second (None: its own pace); aggregate trades
    are 0.4 of the trades and the volume stays large enough to split among them."""
    if rate is None:
        return spec
    trades = max(15, round(60 * rate))
    volume = max(spec.volume_per_minute, 4 * trades / 10**spec.qty_decimals)
    return dataclasses.replace(
        spec,
        trades_per_minute=trades,
        aggs_per_minute=max(6, round(trades * 0.4)),
        volume_per_minute=volume,
    )


def _weighted(st: _Sym, bar: Bar) -> int:
    """Quote volume / volume in 1e-8 units."""
    return bar[6] * pow10(st.spec.qty_decimals) // bar[5] if bar[5] else 0


def _ticker_stats(st: _Sym, bar: Bar | None, last: Trade | None, prev_close: int) -> JsonDict:
    if bar is None or last is None:
        zero = "0.00000000"
        return {
            "priceChange": zero,
            "priceChangePercent": "0.000",
            "weightedAvgPrice": zero,
            "prevClosePrice": st.price(prev_close),
            "lastPrice": st.price(last.price) if last else zero,
            "lastQty": st.qty(last.qty) if last else zero,
        }
    change = last.price - bar[1]
    return {
        "priceChange": st.price(change),
        "priceChangePercent": f"{change * 100 / bar[1]:.3f}",
        "weightedAvgPrice": format_wire(_weighted(st, bar)),
        "prevClosePrice": st.price(prev_close),
        "lastPrice": st.price(last.price),
        "lastQty": st.qty(last.qty),
    }


def _ticker_range(st: _Sym, bar: Bar | None) -> JsonDict:
    if bar is None:
        zero = "0.00000000"
        keys = ("openPrice", "highPrice", "lowPrice", "volume", "quoteVolume")
        return dict.fromkeys(keys, zero)
    return {
        "openPrice": st.price(bar[1]),
        "highPrice": st.price(bar[2]),
        "lowPrice": st.price(bar[3]),
        "volume": st.qty(bar[5]),
        "quoteVolume": format_wire(bar[6]),
    }


def _partition(total: int, parts: int, rng: random.Random) -> list[int]:
    """Split ``total`` into ``parts`` positive integers with random, heavy-tailed sizes."""
    weights = [1 + int(1000 * rng.random() ** 3) for _ in range(parts)]
    whole = sum(weights)
    spare = total - parts
    out: list[int] = []
    running = 0
    previous = 0
    for weight in weights:
        running += weight
        cut = spare * running // whole
        out.append(1 + cut - previous)
        previous = cut
    return out


def _runs(values: list[int]) -> Iterator[tuple[int, int]]:
    """Maximal runs of consecutive integers in a sorted list, as half-open ranges."""
    if not values:
        return
    start = prev = values[0]
    for value in values[1:]:
        if value != prev + 1:
            yield start, prev + 1
            start = value
        prev = value
    yield start, prev + 1


def _merge_holes(holes: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Maintenance windows in ms -> sorted, disjoint half-open minute ranges."""
    ranges: list[tuple[int, int]] = []
    for start_ms, end_ms in sorted(holes):
        if end_ms <= start_ms:
            raise ValueError(f"empty maintenance window {(start_ms, end_ms)}")
        a, b = _ceil_div(start_ms, MINUTE_MS), _ceil_div(end_ms, MINUTE_MS)
        if a >= b:
            continue
        if ranges and a <= ranges[-1][1]:
            ranges[-1] = (ranges[-1][0], max(b, ranges[-1][1]))
        else:
            ranges.append((a, b))
    return tuple(ranges)
