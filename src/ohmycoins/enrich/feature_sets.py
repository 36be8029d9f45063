"""Feature sets declared as data, and their computation over one candle series.

A `Feature` is a name, the implementation it uses (`kind`, a key of `KINDS`), its
inputs, its parameters and its warm-up: how many bars of the series it needs before
its value is stable (a recursive indicator such as an EMA needs far more bars than its
length, until its seed has faded below 1e-6 of the value). A `FeatureSet` is a tuple
of them; its `version` is a hash of every definition, so a changed definition makes
a new version and the rows stored under the old one stay as they were.

Point in time: the features of the candle opening at `ts` are computed when it has
closed, at `ts + step` (its *cut*). They read the closed candles up to it, and from
the other ledgers only what was known strictly before the cut (`feature_joins`).
Values inside a feature's warm-up are NULL (NaN here), and the row is marked
(`FeatureFrame.warm_up`). A feature whose inputs are missing is NULL, never zero.

Classic indicators are TA-Lib's; the rolling statistics TA-Lib lacks (quantiles,
range-based volatility, z-scores, VWAP) are pandas' rolling windows.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import talib

from ohmycoins.enrich import feature_joins as joins
from ohmycoins.enrich.feature_joins import Array, Times

SMALL_TAIL = 64
"""At most this many wanted rows are computed window by window (an update)."""
CONVERGED = 14.0
"""A recursive indicator's seed weighs e^-14 (< 1e-6) after CONVERGED / alpha bars."""


@dataclass(frozen=True, slots=True)
class Bars:
    """One candle series as float arrays, oldest first; `volume` is NaN where the
    source has none. `ts` is each candle's open time (epoch ms), `step_ms` its length."""

    ts: Times
    open: Array
    high: Array
    low: Array
    close: Array
    volume: Array
    step_ms: int

    def __len__(self) -> int:
        return len(self.ts)

    def column(self, name: str) -> Array:
        """A bar column, or one derived from them (`log_volume`)."""
        if name == "log_volume":
            return np.log1p(self.volume)
        value: Array = getattr(self, name)
        return value

    def arrays(self) -> tuple[np.ndarray[Any, Any], ...]:
        """ts, open, high, low, close, volume."""
        return (self.ts, self.open, self.high, self.low, self.close, self.volume)

    @classmethod
    def of(cls, arrays: Sequence[np.ndarray[Any, Any]], step_ms: int) -> Bars:
        """Bars from ts, open, high, low, close, volume arrays."""
        ts, o, h, low, c, v = arrays
        return cls(ts.astype(np.int64), o, h, low, c, v, step_ms)

    def slice(self, start: int, stop: int | None = None) -> Bars:
        """The bars of positions `start` to `stop`."""
        return Bars.of([a[start:stop] for a in self.arrays()], self.step_ms)

    def __add__(self, other: Bars) -> Bars:
        """These bars, then `other`'s."""
        pairs = zip(self.arrays(), other.arrays(), strict=True)
        return Bars.of([np.concatenate(pair) for pair in pairs], self.step_ms)


@dataclass(frozen=True, slots=True)
class Feature:
    """One feature: `kind` names its implementation (a key of `KINDS`), `params` its
    parameters as sorted (name, value) pairs, `warmup` the bars before it is stable."""

    name: str
    kind: str
    inputs: tuple[str, ...]
    warmup: int
    params: tuple[tuple[str, Any], ...] = ()

    def param(self, name: str, default: Any = None) -> Any:
        for key, value in self.params:  # a few pairs: no dict built per call
            if key == name:
                return value
        return default

    def definition(self) -> dict[str, Any]:
        """The definition as plain data: what the set's version hashes."""
        return {
            "name": self.name,
            "kind": self.kind,
            "inputs": list(self.inputs),
            "warmup": self.warmup,
            "params": {k: v for k, v in self.params},
        }


def feature(name: str, kind: str, inputs: Sequence[str], warmup: int, **params: Any) -> Feature:
    """A `Feature` with keyword parameters."""
    return Feature(name, kind, tuple(inputs), warmup, tuple(sorted(params.items())))


