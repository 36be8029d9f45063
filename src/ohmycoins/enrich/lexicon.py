"""The crypto vocabulary VADER lacks, with valences on VADER's scale (-4 to +4).

VADER scores words one at a time, so a multi-word term is first rewritten as one
token (`rug pull` → `rugpull`, `all-time high` → `alltimehigh`) by `PHRASES`, then
scored by `LEXICON`. Valences follow how a trader reads a headline about the asset:

- strongly negative (about -2.5 to -3): losses of funds or of the peg (`hack`,
  `drained`, `exploit`, `rugpull`, `depeg`, `collapse`, `heist`, `rekt`, `delisting`);
- negative (-1 to -2): price falls and pressure (`plunges`, `slumps`, `dump`,
  `liquidated`, `outflows`, `bearish`, `rejected`, `fud`), penalties (`fine`, `fines`,
  which VADER otherwise reads as "all right");
- positive (+1 to +2.5): price rises and adoption (`surges`, `soars`, `rally`,
  `bullish`, `ath`, `mooning`, `etfapproval`, `approved`, `partnership`, `inflows`);
- mildly positive (about +1): community words (`hodl`, `burn` of supply);
- zero: project names that are English words (`Optimism`, `Harmony`, `Stellar`),
  which VADER would otherwise read as praise.
"""

from __future__ import annotations

import re

__all__ = ["LEXICON", "PHRASES", "normalise_phrases"]

PHRASES: tuple[tuple[str, str], ...] = (
    (r"rug[\s-]?pull(?:s|ed|ing)?", "rugpull"),
    (r"all[\s-]time[\s-]highs?", "alltimehigh"),
    (r"record[\s-]highs?", "recordhigh"),
    (r"new[\s-](?:all[\s-]time[\s-])?highs?", "newhigh"),
    (r"multi[\s-]?year[\s-]highs?", "newhigh"),
    (r"(?:three|two|\d+)[\s-]year[\s-](?:peak|high)", "newhigh"),
    (r"(?:multi[\s-]?year|record|all[\s-]time)[\s-]lows?", "recordlow"),
    (r"etf[\s-]approvals?", "etfapproval"),
    (r"(?:spot\s+)?etfs?\s+(?:get|gets|wins?|won)\s+(?:sec\W?s?\s+)?(?:approval|blessing|nod)",
     "etfapproval"),
    (r"to\s+the\s+moon", "tothemoon"),
    (r"sell[\s-]offs?", "selloff"),
    (r"bear\s+markets?", "bearmarket"),
    (r"bull\s+markets?", "bullmarket"),
    (r"bull\s+runs?", "bullrun"),
    (r"golden\s+cross", "goldencross"),
    (r"death\s+cross", "deathcross"),
    (r"short\s+squeeze", "shortsqueeze"),
    (r"(?:loses?|lost|breaks?|broke)\s+(?:its\s+)?(?:\w+\s+)?(?:dollar\s+)?peg", "depeg"),
    (r"(?:de|un)[\s-]?peg(?:s|ged|ging)?", "depeg"),
    (r"\bup\s+(?:by\s+)?(?:more\s+than\s+)?\d+(?:\.\d+)?%", "rises"),
    (r"\bdown\s+(?:by\s+)?(?:more\s+than\s+)?\d+(?:\.\d+)?%", "falls"),
    (r"(?:goes|is|went|now)\s+live", "launches"),
    (r"shut(?:s|ting)?\s+down", "shutdown"),
    (r"going\s+to\s+zero", "rekt"),
    (r"pump[\s-]and[\s-]dump", "pumpanddump"),
    (r"price\s+crash(?:es)?", "crash"),
    (r"buying\s+spree", "buyingspree"),
    (r"whale\s+selling", "whaleselling"),
    (r"steps?\s+down", "resigns"),
)  # fmt: skip
"""(case-insensitive regex, token) rewrites applied before scoring."""

