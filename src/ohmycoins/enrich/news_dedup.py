"""One story, one news item: canonical URLs and near-identical headlines.

Two copies of a story must not become two rows:

- the same article reached through different links (tracking parameters, a
  fragment, an upper-case host, a trailing slash) has one canonical URL, and its
  `item_id` is a hash of that URL, so it lands on the same row (`NewsItem` is
  COALESCE-merged, so re-fetching an article never duplicates it);
- the same story published by another outlet (a syndicated wire, a rewrite with the
  same headline) has a different URL, so headlines are compared: titles are
  normalised (lower case, punctuation and outlet suffixes such as " - CoinDesk"
  removed) and two titles whose similarity reaches `TITLE_THRESHOLD` are one story.

The first copy stored wins. A later copy with another URL is kept out: it is not
stored at all, because storing it under the first copy's id would let the COALESCE
merge overwrite the first copy's URL, outlet and time with the later ones.
`NewsIndex` holds the recent titles (those stored in the last `WINDOW_MS`, read by
the collector, plus what the current run admits) so a second outlet's copy an hour
later is recognised.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from difflib import SequenceMatcher
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ohmycoins.records import NewsItem
from ohmycoins.timeframes import HOUR_MS

WINDOW_MS = 48 * HOUR_MS
"""How far back stored headlines are compared with new ones."""
TITLE_THRESHOLD = 0.9
"""Similarity (difflib ratio of normalised titles) from which two headlines are one story."""
TITLE_CHARS = 300
"""Headlines are compared on their first characters only: the comparison is quadratic
in length, and a "title" of megabytes in a broken feed must not stall a run."""

TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "yclid",
        "mc_cid",
        "mc_eid",
        "ref",
        "ref_src",
        "ref_url",
        "cmpid",
        "cmp",
        "igshid",
        "_ga",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "spm",
        "soc_src",
        "soc_trk",
        "taid",
        "ito",
        "guccounter",
        "ncid",
        "sr_share",
    }
)
"""Query parameters that say how a reader arrived, not which article it is."""
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "at_")

KNOWN_OUTLETS = (
    "coindesk",
    "cointelegraph",
    "decrypt",
    "the block",
    "theblock",
    "bitcoin magazine",
    "the guardian",
    "reuters",
    "bloomberg",
    "cnbc",
    "yahoo finance",
    "forbes",
    "the defiant",
    "blockworks",
    "cryptoslate",
    "cryptopotato",
    "bitcoinist",
    "newsbtc",
    "u.today",
    "beincrypto",
    "coingape",
    "crypto.news",
)
"""Outlet names stripped from the end of a headline (" - CoinDesk", " | Reuters")."""

_SUFFIX = re.compile("\\s+[-|:\u2013\u2014]\\s+(?P<outlet>[^-|:\u2013\u2014]{2,40})$")
_NOT_WORD = re.compile(r"[^\w$%.]+|(?<!\d)\.|\.(?!\d)")
_SPACES = re.compile(r"\s+")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SCALED = re.compile(r"(?P<number>\d+(\.\d+)?)(?P<scale>k|m|mn|b|bn)")
_SCALES = {"k": Decimal(10**3), "m": Decimal(10**6), "mn": Decimal(10**6), "b": Decimal(10**9)}
_SCALES["bn"] = _SCALES["b"]


def canonical_url(url: str) -> str:
    """The URL that names an article: scheme and host lower-cased, default port,
    fragment, tracking parameters and a trailing slash dropped, other parameters
    kept in their order (`?id=42` names an article; `?utm_source=x` does not)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:  # not a number: keep what the link says
        port, host = None, parts.netloc.lower()
    if port and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    path = parts.path.rstrip("/") or ""
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, True) if not _tracking(k)])
    return urlunsplit((scheme, host, path, query, ""))


def _tracking(param: str) -> bool:
    name = param.lower()
    return name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES)


def item_id(url: str) -> str:
    """The id of the news item at `url`: a hash of its canonical URL."""
    return _canonical_id(canonical_url(url))


def _canonical_id(canonical: str) -> str:
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def news_item(
    url: str,
    title: str,
    outlet: str,
    published_ts: int | None,
    source: str,
    summary: str | None = None,
    currencies: tuple[str, ...] = (),
    *,
    fetched_ts: int | None = None,
) -> NewsItem:
    """A `NewsItem` whose id and URL are the canonical URL's, as every news source builds
    it; `published_ts` None where the source's date could not be read."""
    canonical = canonical_url(url)
    return NewsItem(
        item_id=_canonical_id(canonical),
        url=canonical,
        title=title,
        outlet=outlet,
        published_ts=published_ts,
        source=source,
        summary=summary,
        currencies=currencies,
        fetched_ts=fetched_ts,
    )


def normalise_title(title: str, outlet: str | None = None) -> str:
    """A headline reduced to what says which story it is: Unicode folded, lower case,
    an outlet suffix removed, punctuation gone (numbers such as `$100,000` or `2.5%`
    keep their digits), spaces collapsed."""
    text = unicodedata.normalize("NFKC", title[:TITLE_CHARS]).lower().strip()
    text = text.translate(_QUOTES)
    text = _strip_outlet(text, outlet)
    text = text.replace(",", "").replace("'", "")
    return _SPACES.sub(" ", _NOT_WORD.sub(" ", text)).strip()