@dataclass(frozen=True)
class FeatureSet:
    """A named, versioned list of features, computed together."""

    name: str
    features: tuple[Feature, ...]
    revision: int = 1
    """Bumped by hand when an implementation changes while its definition does not."""

    def __post_init__(self) -> None:
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            raise ValueError(f"feature set {self.name} names a feature twice")
        unknown = sorted({f.kind for f in self.features} - set(KINDS))
        if unknown:
            raise ValueError(f"feature set {self.name}: unknown kinds {unknown}")

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.features]

    @cached_property
    def definition(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "revision": self.revision,
            "features": [f.definition() for f in self.features],
        }

    @cached_property
    def version(self) -> str:
        """`NAME-HASH`: a hash of every definition (changes when any of them does)."""
        text = json.dumps(self.definition, sort_keys=True, separators=(",", ":"))
        return f"{self.name}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"

    @cached_property
    def max_warmup(self) -> int:
        return max((f.warmup for f in self.features), default=0)


@dataclass(frozen=True, slots=True)
class FeatureFrame:
    """Computed features: one row per candle (`ts`), one column per feature (`values`
    in `columns` order, NaN for NULL); `warm_up` marks rows where some feature is
    still inside its warm-up."""

    ts: Times
    values: Array
    warm_up: np.ndarray[Any, np.dtype[np.bool_]]
    columns: list[str]

    def __len__(self) -> int:
        return len(self.ts)


@dataclass
class _Context:
    """What one computation shares between features: the bars, the ledgers, a cache
    of TA-Lib calls (MACD's three outputs are one call)."""

    bars: Bars
    ledgers: joins.Ledgers
    last: int | None = None
    """Only the last rows are wanted (an update): a kind may leave the others NaN."""
    cache: dict[tuple[Any, ...], Any] = field(default_factory=dict)


def compute(
    feature_set: FeatureSet,
    bars: Bars,
    ledgers: joins.Ledgers | None = None,
    *,
    offset: int = 0,
    last: int | None = None,
) -> FeatureFrame:
    """The features of every bar of `bars` (of the `last` bars only, when given: the
    bars before them are context). `offset` is how many bars of the series precede
    `bars[0]` (a tail read for an incremental update): a bar's warm-up counts from the
    start of the series."""
    context = _Context(bars, ledgers or joins.Ledgers(), last)
    n = len(bars)
    first = 0 if last is None else n - last  # rows before `first` are context only
    # one feature per row here, each written contiguously; the frame holds the transpose
    columns = np.empty((len(feature_set.features), n - first))
    warm = np.zeros(n - first, dtype=bool)
    if n == first:
        return FeatureFrame(bars.ts[first:].copy(), columns.T, warm, feature_set.columns)
    for index, spec in enumerate(feature_set.features):
        columns[index] = KINDS[spec.kind](context, spec)[first:]
        inside = max(0, min(spec.warmup - offset - first, n - first))  # rows in its warm-up
        if inside:
            columns[index, :inside] = np.nan
            warm[:inside] = True
    columns[~np.isfinite(columns)] = np.nan  # 0/0 and x/0: undefined, not a value
    return FeatureFrame(bars.ts[first:].copy(), columns.T, warm, feature_set.columns)


# --- implementations (kinds) ---------------------------------------------------------

Kind = Callable[[_Context, Feature], Any]


def _talib_output(context: _Context, spec: Feature) -> Array:
    """TA-Lib's `function` on the feature's inputs with its `args` (output `output`)."""
    key, function, args = _talib_call(spec)
    if key not in context.cache:
        columns = [context.bars.column(name) for name in spec.inputs]
        context.cache[key] = function(*columns, **args)
    result = context.cache[key]
    output: Array = result[spec.param("output", 0)] if isinstance(result, tuple) else result
    return output


@functools.cache
def _talib_call(spec: Feature) -> tuple[tuple[Any, ...], Callable[..., Any], dict[str, Any]]:
    """The cache key of a feature's TA-Lib call (the features sharing a call share it),
    the function and its keyword arguments: worked out once per feature."""
    name = spec.param("function")
    args = dict(spec.param("args", ()))
    return ("talib", name, spec.inputs, tuple(sorted(args.items()))), getattr(talib, name), args