LEXICON: dict[str, float] = {
    # community slang
    "hodl": 1.0, "hodling": 1.0, "rekt": -2.8, "fud": -1.8, "moon": 1.5, "mooning": 2.5,
    "tothemoon": 2.5, "wagmi": 1.5, "ngmi": -1.5, "fomo": 0.5, "burn": 0.8, "burns": 0.8,
    "whaleselling": -2.0,
    # price moves
    "ath": 2.0, "alltimehigh": 2.0, "recordhigh": 2.0, "newhigh": 2.0, "recordlow": -2.0,
    "pump": 1.0, "pumps": 1.5, "pumped": 1.2, "dump": -2.0, "dumps": -2.0, "dumping": -2.0,
    "pumpanddump": -2.5, "bullish": 2.5, "bearish": -2.5, "bullmarket": 2.0,
    "bearmarket": -2.0, "bullrun": 2.5, "goldencross": 2.0, "deathcross": -2.5,
    "shortsqueeze": 1.0, "surge": 2.0, "surges": 2.0, "surged": 2.0, "surging": 2.0,
    "soar": 2.2, "soars": 2.2, "soared": 2.2, "jumps": 1.8, "jumped": 1.8, "rally": 2.0,
    "rallies": 2.0, "rallied": 2.0, "climbs": 1.5, "climb": 1.3, "rises": 1.3,
    "spikes": 1.3, "booms": 2.0, "breakout": 1.5, "rebound": 1.5, "rebounds": 1.5,
    "recovers": 1.8, "recovery": 1.5, "outperform": 1.5, "outperforms": 1.5,
    "overtakes": 1.2, "surpasses": 1.2, "gains": 1.5, "crash": -2.5, "crashes": -2.5,
    "plunge": -2.5, "plunges": -2.5, "plunged": -2.5, "plummets": -2.7, "plummeted": -2.7,
    "slump": -2.0, "slumps": -2.0, "tumble": -2.0, "tumbles": -2.0, "tumbling": -2.0,
    "sinks": -2.0, "sink": -1.8, "slides": -1.5, "slips": -1.5, "slipped": -1.5,
    "dips": -1.2, "dip": -1.0, "falls": -1.5, "falling": -1.5, "fell": -1.5,
    "drops": -1.5, "drop": -1.2, "declines": -1.5, "decline": -1.5, "nosedives": -2.5,
    "tanks": -2.2, "tanked": -2.2, "stumbles": -1.5, "trips": -1.0, "selloff": -2.0,
    "liquidated": -2.0, "liquidation": -1.8, "liquidations": -1.8, "outflows": -1.5,
    "outflow": -1.5, "inflows": 1.5, "inflow": 1.5, "bleeds": -2.0, "bled": -2.0,
    # losses of funds
    "hack": -2.5, "hacks": -2.5, "hacked": -2.8, "hacker": -2.0, "hackers": -2.0,
    "exploit": -2.5, "exploits": -2.5, "exploited": -2.5, "drained": -2.5, "drains": -2.3,
    "heist": -2.8, "heists": -2.8, "stolen": -2.5, "steal": -2.3, "stole": -2.5,
    "theft": -2.5, "rugpull": -3.0, "scam": -2.8, "scams": -2.8, "phishing": -2.0,
    "fraud": -2.8, "depeg": -2.5, "collapse": -2.8, "collapses": -2.8, "collapsed": -2.8,
    "bankruptcy": -2.5, "bankrupt": -2.5, "insolvent": -2.5, "contagion": -2.0,
    "losses": -1.8, "loses": -1.5,
    # regulators, exchanges, courts
    "etfapproval": 2.5, "approved": 1.8, "approves": 1.8, "approval": 1.5,
    "blessing": 1.5, "rejected": -2.0, "rejects": -2.0, "denies": -1.5, "denial": -1.5,
    "delisting": -2.5, "delist": -2.5, "delists": -2.5, "delisted": -2.5, "lawsuit": -1.5,
    "sued": -1.8, "sues": -1.8, "charges": -1.2, "crackdown": -2.0, "fine": -1.0,
    "fines": -1.5, "halts": -1.5, "halt": -1.2, "suspends": -1.5, "delays": -1.2,
    "resigns": -1.5, "setback": -1.8, "blow": -1.5, "confusion": -1.2, "listing": 1.0,
    # adoption
    "partnership": 1.5, "partners": 1.2, "launches": 1.0, "milestone": 1.5,
    "adoption": 1.5, "upgrade": 1.0, "buys": 1.0, "buy": 0.8, "buyingspree": 1.5,
    "acquires": 0.8, "acquiring": 0.8, "grew": 1.5, "jump": 1.5, "comeback": 1.8,
    "debuts": 1.0, "completes": 1.0, "ditch": -1.5, "fiasco": -2.5, "fraught": -1.5,
    "defrauding": -2.5, "shutdown": -1.5,
    # project names that are ordinary English words carry no valence of their own
    "optimism": 0.0, "harmony": 0.0, "stellar": 0.0, "liberty": 0.0,
}  # fmt: skip
"""Valences added to (or overriding) VADER's own lexicon, keyed by lower-case token."""

_PHRASE_PATTERNS = tuple((re.compile(pattern, re.IGNORECASE), token) for pattern, token in PHRASES)


def normalise_phrases(text: str) -> str:
    """`text` with every multi-word term of `PHRASES` rewritten as its one token."""
    for pattern, token in _PHRASE_PATTERNS:
        text = pattern.sub(token, text)
    return text