def _strip_outlet(text: str, outlet: str | None) -> str:
    match = _SUFFIX.search(text)
    if match is None:
        return text
    suffix = match["outlet"].strip()
    names = {*KNOWN_OUTLETS, *([outlet.lower().strip()] if outlet else [])}
    return text[: match.start()] if suffix in names else text


def title_similarity(a: str, b: str) -> float:
    """difflib's ratio of two normalised titles, in [0, 1]."""
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def numbers(title: str) -> frozenset[str]:
    """The tokens of a normalised title that hold a digit, amounts spelled out
    (`$69k` and `$69000` are both `69000`): "March 4" and "March 5", "$500M" and
    "$600M", "Q3" and "Q4" are different stories however alike the rest reads."""
    return frozenset(_amount(token) for token in title.split() if any(c.isdigit() for c in token))


def _amount(token: str) -> str:
    text = token.strip("$%")
    match = _SCALED.fullmatch(text)
    if match is None:
        return text
    value = Decimal(match["number"]) * _SCALES[match["scale"]]
    return format(value.normalize(), "f")


def same_story(a: str, b: str, threshold: float = TITLE_THRESHOLD) -> bool:
    """Whether two normalised titles name the same story: alike enough, and no
    disagreement on the numbers both of them state."""
    if not a or not b or title_similarity(a, b) < threshold:
        return False
    return _numbers_agree(numbers(a), numbers(b))


def _numbers_agree(a: frozenset[str], b: frozenset[str]) -> bool:
    return not a or not b or a == b


@dataclass(frozen=True, slots=True)
class Seen:
    """A news item already admitted, as dedup needs it."""

    item_id: str
    title: str
    """Normalised."""
    numbers: frozenset[str]
    words: frozenset[str]


@dataclass
class NewsIndex:
    """Recent stories, to recognise a new item that repeats one of them."""

    threshold: float = TITLE_THRESHOLD
    _published: dict[str, int | None] = field(default_factory=dict)
    _seen: list[Seen] = field(default_factory=list)

    @classmethod
    def of(cls, recent: Iterable[NewsItem], threshold: float = TITLE_THRESHOLD) -> NewsIndex:
        index = cls(threshold)
        for item in recent:
            index.add(item)
        return index

    def add(self, item: NewsItem) -> None:
        self.remember(item.item_id, item.title, item.outlet, item.published_ts)

    def remember(self, item_id: str, title: str, outlet: str, published_ts: int | None) -> None:
        """Index a stored story (the collector reads these from the database);
        `published_ts` None where its date is unknown."""
        if item_id in self._published:
            self._published[item_id] = _earliest(published_ts, self._published[item_id])
            return
        self._published[item_id] = published_ts
        normalised = normalise_title(title, outlet)
        self._seen.append(
            Seen(item_id, normalised, numbers(normalised), frozenset(normalised.split()))
        )

    def __len__(self) -> int:
        return len(self._published)

    def duplicate_of(self, item: NewsItem) -> str | None:
        """The id of the earlier story `item` repeats under another URL, else None
        (an item with a known id is the same article again, not a duplicate)."""
        if item.item_id in self._published:
            return None
        title = normalise_title(item.title, item.outlet)
        if not title:
            return None
        figures = numbers(title)
        words = frozenset(title.split())
        matcher = SequenceMatcher(None, autojunk=False)
        matcher.set_seq2(title)
        for seen in self._seen:
            if 2 * len(words & seen.words) < max(len(words), len(seen.words)):
                continue  # fewer than half the words shared: far from 90% alike
            matcher.set_seq1(seen.title)
            if (
                matcher.real_quick_ratio() >= self.threshold
                and matcher.quick_ratio() >= self.threshold
                and matcher.ratio() >= self.threshold
                and _numbers_agree(figures, seen.numbers)
            ):
                return seen.item_id
        return None

    def admit(self, items: Iterable[NewsItem]) -> tuple[list[NewsItem], list[NewsItem]]:
        """(kept, duplicates): items in publication order, each kept unless it repeats
        a story already in the index or earlier in `items` (the same URL twice in one
        batch is kept once); kept ones join the index.

        An article seen again keeps the earliest publish time it was given (an outlet
        that re-dates an article on an update does not move it); an unknown date
        (None) never replaces a known one."""
        kept: list[NewsItem] = []
        duplicates: list[NewsItem] = []
        admitted: set[str] = set()
        for item in sorted(items, key=lambda i: (i.listed_ts or 0, i.item_id)):
            if item.item_id in admitted or self.duplicate_of(item) is not None:
                duplicates.append(item)
                continue
            first = _earliest(item.published_ts, self._published.get(item.item_id))
            if first != item.published_ts:
                item = dataclasses.replace(item, published_ts=first)
            kept.append(item)
            admitted.add(item.item_id)
            self.add(item)
        return kept, duplicates


def _earliest(a: int | None, b: int | None) -> int | None:
    """The earlier of two publish times, either of which may be unknown (None)."""
    if a is None or b is None:
        return b if a is None else a
    return min(a, b)
