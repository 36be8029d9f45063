"""Which assets a headline or post mentions, as upper-case ticker symbols.

Tags are upper-case symbols (`BTC`, `ETH`), the form CryptoPanic's `currencies` use,
so tags from a source and tags found here merge without translation; the API and the
hourly aggregates key on them too. The tagger is built once from the asset universe
and matches all names and symbols with one compiled regex, so tagging costs one scan
per text however many assets there are.

Matching rules, from the safest to the most guarded:
- `$BTC`, `$link`: a cashtag always counts, in any case.
- names and aliases (`Bitcoin`, `Chainlink`, `Ripple`) count in any case, except names
  that are ordinary words (`Polygon`, `Optimism`), which count only capitalised, and
  names that merely spell a stop-listed ticker (`Gala`, `Flow`), which do not count;
- an upper-case symbol counts (`ETH`, never `eth`), except stop-listed symbols that are
  also words (`ONE`, `LINK`, `GAS`, `NEAR`): those count only in clear ticker form,
  in brackets (`(LINK)`, `[ONE]`) or followed within three words by a ticker word
  (`LINK token`, `NEAR hits new highs`, `SAND, MANA tokens`, `OP price`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ohmycoins.enrich.universe import ALIASES, COMMON_WORD_NAMES, STOP_SYMBOLS, default_assets
from ohmycoins.records import Asset

__all__ = ["TICKER_WORDS", "Tagger", "load_tagger"]

TICKER_WORDS: frozenset[str] = frozenset(
    {
        "token", "tokens", "coin", "coins", "price", "prices", "holders", "whales", "etf",
        "etfs", "futures", "airdrop", "staking", "ecosystem", "pumps", "pump", "dumps",
        "jumps", "surges", "soars", "rallies", "rally", "rises", "gains", "climbs", "spikes",
        "plunges", "plummets", "drops", "falls", "slumps", "sinks", "tumbles", "slides",
        "nosedives", "tanks", "dips", "hits", "breaks", "usd", "usdt", "analysis",
        "prediction", "chart", "market", "trading", "listing", "delisting",
    }
)  # fmt: skip
"""Words that make a stop-listed upper-case symbol a ticker when they follow it."""

_WORD = re.compile(r"[A-Za-z]+|\d+(?:\.\d+)?%")
_CONTEXT_WORDS = 3


@dataclass(frozen=True, slots=True)
class _Vocabulary:
    """Surface forms of the universe, each mapped to its symbol."""

    symbols: dict[str, str]
    names_any_case: dict[str, str]
    names_exact: dict[str, str]


def _vocabulary(pairs: Iterable[tuple[str, str]]) -> _Vocabulary:
    """From (symbol, name) pairs: which forms match how (see the module docstring)."""
    symbols: dict[str, str] = {}
    names_any_case: dict[str, str] = {}
    names_exact: dict[str, str] = {}
    for symbol, name in pairs:
        symbol = symbol.strip().upper()
        if not symbol or not re.fullmatch(r"[A-Z0-9]+", symbol):
            continue
        symbols[symbol] = symbol
        name = " ".join(name.split())
        if not name or (name.lower() == symbol.lower() and symbol in STOP_SYMBOLS):
            continue
        if name.lower() in COMMON_WORD_NAMES:
            names_exact.setdefault(name, symbol)
        else:
            names_any_case.setdefault(name.lower(), symbol)
    return _Vocabulary(symbols, names_any_case, names_exact)


def _alternation(forms: Iterable[str]) -> str:
    """Forms as a regex alternation, longest first so `Bitcoin Cash` beats `Bitcoin`."""
    ordered = sorted(set(forms), key=lambda form: (-len(form), form))
    return "|".join(re.escape(form).replace(r"\ ", r"\s+") for form in ordered) or "(?!)"


class Tagger:
    """Tags texts with the symbols of the assets they mention; build it once, reuse it."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        """`pairs`: (symbol, name) of every asset, aliases included as extra pairs."""
        self._vocabulary = vocabulary = _vocabulary(pairs)
        symbols = _alternation(vocabulary.symbols)
        self._pattern = re.compile(
            r"(?<![\w$])(?:"
            rf"(?P<cashtag>\$(?i:{symbols}))"
            rf"|(?P<name>(?i:{_alternation(vocabulary.names_any_case)}))"
            rf"|(?P<exact>{_alternation(vocabulary.names_exact)})"
            rf"|(?P<symbol>{symbols})"
            r")(?![\w])"
        )

    @classmethod
    def from_assets(cls, assets: Iterable[Asset]) -> Tagger:
        """A tagger over `assets` plus the known aliases of their symbols."""
        pairs = [(asset.symbol, asset.name) for asset in assets]
        known = {symbol.upper() for symbol, _ in pairs}
        pairs += [
            (symbol, alias)
            for symbol, aliases in ALIASES.items()
            if symbol in known
            for alias in aliases
        ]
        return cls(pairs)

    @classmethod
    def default(cls) -> Tagger:
        """A tagger over the built-in universe (`universe.DEFAULT_ASSETS`)."""
        return cls.from_assets(default_assets())

    @property
    def symbols(self) -> frozenset[str]:
        return frozenset(self._vocabulary.symbols)

    def tag(self, text: str) -> tuple[str, ...]:
        """The symbols `text` mentions, in order of first mention, each once."""
        found: dict[str, None] = {}
        for match in self._pattern.finditer(text):
            symbol = self._symbol_of(match, text)
            if symbol is not None:
                found.setdefault(symbol, None)
        return tuple(found)

    def tag_many(self, texts: Sequence[str]) -> list[tuple[str, ...]]:
        return [self.tag(text) for text in texts]

    def _symbol_of(self, match: re.Match[str], text: str) -> str | None:
        vocabulary = self._vocabulary
        if match["cashtag"] is not None:
            return vocabulary.symbols.get(match["cashtag"][1:].upper())
        if match["name"] is not None:
            return vocabulary.names_any_case.get(" ".join(match["name"].lower().split()))
        if match["exact"] is not None:
            return vocabulary.names_exact.get(" ".join(match["exact"].split()))
        symbol = match["symbol"]
        if symbol in STOP_SYMBOLS and not _ticker_context(text, match.start(), match.end()):
            return None
        return symbol


def _ticker_context(text: str, start: int, end: int) -> bool:
    """Whether a stop-listed symbol at text[start:end] reads as a ticker."""
    before = text[start - 1] if start > 0 else ""
    after = text[end] if end < len(text) else ""
    if (before, after) in {("(", ")"), ("[", "]")}:
        return True
    following = _WORD.findall(text, end, min(len(text), end + 60))[:_CONTEXT_WORDS]
    return any(word.lower() in TICKER_WORDS or word.endswith("%") for word in following)


def load_tagger(assets: Sequence[Asset]) -> Tagger:
    """A tagger over `assets` (the active assets of the stored universe); over the
    built-in universe while there are none."""
    return Tagger.from_assets(assets) if assets else Tagger.default()
