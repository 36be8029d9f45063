"""Turning records into response bodies: JSON or CSV, decimals as exact strings.

Range endpoints build their bodies here with orjson instead of through response
models: 5,000 candles would otherwise be validated field by field. The models in
`schemas.py` still describe the bodies in the OpenAPI schema.
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import orjson
from fastapi import Response

from ohmycoins.api.deps import BadParameterError
from ohmycoins.records import Level, OrderBook

NEXT_CURSOR_HEADER = "X-Next-Cursor"


def plain(value: Any) -> Any:
    """A Decimal as its exact plain-notation string (`0.00000001`, never `1E-8`)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def row_of(record: Any, fields: Sequence[str]) -> dict[str, Any]:
    """The JSON-ready fields of a record."""
    return {name: plain(getattr(record, name)) for name in fields}


def levels(book_side: Iterable[Level]) -> list[list[str]]:
    return [[format(price, "f"), format(amount, "f")] for price, amount in book_side]


def orderbook_row(book: OrderBook) -> dict[str, Any]:
    """An order book with its levels and the measures derived from them."""
    return {
        "exchange": book.exchange,
        "symbol": book.symbol,
        "ts": book.ts,
        "bids": levels(book.bids),
        "asks": levels(book.asks),
        "mid": plain(book.mid),
        "spread": plain(book.spread),
        "imbalance": plain(book.imbalance),
    }


def json_response(body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), media_type="application/json", headers=headers)


def csv_response(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], next_cursor: str | None
) -> Response:
    """Rows as CSV with a header line; the next page's cursor in `X-Next-Cursor`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row[c] is None else row[c] for c in columns])
    headers = {NEXT_CURSOR_HEADER: next_cursor} if next_cursor else None
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


def page_response(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], next_cursor: str | None, fmt: str
) -> Response:
    """A page of a range endpoint in the asked format."""
    if fmt == "csv":
        return csv_response(rows, columns, next_cursor)
    headers = {NEXT_CURSOR_HEADER: next_cursor} if next_cursor else None
    return json_response({"data": rows, "next": next_cursor}, headers)


def encode_cursor(*parts: str | int) -> str:
    """An opaque cursor for keyset pagination."""
    text = "\x1f".join(str(part) for part in parts)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, order: str, size: int) -> list[str]:
    """The key parts of a cursor made for the same `order`; 422 naming `cursor` otherwise."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = base64.urlsafe_b64decode(padded.encode()).decode().split("\x1f")
    except (ValueError, UnicodeDecodeError):
        raise BadParameterError("cursor", "not a cursor returned by this endpoint") from None
    if len(parts) != size + 1 or parts[0] not in ("asc", "desc"):
        raise BadParameterError("cursor", "not a cursor returned by this endpoint")
    if parts[0] != order:
        raise BadParameterError("cursor", f"made for order={parts[0]}, not order={order}")
    return parts[1:]


def cursor_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise BadParameterError("cursor", "not a cursor returned by this endpoint") from None
    if not 0 <= number < 2**63:
        raise BadParameterError("cursor", "not a cursor returned by this endpoint")
    return number
