"""Per-symbol parameters of the simulated market and Binance-style decimal strings.

Binance sends every price and quantity as a string with eight decimals whose value lies
on the symbol's tick (price) or step (quantity) grid, e.g. ``"60685.22000000"``.  The
model keeps prices as integer ticks and quantities as integer steps so that sums and
aggregations are exact; this module owns the conversion to the wire strings and the
table of realistic magnitudes per symbol.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass

WIRE_DECIMALS = 8

_QUOTES = ("FDUSD", "USDT", "USDC", "TUSD", "BUSD", "BTC", "ETH", "BNB", "EUR", "TRY")
_SYMBOL_RE = re.compile(r"^[A-Z0-9]{5,20}$")


@dataclass(frozen=True)
class SymbolSpec:
    """Static description of one simulated spot market."""

    symbol: str
    base: str
    quote: str
    price_decimals: int
    qty_decimals: int
    base_price: float
    band: float
    sigma: float
    volume_per_minute: float
    trades_per_minute: int
    aggs_per_minute: int

    @property
    def tick_size(self) -> str:
        return format_units(1, self.price_decimals)

    @property
    def step_size(self) -> str:
        return format_units(1, self.qty_decimals)


_KNOWN: dict[str, tuple[int, int, float, float, float, float, int, int]] = {
    # symbol: (price decimals, qty decimals, base price, band, sigma/min, volume/min, K, G)
    "BTCUSDT": (2, 5, 45_000.0, 0.35, 0.0007, 12.0, 24, 10),
    "ETHUSDT": (2, 4, 2_500.0, 0.30, 0.0009, 150.0, 20, 9),
    "SOLUSDT": (2, 3, 80.0, 0.90, 0.0013, 3_000.0, 16, 8),
    "BNBUSDT": (2, 3, 450.0, 0.35, 0.0009, 400.0, 14, 7),
    "XRPUSDT": (4, 1, 0.6, 0.50, 0.0011, 400_000.0, 14, 7),
    "ADAUSDT": (4, 1, 0.45, 0.50, 0.0012, 300_000.0, 12, 6),
    "DOGEUSDT": (5, 0, 0.12, 0.60, 0.0014, 2_000_000.0, 12, 6),
    "ETHBTC": (5, 4, 0.055, 0.25, 0.0006, 60.0, 10, 5),
}


def split_symbol(symbol: str) -> tuple[str, str]:
    """Split a Binance id such as ``BTCUSDT`` into base and quote assets."""
    if not _SYMBOL_RE.match(symbol):
        raise ValueError(f"not a Binance spot symbol id: {symbol!r}")
    for quote in _QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote) + 1:
            return symbol[: -len(quote)], quote
    raise ValueError(f"unknown quote asset in symbol {symbol!r}")


def spec_for(symbol: str) -> SymbolSpec:
    """Return the spec of a known symbol, or a deterministic plausible one otherwise."""
    base, quote = split_symbol(symbol)
    known = _KNOWN.get(symbol)
    if known is not None:
        pd, qd, price, band, sigma, volume, k, g = known
        return SymbolSpec(symbol, base, quote, pd, qd, price, band, sigma, volume, k, g)
    return _generic_spec(symbol, base, quote)


def _generic_spec(symbol: str, base: str, quote: str) -> SymbolSpec:
    digest = hashlib.blake2b(symbol.encode(), digest_size=8).digest()
    u = int.from_bytes(digest, "little") / 2.0**64
    price = 10.0 ** (u * 4.0 - 1.0)
    magnitude = math.floor(math.log10(price))
    price_decimals = max(0, min(WIRE_DECIMALS, 5 - magnitude))
    qty_decimals = max(0, min(WIRE_DECIMALS, magnitude + 2))
    volume = 300_000.0 / price
    return SymbolSpec(
        symbol, base, quote, price_decimals, qty_decimals, price, 0.5, 0.001, volume, 12, 6
    )


def pow10(exponent: int) -> int:
    """``10 ** exponent`` for a non-negative exponent, typed as int."""
    if exponent < 0:
        raise ValueError(f"negative exponent {exponent}")
    return int(10**exponent)


def format_units(units: int, decimals: int) -> str:
    """Format ``units * 10**-decimals`` as a Binance eight-decimal string."""
    return format_wire(units * pow10(WIRE_DECIMALS - decimals))


def format_wire(wire_units: int) -> str:
    """Format an integer count of 1e-8 units, e.g. ``123`` -> ``"0.00000123"``."""
    if wire_units < 0:
        return "-" + format_wire(-wire_units)
    text = str(wire_units)
    if len(text) > WIRE_DECIMALS:
        return f"{text[:-WIRE_DECIMALS]}.{text[-WIRE_DECIMALS:]}"
    return "0." + text.rjust(WIRE_DECIMALS, "0")


def to_wire_units(value: int, decimals: int) -> int:
    """Convert ``value * 10**-decimals`` to 1e-8 units, rounding half to even if needed."""
    if decimals <= WIRE_DECIMALS:
        return value * pow10(WIRE_DECIMALS - decimals)
    divisor = pow10(decimals - WIRE_DECIMALS)
    quotient, remainder = divmod(value, divisor)
    twice = 2 * remainder
    if twice > divisor or (twice == divisor and quotient % 2 == 1):
        quotient += 1
    return quotient
