"""Catalyst events: what kind of event a headline announces, how much it may move a
price, and when two reports are the same event.

Event types (`EVENT_TYPES`, data below) are recognised by keyword and phrase patterns,
tried in a fixed order so the more specific wins: a "delisting" is checked before a
"listing", an "ETF" before a generic "regulatory" action, a "hack" first of all.

Impact score, from 1 (minor) to 10 (major):

    impact = clamp(round_half_up(base weight x rank factor x source credibility), 1, 10)

    base weight                rank factor (best-ranked asset)   source credibility
    hack          8            top 10            1.3             official: the SEC, the
    etf           7            top 50            1.15              exchange itself  1.2
    regulatory    6            top 100           1.0             major outlet       1.0
    delisting     6            ranked below 100  0.8             other outlet       0.9
    listing       5            not in the        0.8             social platform    0.7
    unlock        4              universe
    upgrade       4            no asset named    1.0
    partnership   3              (market-wide)

Ranks come from the `assets` table (CoinGecko market-cap rank). The same event reported
by several sources keeps the highest score (`CatalystEvent.MONOTONIC`).

Dedup: `event_id` is a hash of (event type, sorted primary assets, exchange, UTC day of
`ts`); when an event names neither an asset nor an exchange its normalised title takes
their place, so unrelated stories are never merged. Reports straddle midnight (the
exchange posts at 23:50, outlets write the next morning), so before a new id is kept
`assign_ids` looks for a stored or already-seen event of the same type and exchange
within `TOLERANCE_MS` (36 h) whose assets overlap, or that carries the same article
URL; the report then takes that event's id, and the merged row keeps the earliest `ts`
and the title reported first.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal

from ohmycoins.enrich.tagging import Tagger
from ohmycoins.enrich.universe import default_assets
from ohmycoins.records import Asset, CatalystEvent, NewsItem
from ohmycoins.timeframes import DAY_MS, HOUR_MS

TOLERANCE_MS = 36 * HOUR_MS
"""How far apart two reports of one event may be."""
MAX_PRIMARY_ASSETS = 5
"""An article naming more coins than this is about the market, not about each coin."""


@dataclass(frozen=True, slots=True)
class EventType:
    """One kind of catalyst: its impact weight, the phrases that announce it, and the
    phrases that show a headline only talks about such events (a listing policy)."""

    name: str
    weight: int
    patterns: tuple[re.Pattern[str], ...]
    exchange_subject: bool
    """Whether an exchange named in the title is the event's subject (a listing on it,
    a hack of it), and so part of its identity."""
    unless: tuple[re.Pattern[str], ...] = ()


def _patterns(*texts: str) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(text, re.IGNORECASE) for text in texts)


NOT_NEWS = _patterns(
    r"^(how|what|why|when|where|which)\b",
    r"\?\s*$",
    r"\b(explained|explainer|a guide|guide to|roundup|round-up|of all time|glossary)\b",
    r"\b(top|major) (crypto|cryptocurrency|bitcoin) (news|stories)\b|\bmajor stories\b",
    r"\breview(ing)?\b.{0,20}\b\d+\b",
)
"""Questions, explainers, round-ups and retrospectives report no new event."""

EVENT_TYPES: tuple[EventType, ...] = (
    EventType(
        "hack",
        8,
        _patterns(
            r"\bhack(s|ed|er|ers)?\b",
            r"\bexploit(s|ed|er)?\b",
            r"\bdrain(s|ed|er)?\b",
            r"\bstolen\b|\bsteal(s)?\b|\bstole\b|\btheft\b|\bheist\b",
            r"\bsecurity (breach|incident)\b|\bbreach(ed)?\b",
            r"\b(flash[- ]loan|re-?entrancy|oracle manipulation) attack\b",
            r"\bcompromised\b|\bcybersecurity incident\b",
            r"\b(unauthori[sz]ed|suspicious|unexpected) (withdrawals?|transactions?|transfers?)\b",
        ),
        exchange_subject=True,
    ),
    EventType(
        "delisting",
        6,
        _patterns(
            r"\bdelist(s|ed|ing)?\b",
            r"\bremov(e|es|al|ing) (of )?(spot |margin )?trading pairs?\b",
            r"\bcease(s)? trading\b",
            r"\bmonitoring tag\b|\b(expands|adds) monitoring\b|\bwatch ?list\b",
            r"\binvestment warnings?\b",
        ),
        exchange_subject=True,
        unless=_patterns(r"\b(criteria|process|procedure|polic(y|ies)|framework|information)\b"),
    ),
    EventType(
        "etf",
        7,
        _patterns(r"\bETF(s)?\b", r"\bETP(s)?\b", r"\b19b-4\b", r"\bexchange[- ]traded\b"),
        exchange_subject=False,
    ),
    EventType(
        "regulatory",
        6,
        _patterns(
            r"\bsue(s|d)?\b|\blawsuits?\b|\blegal action\b|\bcharge[sd]\b|\bindict",
            r"\bfine[sd]?\b|\bpenalt(y|ies)\b|\bsettle(s|d|ment)?\b",
            r"\bban(s|ned|ning)?\b|\bcrackdown\b|\bcracks down\b|\bwells notice\b",
            r"\b(regulator|regulators|regulation|regulatory|enforcement)\b",
            r"\b(SEC|CFTC|DOJ|FCA|OFAC|FinCEN|Treasury)\b",
            r"\bsentenced\b|\bpleads? guilty\b|\bconvicted\b|\bsanction(s|ed)?\b",
            r"\b(prison|jail|money laundering|criminal|investigation|probe|subpoena)\b",
            r"\blicen[cs]e[sd]?\b|\blegislation\b|\bbill\b|\b(senate|congress|lawmakers)\b",
            r"\bon notice\b",
        ),
        exchange_subject=True,
    ),
    EventType(
        "listing",
        5,
        _patterns(
            r"\b(will|to) (list|add)\b",
            r"\blist(s|ed)\b|\blisting\b",
            r"\bnew (spot )?listing\b|\badds? support for\b",
            r"\blaunchpool\b|\bmegadrop\b|\bHODLer airdrops?\b",
            r"\b(launch(es)?|opens?) (spot )?trading\b|\btrading (is )?(now )?(live|open)\b",
        ),
        exchange_subject=True,
        unless=_patterns(
            r"\b(criteria|process|procedure|polic(y|ies)|standards?|guidelines?|strateg(y|ies))\b",
            r"\b(approach|roadmap|framework|team|stance|pump|bump|effect)\b",
            r"\b(criticism|criticised|criticized|under fire|scrutiny|controvers(y|ial))\b",
        ),
    ),
    EventType(
        "unlock",
        4,
        _patterns(r"\bunlock(s|ed|ing)?\b", r"\bvesting\b|\bvested\b", r"\bcliff\b"),
        exchange_subject=False,
    ),
    EventType(
        "upgrade",
        4,
        _patterns(
            r"\bupgrade(s|d)?\b",
            r"\b(hard|soft|network)[- ]fork\b|\bfork\b",
            r"\bmainnet\b",
            r"\bhalving\b",
            r"\bEIP-\d+\b|\bBIP-?\d+\b",
        ),
        exchange_subject=False,
    ),
    EventType(
        "partnership",
        3,
        _patterns(
            r"\bpartner(s|ed|ing|ship|ships)?\b",
            r"\bteams? (up )?with\b|\bteams up\b|\bjoins? forces\b|\bcollaborat(e|es)\b",
            r"\bintegrates?\b|\balliance\b|\binvests? in\b",
        ),
        exchange_subject=False,
    ),
)
TYPES_BY_NAME: dict[str, EventType] = {t.name: t for t in EVENT_TYPES}

RANK_FACTORS: tuple[tuple[int, Decimal], ...] = (
    (10, Decimal("1.3")),
    (50, Decimal("1.15")),
    (100, Decimal("1.0")),
)
LOW_RANK_FACTOR = Decimal("0.8")
"""Ranked below 100, or not in the universe at all (a coin an exchange just listed)."""
MARKET_WIDE_FACTOR = Decimal("1.0")
"""No asset named: an event about the market or an exchange as a whole."""

OFFICIAL_CREDIBILITY = Decimal("1.2")
MAJOR_OUTLET_CREDIBILITY = Decimal("1.0")
OTHER_OUTLET_CREDIBILITY = Decimal("0.9")
SOCIAL_CREDIBILITY = Decimal("0.7")

EXCHANGES: tuple[str, ...] = (
    "binance",
    "coinbase",
    "kraken",
    "coinspot",
    "okx",
    "bybit",
    "bitfinex",
    "bitstamp",
    "gemini",
    "kucoin",
    "htx",
    "huobi",
    "gate.io",
    "crypto.com",
    "bitget",
    "upbit",
    "bithumb",
    "mexc",
    "robinhood",
    "ftx",
)
"""Exchanges whose own announcements are official and whose names identify an event."""
MAJOR_OUTLETS = frozenset(
    {
        "coindesk",
        "cointelegraph",
        "the block",
        "theblock",
        "decrypt",
        "blockworks",
        "dl news",
        "reuters",
        "bloomberg",
        "cnbc",
        "financial times",
        "ft",
        "wall street journal",
        "wsj",
        "the guardian",
        "guardian",
        "associated press",
        "ap",
        "forbes",
        "fortune",
    }
)
SOCIAL_PLATFORMS = frozenset({"reddit", "twitter", "x", "telegram", "discord", "stocktwits"})
NOT_SYMBOLS = frozenset(
    {
        "AI", "AND", "API", "CEO", "CFTC", "DAO", "DEX", "DOJ", "EIP", "ETF", "ETP", "EU",
        "FOR", "IN", "IPO", "NEW", "NFT", "OF", "ON", "SEC", "THE", "TO", "UK", "US", "USA",
        "UTC", "WITH", "WILL", "TVL", "CEX", "KYC", "AML", "GDP", "CPI", "FED",
    }
)  # fmt: skip
"""Capitalised words in headlines that are never taken for a coin's symbol."""

