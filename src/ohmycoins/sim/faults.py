"""Deterministic fault injection for the exchange simulator.

Collectors must survive a misbehaving exchange, so the simulator can break responses
on purpose: 5xx answers, requests that never answer, malformed or truncated JSON,
klines pages with duplicated, swapped, missing, ``"NaN"`` or negative rows, and the
rate limiter's answers: a 429 with ``Retry-After`` (anything sent before it passes is
banned, as Binance does) or a 418 ban, each for ``seconds``.  On the websocket
streams: a dropped frame (a missing diff), a duplicated one, two frames swapped, a
stall (the socket stays open and silent), a disconnect, a garbage frame and a burst of
ten times the book's normal rate.  Each ``FaultRule`` fires for "the next ``count``
matching requests" (or frames) and/or with a ``probability`` drawn from a seeded RNG,
so a test sees the same faults on every run.
An outage switch answers 503 to everything until it is turned off.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

KlineRow = list[Any]

KLINE_PATHS = frozenset({"/api/v3/klines", "/api/v3/uiKlines"})


class FaultKind(StrEnum):
    """What goes wrong with a response."""

    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    MALFORMED_JSON = "malformed_json"
    TRUNCATED_JSON = "truncated_json"
    DUPLICATE_CANDLES = "duplicate_candles"
    OUT_OF_ORDER = "out_of_order"
    GAP = "gap"
    NAN = "nan"
    NEGATIVE = "negative"
    RATE_LIMITED = "rate_limited"
    BANNED = "banned"
    DROP_FRAME = "drop_frame"
    DUPLICATE_FRAME = "duplicate_frame"
    REORDER_FRAMES = "reorder_frames"
    STALL = "stall"
    DISCONNECT = "disconnect"
    GARBAGE_FRAME = "garbage_frame"
    BURST = "burst"


# Kline faults and the page size they need to be visible.
_MIN_ROWS: dict[FaultKind, int] = {
    FaultKind.DUPLICATE_CANDLES: 1,
    FaultKind.OUT_OF_ORDER: 2,
    FaultKind.GAP: 3,
    FaultKind.NAN: 1,
    FaultKind.NEGATIVE: 1,
}
KLINE_KINDS = frozenset(_MIN_ROWS)
LIMIT_KINDS = frozenset({FaultKind.RATE_LIMITED, FaultKind.BANNED})
"""Faults the rate limiter answers, before the request is served."""
WS_KINDS = frozenset(
    {
        FaultKind.DROP_FRAME,
        FaultKind.DUPLICATE_FRAME,
        FaultKind.REORDER_FRAMES,
        FaultKind.STALL,
        FaultKind.DISCONNECT,
        FaultKind.GARBAGE_FRAME,
        FaultKind.BURST,
    }
)
"""Websocket faults: they fire on a stream's frames, never on a REST response."""
_VALUE_FIELDS = (1, 2, 3, 4, 5)  # open, high, low, close, volume


@dataclass(frozen=True)
class FaultRule:
    """One kind of fault, on one path (or every Binance path when ``path`` is None).

    ``count`` requests fire unconditionally first, then each further matching request
    fires with ``probability``.  ``status`` is the HTTP status of ``server_error``;
    ``rows`` is how many kline rows a kline fault touches; ``seconds`` is the
    ``Retry-After`` of ``rate_limited`` and the length of a ``banned`` fault's ban,
    of a ``stall`` (the socket stays open and says nothing) and of a ``burst`` (the
    book changes ten times as often, in market time).
    """

    kind: FaultKind
    probability: float = 0.0
    count: int = 0
    path: str | None = None
    status: int = 500
    rows: int = 1
    seconds: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", FaultKind(self.kind))
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability must be within [0, 1], got {self.probability}")
        if self.count < 0 or self.rows < 1:
            raise ValueError("count must be >= 0 and rows >= 1")
        if not 500 <= self.status <= 599:
            raise ValueError(f"server_error status must be 5xx, got {self.status}")
        if self.seconds <= 0:
            raise ValueError(f"seconds must be > 0, got {self.seconds}")

    def applies_to(self, path: str, kline_rows: int | None) -> bool:
        """Whether this rule can fire on a response of ``path`` (for a websocket fault:
        on a frame of the stream ``path``, which a rule names whole, ``btcusdt@trade``,
        or by channel, ``trade``, ``depth@100ms``)."""
        if self.kind in WS_KINDS:
            return self.path is None or path == self.path or path.endswith("@" + self.path)
        if self.path is not None and self.path != path:
            return False
        if self.kind in KLINE_KINDS:
            return kline_rows is not None and kline_rows >= _MIN_ROWS[self.kind] + (
                self.rows - 1 if self.kind is FaultKind.GAP else 0
            )
        return True

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "probability": self.probability,
            "count": self.count,
            "path": self.path,
            "status": self.status,
            "rows": self.rows,
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultRule:
        unknown = set(data) - {"kind", "probability", "count", "path", "status", "rows", "seconds"}
        if unknown:
            raise ValueError(f"unknown fault rule fields: {sorted(unknown)}")
        return cls(
            kind=FaultKind(data["kind"]),
            probability=float(data.get("probability", 0.0)),
            count=int(data.get("count", 0)),
            path=data.get("path"),
            status=int(data.get("status", 500)),
            rows=int(data.get("rows", 1)),
            seconds=float(data.get("seconds", 1.0)),
        )


