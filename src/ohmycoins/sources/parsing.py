"""Small helpers every source parser shares: the `Parsed` result and field conversions.

A parser turns one decoded payload into records. A row of the wrong shape (a missing
field, a number that is not a number) must not stop the parse: the conversion raises
`FieldError`, the parser turns it into a `Violation` carrying the raw row, and the
caller quarantines it beside the records that did parse.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import MAX_PREC, ROUND_FLOOR, Context, Decimal
from typing import Any, Generic, TypeVar

from ohmycoins.errors import Violation
from ohmycoins.timeframes import datetime_ms

JSON = Any
"""Decoded JSON as `HttpSource.get_json` returns it: dict, list, str, int, Decimal,
bool or None (fractional numbers are exact Decimals, never floats)."""

R = TypeVar("R")

EXACT = Context(prec=MAX_PREC)
"""A decimal context whose additions and subtractions never round (sums of levels,
open = price - change)."""

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
MAX_DATE_CHARS = 100
"""Longer texts are not dates: they are not handed to the slower multilingual reader."""
_DATEPARSER_SETTINGS = {
    "TIMEZONE": "UTC",
    "RETURN_AS_TIMEZONE_AWARE": True,
    "PARSERS": ["timestamp", "custom-formats", "absolute-time"],
    "REQUIRE_PARTS": ["day", "month", "year"],
}


@dataclass(frozen=True, slots=True)
class Parsed(Generic[R]):
    """What a parser returns: the records it built and the rows it could not use."""

    records: list[R] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)


class FieldError(ValueError):
    """One field of a raw row has the wrong shape."""

    def __init__(self, field: str, value: object, rule: str) -> None:
        self.field = field
        self.value = value
        self.rule = rule
        super().__init__(f"{field}={value!r}: {rule}")

    def violation(self, record_type: str, row: object) -> Violation:
        """The violation to quarantine: this field's problem, with the whole raw row."""
        return Violation(record_type, self.field, self.value, self.rule, row)


def parse_rows(
    rows: Iterable[Any], build: Callable[[Any], R | None], record_type: str
) -> Parsed[R]:
    """`build` on every row: a malformed row becomes a violation carrying the row and the
    parse goes on; a row `build` answers None for (no data) is left out."""
    parsed: Parsed[R] = Parsed()
    for row in rows:
        try:
            record = build(row)
        except FieldError as error:
            parsed.violations.append(error.violation(record_type, row))
            continue
        if record is not None:
            parsed.records.append(record)
    return parsed


def require(row: object, key: str) -> object:
    """`row[key]`; FieldError when the row is not an object or has no such key."""
    if not isinstance(row, Mapping):
        raise FieldError(key, row, f"row must be an object, got {type(row).__name__}")
    if key not in row:
        raise FieldError(key, None, "is missing")
    return row[key]


def to_text(value: object, field: str) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value:
        raise FieldError(field, value, "must be a non-empty string")
    return value


def to_decimal(value: object, field: str) -> Decimal:
    """An exact, finite Decimal from an int, a Decimal or a numeric string (never a float:
    the text the source sent is the value)."""
    if type(value) is str:
        return _text_to_decimal(value, field)
    if isinstance(value, bool) or value is None:
        raise FieldError(field, value, "must be a number")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        return _text_to_decimal(value, field)
    if isinstance(value, float):
        raise FieldError(field, value, "must be exact: decode JSON with parse_float=Decimal")
    if isinstance(value, Decimal) and value.is_finite():
        return value
    raise FieldError(field, value, "must be a finite number")


def _text_to_decimal(value: str, field: str) -> Decimal:
    """Decimal of a plain numeric string; `Decimal()` alone would also take "NaN",
    "Infinity", "1_000" and surrounding spaces, which no source means as a number."""
    try:
        number = Decimal(value)
    except ArithmeticError:
        raise FieldError(field, value, "must be a number") from None
    if not number.is_finite() or "_" in value or value != value.strip():
        raise FieldError(field, value, "must be a number")
    return number


def to_optional_decimal(value: object, field: str) -> Decimal | None:
    """Like `to_decimal`, but JSON null stays None."""
    return None if value is None else to_decimal(value, field)


def to_optional_int(value: object, field: str) -> int | None:
    """An integer (or an integral numeric string); JSON null stays None."""
    if value is None:
        return None
    number = to_decimal(value, field)
    if number != number.to_integral_value():
        raise FieldError(field, value, "must be an integer")
    return int(number)


def to_epoch_ms(value: object, field: str) -> int:
    """Epoch milliseconds from integer or float milliseconds (`1620550800000.0`, a
    fraction of a millisecond is dropped) or from a date text (`parse_time`)."""
    if type(value) is int:
        return value
    if isinstance(value, str) and not _NUMBER.fullmatch(value):
        moment = parse_time(value)
        if moment is None:
            raise FieldError(field, value, "must be a date and time")
        return moment
    number = to_decimal(value, field)
    return int(number.to_integral_value(rounding=ROUND_FLOOR))


def seconds_to_ms(value: object, field: str) -> int:
    """Epoch milliseconds from (possibly fractional) epoch seconds."""
    number = to_decimal(value, field) * 1000
    return int(number.to_integral_value(rounding=ROUND_FLOOR))


def to_optional_time(value: object, field: str) -> int | None:
    """Like `to_epoch_ms`, but None where the source gives no time or one no reader
    understands: the caller stores it as unknown, never as another time."""
    if value is None or value == "":
        return None
    try:
        return to_epoch_ms(value, field)
    except FieldError:
        return None


def parse_time(text: str) -> int | None:
    """Epoch ms of a date as sources write it, or None when it cannot be read.

    The one date reader of every source: ISO 8601 and RFC 822 first (fast, and what
    most sources send), then dateparser, which reads dates written in other languages
    (`Seg, 24 Set 2018 19:42:40 -0300`) and formats. A time without a zone is UTC.
    Relative dates ("2 hours ago") and texts without a day, month and year are not
    read: they would become a time the source never stated."""
    text = text.strip()
    if not text or len(text) > MAX_DATE_CHARS:
        return None
    moment = _iso_or_rfc822(text) or _any_language(text)
    return None if moment is None else datetime_ms(moment)


def _iso_or_rfc822(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        return email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None


def _any_language(text: str) -> datetime | None:
    import dateparser  # loaded on first use: its language data takes a second

    try:
        moment = dateparser.parse(text, settings=_DATEPARSER_SETTINGS)
    except (ValueError, OverflowError, LookupError):
        return None
    return moment if isinstance(moment, datetime) else None