_PAREN_SYMBOL = re.compile(r"\(\$?([A-Z0-9]{2,12})\)")
_DOLLAR_SYMBOL = re.compile(r"\$([A-Z][A-Z0-9]{1,11})\b")
_PAIR = re.compile(r"\b([A-Z0-9]{2,12})/[A-Z0-9]{2,12}\b")
_CAPS_WORD = re.compile(r"\b[A-Z][A-Z0-9]{1,11}\b")
_WORD = re.compile(r"[a-z0-9]+")
_EXCHANGE = re.compile(rf"(?<![a-z0-9])({'|'.join(map(re.escape, EXCHANGES))})(?![a-z0-9])")


def classify(text: str) -> str | None:
    """The event type a title (or title and summary) announces, or None."""
    if len(text.split()) < 3 or any(pattern.search(text) for pattern in NOT_NEWS):
        return None
    for event_type in EVENT_TYPES:
        if any(p.search(text) for p in event_type.patterns) and not any(
            p.search(text) for p in event_type.unless
        ):
            return event_type.name
    return None


@dataclass(frozen=True, slots=True)
class Universe:
    """The assets a headline may name, with their market-cap ranks.

    Known assets are found by the shared tagger (`ohmycoins.enrich.tagging`: names,
    aliases, symbols, cashtags, with its guards against symbols that are words);
    coins outside the universe (the one an exchange is listing today) by their ticker
    form: `(PEPE)`, `$PEPE`, `PEPE/USDT`. An empty universe is the built-in one."""

    ranks: Mapping[str, int | None]
    """Upper-case symbol → best rank (None when unranked)."""
    tagger: Tagger

    @classmethod
    def of(cls, assets: Iterable[Asset]) -> Universe:
        listed = list(assets) or default_assets()
        ranks: dict[str, int | None] = {}
        for asset in listed:
            symbol = asset.symbol.upper()
            known = ranks.get(symbol)
            if symbol not in ranks or (asset.rank is not None and (known or 10**9) > asset.rank):
                ranks[symbol] = asset.rank
        return cls(ranks, Tagger.from_assets(listed))

    def symbols_in(self, text: str, *, listed_caps: bool = False) -> tuple[str, ...]:
        """Symbols a text names: ticker forms first, in order of appearance, then the
        universe's assets the tagger finds. `listed_caps` also takes every capitalised
        word (an exchange's own "Binance Will Delist BAL, BETA, ...")."""
        found: dict[str, int] = {}
        for pattern in (_PAREN_SYMBOL, _DOLLAR_SYMBOL, _PAIR):
            for match in pattern.finditer(text):
                found.setdefault(match.group(1), match.start())
        if listed_caps:
            for match in _CAPS_WORD.finditer(text):
                if match.group(0) not in NOT_SYMBOLS:
                    found.setdefault(match.group(0), match.start())
        ordered = sorted(found, key=found.__getitem__)
        return tuple(dict.fromkeys([*ordered, *self.tagger.tag(text)]))