@dataclass(frozen=True)
class FaultPlan:
    """The faults in force; ``seed`` None means "derive from the simulator's seed"."""

    rules: tuple[FaultRule, ...] = ()
    outage: bool = False
    seed: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "rules": [r.to_json() for r in self.rules],
            "outage": self.outage,
            "seed": self.seed,
        }

    def updated(self, data: Mapping[str, Any]) -> FaultPlan:
        """A copy with the keys present in ``data`` (rules, outage, seed) replaced."""
        unknown = set(data) - {"rules", "outage", "seed"}
        if unknown:
            raise ValueError(f"unknown fault plan fields: {sorted(unknown)}")
        plan = self
        if "rules" in data:
            plan = replace(plan, rules=tuple(FaultRule.from_json(r) for r in data["rules"]))
        if "outage" in data:
            plan = replace(plan, outage=bool(data["outage"]))
        if "seed" in data:
            plan = replace(plan, seed=None if data["seed"] is None else int(data["seed"]))
        return plan


@dataclass
class FaultInjector:
    """Mutable state of a plan: remaining counts, the RNG, and what was injected."""

    plan: FaultPlan
    default_seed: int
    injected: Counter[str] = field(default_factory=Counter)
    _remaining: list[int] = field(default_factory=list)
    _rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.set_plan(self.plan)

    def set_plan(self, plan: FaultPlan) -> None:
        """Switch to ``plan``: counts start over and the RNG is re-seeded."""
        self.plan = plan
        self._remaining = [rule.count for rule in plan.rules]
        self._rng = random.Random(
            plan.seed if plan.seed is not None else self.default_seed ^ 0xFA017
        )

    def set_outage(self, on: bool) -> None:
        """Turn the outage switch on or off without touching the rules' state."""
        self.plan = replace(self.plan, outage=on)

    @property
    def remaining(self) -> tuple[int, ...]:
        """Unconditional firings left per rule."""
        return tuple(self._remaining)

    @property
    def has_ws_rules(self) -> bool:
        """Whether any rule can fire on a websocket frame."""
        return any(rule.kind in WS_KINDS for rule in self.plan.rules)

    def pick(
        self, path: str, kline_rows: int | None = None, *, limits: bool = False, ws: bool = False
    ) -> FaultRule | None:
        """The fault for this response, if any; consumes counts and RNG draws. With
        `limits`, only the rate limiter's faults (decided before serving); with `ws`,
        only the websocket faults (``path`` is then a stream name); else the others."""
        for i, rule in enumerate(self.plan.rules):
            if (rule.kind in LIMIT_KINDS) != limits or (rule.kind in WS_KINDS) != ws:
                continue
            if not rule.applies_to(path, kline_rows):
                continue
            if self._remaining[i] > 0:
                self._remaining[i] -= 1
            elif rule.probability <= 0.0 or self._rng.random() >= rule.probability:
                continue
            self.injected[rule.kind.value] += 1
            return rule
        return None

    def break_rows(self, rule: FaultRule, rows: list[KlineRow]) -> list[KlineRow]:
        """A copy of a klines page damaged as ``rule`` says."""
        out = [list(row) for row in rows]
        rng = self._rng
        if rule.kind is FaultKind.DUPLICATE_CANDLES:
            for _ in range(rule.rows):
                i = int(rng.random() * len(out))
                out.insert(i + 1, list(out[i]))
        elif rule.kind is FaultKind.OUT_OF_ORDER:
            for i in rng.sample(range(len(out) - 1), min(rule.rows, len(out) - 1)):
                out[i], out[i + 1] = out[i + 1], out[i]
        elif rule.kind is FaultKind.GAP:
            start = 1 + int(rng.random() * (len(out) - 1 - rule.rows))
            del out[start : start + rule.rows]
        else:
            for _ in range(rule.rows):
                row = out[int(rng.random() * len(out))]
                j = _VALUE_FIELDS[int(rng.random() * len(_VALUE_FIELDS))]
                row[j] = "NaN" if rule.kind is FaultKind.NAN else "-" + str(row[j]).lstrip("-")
        return out

    def break_body(self, rule: FaultRule, body: bytes) -> bytes:
        """Make a JSON body unparseable: a doubled comma, or cut short."""
        rng = self._rng
        if rule.kind is FaultKind.TRUNCATED_JSON:
            return body[: 1 + int(rng.random() * (len(body) - 1))] if len(body) > 1 else b""
        at = body.find(b",", int(rng.random() * len(body)))
        if at < 0:
            at = body.find(b",")
        if at < 0:
            return body + b"}"
        return body[:at] + b",," + body[at + 1 :]
