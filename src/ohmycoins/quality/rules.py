"""Validation rules, one set per record type, run before anything is stored.

`check(record, now_ms)` returns the rules a record breaks (empty when valid); each
`Violation` names the field, the value and the rule. Rules are plain data where they
can be (types, positive and non-negative fields) plus a small function per record
type for the relations between fields.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ohmycoins.errors import Violation
from ohmycoins.records import (
    Candle,
    CatalystEvent,
    CollectorRun,
    CommunityMetric,
    MacroObservation,
    MarketSnapshot,
    NewsItem,
    OnchainMetric,
    OrderBook,
    ProtocolFundamental,
    Record,
    SocialPost,
    Ticker,
    Trade,
    field_types,
    time_fields,
)
from ohmycoins.timeframes import MIN_TS, iso_date, timeframe_ms

FUTURE_TOLERANCE_MS = 5 * 60_000
"""Clock skew we accept between a source and us before a time counts as future."""

SENTIMENT_LABELS = frozenset({"positive", "neutral", "negative"})

_POSITIVE: dict[type[Any], tuple[str, ...]] = {
    Candle: ("open", "high", "low", "close"),
    Ticker: ("last", "bid", "ask"),
    Trade: ("price", "amount"),
    MarketSnapshot: ("price",),
}
MAY_BE_NEGATIVE: dict[type[Any], frozenset[str]] = {
    Ticker: frozenset({"change_pct_24h"}),
    MarketSnapshot: frozenset({"change_pct_24h"}),
    ProtocolFundamental: frozenset({"revenue_24h", "revenue_7d", "revenue_30d"}),
    NewsItem: frozenset({"sentiment_score"}),
    SocialPost: frozenset({"sentiment_score", "score"}),
    MacroObservation: frozenset({"value"}),
}
"""Numeric fields a negative value is legitimate in (a change, a loss, a score): both
these rules and the integrity checks of stored rows exempt them from the sign rule."""


def check(record: Record, now_ms: int) -> list[Violation]:
    """Every rule `record` breaks; empty when it is valid."""
    violations = _check_fields(record)
    if violations:
        return violations
    relations = _RELATIONS.get(type(record))
    return relations(record, now_ms) if relations else []


def split_valid(records: Iterable[Record], now_ms: int) -> tuple[list[Record], list[Violation]]:
    """Valid records, and the violations of the others (the first rule each broke)."""
    valid: list[Record] = []
    violations: list[Violation] = []
    for record in records:
        broken = check(record, now_ms)
        if broken:
            violations.append(broken[0])
        else:
            valid.append(record)
    return valid, violations


def _violation(record: object, field: str, value: object, rule: str) -> Violation:
    return Violation(type(record).__name__, field, value, rule, record)


_ZERO = Decimal(0)
_ANY_SIGN, _POSITIVE_SIGN, _NOT_NEGATIVE = "any", "positive", "not negative"
_TIME = "time"
"""A time: negative before 1970 (real history), but not before `MIN_TS`."""


@dataclass(frozen=True, slots=True)
class _Field:
    """What the field rules need to know about one field of a record type."""

    name: str
    kind: type
    nullable: bool
    key_text: bool
    sign: str | None


@dataclass(frozen=True, slots=True)
class _FieldPlan:
    getter: Callable[[Any], tuple[Any, ...]]
    fields: tuple[_Field, ...]


_PLANS: dict[type[Any], _FieldPlan] = {}


def _field_plan(record_type: type[Any]) -> _FieldPlan:
    """The record type's fields with their rules, built once (checking is a hot path)."""
    if record_type not in _PLANS:
        positive = _POSITIVE.get(record_type, ())
        signed = MAY_BE_NEGATIVE.get(record_type, frozenset())
        times = time_fields(record_type)
        fields = []
        for field in field_types(record_type):
            sign = None
            if field.kind in (Decimal, int):
                sign = _POSITIVE_SIGN if field.name in positive else _NOT_NEGATIVE
                sign = _ANY_SIGN if field.name in signed else sign
                sign = _TIME if field.name in times else sign
            key_text = field.kind is str and field.name in record_type.KEY
            fields.append(_Field(field.name, field.kind, field.nullable, key_text, sign))
        names = [f.name for f in fields]
        getter = operator.attrgetter(*names)
        _PLANS[record_type] = _FieldPlan(getter, tuple(fields))
    return _PLANS[record_type]


def _check_fields(record: Record) -> list[Violation]:
    """Types, required fields, non-empty keys, finite numbers and signs, in one pass."""
    plan = _field_plan(type(record))
    violations = []
    for field, value in zip(plan.fields, plan.getter(record), strict=True):
        if value is None:
            if not field.nullable:
                violations.append(_violation(record, field.name, value, "is required"))
            continue
        kind = field.kind
        if type(value) is not kind and (
            not isinstance(value, kind) or (kind is int and isinstance(value, bool))
        ):
            rule = f"must be {kind.__name__}, got {type(value).__name__}"
            violations.append(_violation(record, field.name, value, rule))
        elif field.key_text and not value:
            violations.append(_violation(record, field.name, value, "must not be empty"))
        elif field.sign is not None:
            broken = _sign_rule(value, field.sign)
            if broken:
                violations.append(_violation(record, field.name, value, broken))
    return violations