def _talib(context: _Context, spec: Feature) -> Array:
    """A TA-Lib output, as it is (`transform` raw) or related to the close: `over_close`
    (x / close, Alpha158's normalisation), `close_over` (close / x - 1: the close's
    distance from a moving average), `inverse` (1 / x), `change` (x - x `lag` bars ago)."""
    value = _talib_output(context, spec)
    close = context.bars.close
    transform = spec.param("transform", "raw")
    with np.errstate(divide="ignore", invalid="ignore"):
        if transform == "over_close":
            return value / close
        if transform == "close_over":
            return close / value - 1.0
        if transform == "inverse":
            return 1.0 / value
        if transform == "change":
            return _lagged_difference(value, int(spec.param("lag")))
    return value


def _lagged_difference(value: Array, lag: int) -> Array:
    out = np.full_like(value, np.nan)
    out[lag:] = value[lag:] - value[:-lag]
    return out


def floats(values: Any) -> Array:
    """A pandas result (or anything array-like) as a float64 array."""
    return np.asarray(values, dtype=np.float64)


def rolling(values: Array, window: int) -> Any:
    """pandas' rolling window over an array (NaN until full, and wherever it holds a NaN)."""
    return pd.Series(values, copy=False).rolling(window)


def _cached(context: _Context, key: str, make: Callable[[], Array]) -> Array:
    if (key,) not in context.cache:
        context.cache[(key,)] = make()
    value: Array = context.cache[(key,)]
    return value