def rank_factor(assets: Sequence[str], universe: Universe) -> Decimal:
    """The factor of the best-ranked asset named (see the module docstring)."""
    if not assets:
        return MARKET_WIDE_FACTOR
    ranks = [rank for rank in (universe.ranks.get(a) for a in assets) if rank is not None]
    if not ranks:
        return LOW_RANK_FACTOR
    best = min(ranks)
    return next((factor for top, factor in RANK_FACTORS if best <= top), LOW_RANK_FACTOR)


def credibility(source: str) -> Decimal:
    """How far a source is trusted: official > major outlet > other outlet > social."""
    name = _source_name(source)
    if name.startswith("sec") or name in EXCHANGES:
        return OFFICIAL_CREDIBILITY
    if name in SOCIAL_PLATFORMS:
        return SOCIAL_CREDIBILITY
    if name in MAJOR_OUTLETS:
        return MAJOR_OUTLET_CREDIBILITY
    return OTHER_OUTLET_CREDIBILITY


def _source_name(source: str) -> str:
    name = source.strip().lower().removeprefix("https://").removeprefix("www.")
    for suffix in (".com", ".co", ".org", ".net", ".io"):
        if name.endswith(suffix) and name not in EXCHANGES:
            name = name.removesuffix(suffix)
    return name