def _sign_rule(value: Any, sign: str) -> str | None:
    if isinstance(value, Decimal) and not value.is_finite():
        return "must be a finite number"
    if sign == _POSITIVE_SIGN and value <= _ZERO:
        return "must be > 0"
    if sign == _NOT_NEGATIVE and value < _ZERO:
        return "must be >= 0"
    if sign == _TIME and value < MIN_TS:
        return f"must be >= {MIN_TS} ({iso_date(MIN_TS)})"
    return None


def _check_time(record: Record, value: int, now_ms: int, field: str = "ts") -> list[Violation]:
    if value > now_ms + FUTURE_TOLERANCE_MS:
        return [_violation(record, field, value, f"is in the future (now {now_ms})")]
    return []


def _check_candle(candle: Candle, now_ms: int) -> list[Violation]:
    out = _check_time(candle, candle.ts, now_ms)
    try:
        step = timeframe_ms(candle.timeframe)
    except ValueError as exc:
        return [*out, _violation(candle, "timeframe", candle.timeframe, str(exc))]
    if candle.ts % step:
        out.append(_violation(candle, "ts", candle.ts, f"is not aligned to {candle.timeframe}"))
    if candle.high < max(candle.open, candle.close):
        out.append(_violation(candle, "high", candle.high, "must be >= max(open, close)"))
    if candle.low > min(candle.open, candle.close):
        out.append(_violation(candle, "low", candle.low, "must be <= min(open, close)"))
    return out


def _check_ticker(ticker: Ticker, now_ms: int) -> list[Violation]:
    out = _check_time(ticker, ticker.ts, now_ms)
    if ticker.bid is not None and ticker.ask is not None and ticker.bid > ticker.ask:
        out.append(_violation(ticker, "bid", ticker.bid, f"must be <= ask {ticker.ask}"))
    return out


def _check_trade(trade: Trade, now_ms: int) -> list[Violation]:
    out = _check_time(trade, trade.ts, now_ms)
    if trade.side not in ("buy", "sell"):
        out.append(_violation(trade, "side", trade.side, "must be 'buy' or 'sell'"))
    return out


def _check_levels(
    book: OrderBook, name: str, levels: Sequence[Any], descending: bool
) -> list[Violation]:
    previous: Decimal | None = None
    for index, level in enumerate(levels):
        if (
            not isinstance(level, tuple)
            or len(level) != 2
            or not all(isinstance(x, Decimal) and x.is_finite() for x in level)
        ):
            return [_violation(book, f"{name}[{index}]", level, "must be (price, amount) decimals")]
        price, amount = level
        if price <= 0 or amount <= 0:
            return [_violation(book, f"{name}[{index}]", level, "price and amount must be > 0")]
        if previous is not None and (price >= previous if descending else price <= previous):
            order = "strictly descending" if descending else "strictly ascending"
            return [_violation(book, f"{name}[{index}]", price, f"{name} must be {order}")]
        previous = price
    return []


def _check_orderbook(book: OrderBook, now_ms: int) -> list[Violation]:
    out = _check_time(book, book.ts, now_ms)
    out += _check_levels(book, "bids", book.bids, descending=True)
    out += _check_levels(book, "asks", book.asks, descending=False)
    if not out and book.bids and book.asks and book.bids[0][0] >= book.asks[0][0]:
        out.append(
            _violation(
                book, "bids[0]", book.bids[0][0], f"best bid must be < best ask {book.asks[0][0]}"
            )
        )
    return out


def _check_sentiment(item: NewsItem | SocialPost, now_ms: int) -> list[Violation]:
    out = []
    if item.sentiment_label is not None and item.sentiment_label not in SENTIMENT_LABELS:
        out.append(_violation(item, "sentiment_label", item.sentiment_label, "unknown label"))
    if item.sentiment_score is not None and not -1 <= item.sentiment_score <= 1:
        out.append(_violation(item, "sentiment_score", item.sentiment_score, "must be in [-1, 1]"))
    confidence = item.sentiment_confidence
    if confidence is not None and not 0 <= confidence <= 1:
        out.append(_violation(item, "sentiment_confidence", confidence, "must be in [0, 1]"))
    return out


def _check_catalyst(event: CatalystEvent, now_ms: int) -> list[Violation]:
    if not 1 <= event.impact <= 10:
        return [_violation(event, "impact", event.impact, "must be in 1..10")]
    return []


def _check_score(record: OnchainMetric, now_ms: int) -> list[Violation]:
    out = _check_time(record, record.ts, now_ms)
    if record.quality_score is not None and record.quality_score > 1:
        out.append(_violation(record, "quality_score", record.quality_score, "must be in [0, 1]"))
    return out


def _check_run(run: CollectorRun, now_ms: int) -> list[Violation]:
    scores = {"accuracy": run.accuracy, "completeness": run.completeness}
    scores |= {"timeliness": run.timeliness, "quality": run.quality}
    return [
        _violation(run, name, value, "must be in [0, 1]")
        for name, value in scores.items()
        if value is not None and value > 1
    ]


def _check_ts(record: MarketSnapshot | CommunityMetric, now_ms: int) -> list[Violation]:
    return _check_time(record, record.ts, now_ms)


_RELATIONS: dict[type[Any], Callable[[Any, int], list[Violation]]] = {
    Candle: _check_candle,
    Ticker: _check_ticker,
    Trade: _check_trade,
    OrderBook: _check_orderbook,
    NewsItem: _check_sentiment,
    SocialPost: _check_sentiment,
    CatalystEvent: _check_catalyst,
    OnchainMetric: _check_score,
    CollectorRun: _check_run,
    MarketSnapshot: _check_ts,
    CommunityMetric: _check_ts,
}