def _log_return(context: _Context, spec: Feature) -> Array:
    """log(close / close `window` bars before)."""
    close = context.bars.close
    window = int(spec.param("window"))
    out = np.full_like(close, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[window:] = np.log(close[window:] / close[:-window])
    return out


def _realized_vol(context: _Context, spec: Feature) -> Array:
    """sqrt of the sum of squared one-bar log returns over `window` bars."""
    bars = context.bars

    def squared() -> Array:
        out = np.full_like(bars.close, np.nan)
        out[1:] = np.log(bars.close[1:] / bars.close[:-1]) ** 2
        return out

    r2 = _cached(context, "r2", squared)
    return np.sqrt(talib.SUM(r2, int(spec.param("window"))))


def _hl2(context: _Context) -> Array:
    bars = context.bars
    return _cached(context, "hl2", lambda: np.log(bars.high / bars.low) ** 2)


def _parkinson_vol(context: _Context, spec: Feature) -> Array:
    """Parkinson (1980): sqrt(mean(ln(high / low)^2) / (4 ln 2)) over `window` bars."""
    mean = talib.SMA(_hl2(context), int(spec.param("window")))
    return np.sqrt(mean / (4.0 * math.log(2.0)))


def _garman_klass_vol(context: _Context, spec: Feature) -> Array:
    """Garman-Klass (1980): sqrt(mean(0.5 ln(H/L)^2 - (2 ln 2 - 1) ln(C/O)^2))."""
    bars = context.bars
    co = np.log(bars.close / bars.open) ** 2
    terms = 0.5 * _hl2(context) - (2.0 * math.log(2.0) - 1.0) * co
    mean = talib.SMA(terms, int(spec.param("window")))
    return np.sqrt(np.maximum(mean, 0.0))


def _quantile_over_close(context: _Context, spec: Feature) -> Array:
    """Alpha158 QTLU/QTLD: the `q` quantile of the close over `window` bars / close."""
    close = context.bars.close
    window, q = int(spec.param("window")), float(spec.param("q"))
    start = _tail_start(context, window)
    if start is None:
        return floats(rolling(close, window).quantile(q)) / close
    # an update: the few windows wanted, sorted once for both quantiles, interpolated
    # linearly between the two nearest ranks as pandas does
    ordered = _cached(
        context, f"sorted{window}", lambda: np.sort(_tail_windows(context, close, window)[1])
    )
    rank = q * (window - 1)
    below = math.floor(rank)
    above = min(below + 1, window - 1)
    out = np.full_like(close, np.nan)
    out[start:] = ordered[:, below] + (ordered[:, above] - ordered[:, below]) * (rank - below)
    return out / close


def _tail_start(context: _Context, window: int) -> int | None:
    """Where the wanted rows start when only a few are (an update) and each has a full
    window before it; None: compute over every bar."""
    n = len(context.bars)
    if context.last is None or context.last > SMALL_TAIL or n < window:
        return None
    return max(window - 1, n - context.last)


def _tail_windows(context: _Context, values: Array, window: int) -> tuple[int, Array]:
    """The windows of `values` ending at each wanted row from `start` on (`_tail_start`
    not None): one row per wanted bar (a copy: a few small rows)."""
    start = _tail_start(context, window)
    assert start is not None
    ends = np.arange(start, len(values))
    return start, values[ends[:, None] + np.arange(1 - window, 1)]


def _rsv(context: _Context, spec: Feature) -> Array:
    """Alpha158 RSV: (close - min(low)) / (max(high) - min(low) + 1e-12), TA-Lib MIN/MAX."""
    window = int(spec.param("window"))
    bars = context.bars
    lowest = _talib_output(
        context, feature("", "talib", ("low",), 0, function="MIN", args=(("timeperiod", window),))
    )
    highest = _talib_output(
        context, feature("", "talib", ("high",), 0, function="MAX", args=(("timeperiod", window),))
    )
    return (bars.close - lowest) / (highest - lowest + 1e-12)


def _volume_zscore(context: _Context, spec: Feature) -> Array:
    """(volume - its rolling mean) / its rolling standard deviation (sample) over `window`."""
    volume = context.bars.volume
    window = int(spec.param("window"))
    if _tail_start(context, window) is None:
        rolled = rolling(volume, window)
        return (volume - floats(rolled.mean())) / floats(rolled.std())
    start, windows = _tail_windows(context, volume, window)
    out = np.full_like(volume, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[start:] = (volume[start:] - windows.mean(axis=1)) / windows.std(axis=1, ddof=1)
    return out


def _vwap_distance(context: _Context, spec: Feature) -> Array:
    """close / VWAP - 1, VWAP over `window` bars of the typical price (H + L + C) / 3."""
    bars = context.bars
    window = int(spec.param("window"))
    notional = (bars.high + bars.low + bars.close) / 3.0 * bars.volume
    if _tail_start(context, window) is None:
        vwap = floats(rolling(notional, window).sum()) / floats(rolling(bars.volume, window).sum())
        return bars.close / vwap - 1.0
    start, volumes = _tail_windows(context, bars.volume, window)
    _, notionals = _tail_windows(context, notional, window)
    out = np.full_like(bars.close, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[start:] = bars.close[start:] * volumes.sum(axis=1) / notionals.sum(axis=1) - 1.0
    return out


def _joined(join: Callable[..., Array]) -> Kind:
    """A kind answered by an as-of join of another ledger (`feature_joins`)."""

    def kind(context: _Context, spec: Feature) -> Array:
        ts = context.bars.ts
        wanted = ts if context.last is None else ts[len(ts) - context.last :]
        joined = join(wanted, context.bars.step_ms, context.ledgers, **dict(spec.params))
        if len(wanted) == len(ts):
            return joined
        out = np.full(len(ts), np.nan)
        out[len(ts) - len(wanted) :] = joined
        return out

    kind.__doc__ = join.__doc__
    return kind


KINDS: Mapping[str, Kind] = {
    "talib": _talib,
    "log_return": _log_return,
    "realized_vol": _realized_vol,
    "parkinson_vol": _parkinson_vol,
    "garman_klass_vol": _garman_klass_vol,
    "quantile_over_close": _quantile_over_close,
    "rsv": _rsv,
    "volume_zscore": _volume_zscore,
    "vwap_distance": _vwap_distance,
    "taker_imbalance": _joined(joins.taker_imbalance),
    "large_trades": _joined(joins.large_trades),
    "spread_bps": _joined(joins.spread_bps),
    "book_imbalance": _joined(joins.book_imbalance),
    "item_count": _joined(joins.item_count),
    "item_sentiment": _joined(joins.item_sentiment),
    "catalyst_impact": _joined(joins.catalyst_impact),
    "catalyst_count": _joined(joins.catalyst_count),
    "onchain": _joined(joins.onchain_value),
    "macro": _joined(joins.macro_value),
    "mcap_rank": _joined(joins.mcap_rank),
}