def impact(event_type: str, assets: Sequence[str], source: str, universe: Universe) -> int:
    """The 1 to 10 impact score of the module docstring's rule table."""
    weight = Decimal(TYPES_BY_NAME[event_type].weight)
    score = weight * rank_factor(assets, universe) * credibility(source)
    return max(1, min(10, int(score.to_integral_value(rounding=ROUND_HALF_UP))))


def exchange_in(text: str) -> str | None:
    """The first exchange a text names, by our id for it."""
    match = _EXCHANGE.search(text.lower())
    return match.group(1) if match else None


def event_key(
    event_type: str, assets: Sequence[str], exchange: str | None, ts: int, title: str
) -> str:
    """The dedup id of an event (see the module docstring)."""
    subject = ",".join(sorted(set(assets)))
    if not subject and exchange is None:
        subject = "title:" + " ".join(_WORD.findall(title.lower()))
    day = ts // DAY_MS
    text = f"{event_type}|{subject}|{exchange or ''}|{day}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def make_event(
    event_type: str,
    ts: int,
    title: str,
    *,
    assets: Sequence[str],
    source: str,
    url: str | None,
    exchange: str | None,
    universe: Universe,
) -> CatalystEvent:
    """One report of an event, with its key id and the impact this source gives it."""
    primary = tuple(assets[:MAX_PRIMARY_ASSETS])
    return CatalystEvent(
        event_id=event_key(event_type, primary, exchange, ts, title),
        event_type=event_type,
        ts=ts,
        title=title,
        impact=impact(event_type, primary, source, universe),
        assets=tuple(sorted(set(primary))),
        sources=(source,),
        urls=(url,) if url else (),
        exchange=exchange,
    )


def event_from_text(
    title: str,
    ts: int,
    *,
    source: str,
    url: str | None,
    universe: Universe,
    summary: str | None = None,
    currencies: Sequence[str] = (),
    exchange: str | None = None,
) -> CatalystEvent | None:
    """The event a headline reports, or None when it reports none.

    Assets are `currencies` when the item carries them (tagged upstream), else the
    symbols the title names. `exchange` is the announcing exchange when known."""
    event_type = classify(title) or (classify(summary) if summary else None)
    if event_type is None:
        return None
    official = exchange is not None
    assets = [c.upper() for c in currencies] or list(
        universe.symbols_in(title, listed_caps=official)
    )
    if exchange is None and TYPES_BY_NAME[event_type].exchange_subject:
        exchange = exchange_in(title)
    return make_event(
        event_type,
        ts,
        title,
        assets=assets,
        source=source,
        url=url,
        exchange=exchange,
        universe=universe,
    )


def classify_news(items: Iterable[NewsItem], assets: Iterable[Asset]) -> list[CatalystEvent]:
    """Catalyst events reported by stored news items (one per item that reports one),
    with their key ids; `assign_ids` then merges them with events already stored."""
    universe = Universe.of(assets)
    events = []
    for item in items:
        known = item.listed_ts  # when the news made it known
        if known is None:
            continue
        event = event_from_text(
            item.title,
            known,
            source=item.outlet,
            url=item.url,
            universe=universe,
            summary=item.summary,
            currencies=item.currencies,
        )
        if event is not None:
            events.append(event)
    return events


def same_event(a: CatalystEvent, b: CatalystEvent) -> bool:
    """Whether two reports are one event, within the dedup tolerance."""
    if a.event_type != b.event_type or a.exchange != b.exchange:
        return False
    if set(a.urls) & set(b.urls):
        return True  # the same article, however long apart it was seen
    if abs(a.ts - b.ts) > TOLERANCE_MS:
        return False
    if a.assets or b.assets:
        return bool(set(a.assets) & set(b.assets))
    return a.exchange is not None or a.event_id == b.event_id


def assign_ids(
    events: Iterable[CatalystEvent], known: Iterable[CatalystEvent]
) -> list[CatalystEvent]:
    """`events` with the id of the known (stored) or earlier event each one repeats.

    A merged report carries the earliest `ts` and the first report's title, so the
    stored row keeps them whatever order reports arrive in."""
    seen = list(known)
    out = []
    for event in sorted(events, key=lambda e: e.ts):
        match = next((other for other in seen if same_event(event, other)), None)
        if match is not None:
            first = match if match.ts <= event.ts else event
            event = replace(event, event_id=match.event_id, ts=first.ts, title=first.title)
        out.append(event)
        seen.append(event)
    return out
