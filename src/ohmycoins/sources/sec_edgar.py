"""SEC EDGAR (no key): filings of crypto companies and ETF issuers, as catalyst events.

Facts about the source, as data below:
- Two hosts, so two source names, each with its own URL setting and rate budget:
  `sec_edgar` is `https://data.sec.gov` (`OMC_SEC_EDGAR_URL`), whose
  `/submissions/CIK##########.json` lists a filer's recent filings as columnar arrays
  under `filings.recent`; `sec_efts` is `https://efts.sec.gov` (`OMC_SEC_EFTS_URL`),
  the full-text search behind EDGAR's search page, `/LATEST/search-index?q=...&forms=...`,
  answering Elasticsearch-style `hits.hits[]._source`.
- EDGAR's fair-access policy: at most 10 requests per second, and a User-Agent that
  names the client and a contact e-mail (`[catalysts] sec_user_agent`), on every request.
- `acceptanceDateTime` is ISO-8601 UTC (`2022-11-30T16:42:36.000Z`); full-text hits
  carry only a `file_date` (`2024-01-08`), taken as midnight UTC.
- Forms → events: an ETF issuer's S-1, S-3 or 19b-4 (and amendments) is an `etf`
  event; any filer's 8-K with item 1.05 (material cybersecurity incident) is a `hack`,
  with item 1.01 (material definitive agreement) a `partnership`; other forms are
  not catalysts.

CIKs below were checked against EDGAR URLs and filings quoted in public code (the
Coinbase 10-K under 1679788, IBIT's 10-K under 1980994, FBTC's 424B3 under 1852317,
GBTC and Strategy in public CIK tables).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ohmycoins.enrich.catalysts import Universe, make_event
from ohmycoins.errors import PayloadError
from ohmycoins.records import CatalystEvent
from ohmycoins.settings import SourceSettings
from ohmycoins.sources.http import SourceClient
from ohmycoins.sources.parsing import (
    JSON,
    FieldError,
    Parsed,
    parse_rows,
    require,
    to_epoch_ms,
    to_text,
)
from ohmycoins.sources.ratelimit import TokenBucket

NAME = "sec_edgar"
BASE_URL = "https://data.sec.gov"
EFTS_NAME = "sec_efts"
EFTS_URL = "https://efts.sec.gov"
RATE_LIMIT = 600.0
"""Requests per minute: EDGAR's fair-access limit of 10 per second."""
DEFAULT_USER_AGENT = "ohmycoins/0.1 admin@example.com"
SOURCE = "sec"
"""The source named on events: the SEC itself, whichever host answered."""

SUBMISSIONS = "/submissions/CIK{cik}.json"
FULL_TEXT = "/LATEST/search-index"
ARCHIVE_URL = "https://www.sec.gov/Archives/edgar/data/{cik}/{accession}/{document}"
COLUMNS = ("accessionNumber", "acceptanceDateTime", "form", "primaryDocument")
ETF_FORMS = frozenset({"S-1", "S-1/A", "S-3", "S-3/A", "19b-4", "19b-4/A", "19B-4"})
ITEM_EVENTS = (("1.05", "hack"), ("1.01", "partnership"))
"""8-K items that are catalysts, most severe first."""


@dataclass(frozen=True, slots=True)
class Filer:
    """A filer we know: what it is and the assets its filings are about."""

    name: str
    etf: bool
    assets: tuple[str, ...]


FILERS: dict[str, Filer] = {
    "0001679788": Filer("Coinbase Global", etf=False, assets=()),
    "0001050446": Filer("Strategy (MicroStrategy)", etf=False, assets=("BTC",)),
    "0001588489": Filer("Grayscale Bitcoin Trust", etf=True, assets=("BTC",)),
    "0001980994": Filer("iShares Bitcoin Trust", etf=True, assets=("BTC",)),
    "0001852317": Filer("Fidelity Wise Origin Bitcoin Fund", etf=True, assets=("BTC",)),
}


class SecClient(SourceClient):
    """An SEC host: it refuses requests whose User-Agent names no contact."""

    default_rate_limit = RATE_LIMIT

    def __init__(
        self,
        settings: SourceSettings | None = None,
        *,
        user_agent: str = DEFAULT_USER_AGENT,
        limiter: TokenBucket | None = None,
        attempts: int = 4,
        redis_url: str | None = None,
    ) -> None:
        self.user_agent = user_agent
        super().__init__(settings, limiter=limiter, attempts=attempts, redis_url=redis_url)

    def _headers(self) -> dict[str, str]:
        return {"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate"}


class SecEdgar(SecClient):
    """Fetches filer submissions from data.sec.gov; parse them with `parse_submissions`."""

    name = NAME
    default_url = BASE_URL

    async def fetch_submissions(self, cik: str) -> JSON:
        """`/submissions/CIK##########.json`: a filer's identity and recent filings."""
        return await self.http.get_json(SUBMISSIONS.format(cik=cik.zfill(10)))


class SecFullText(SecClient):
    """Fetches EDGAR full-text search hits; parse them with `parse_full_text`."""

    name = EFTS_NAME
    default_url = EFTS_URL

    async def fetch_search(self, query: str, forms: Sequence[str], start: str, end: str) -> JSON:
        """Filings of `forms` filed from `start` to `end` (YYYY-MM-DD) whose text matches."""
        params = {
            "q": query,
            "forms": ",".join(forms),
            "dateRange": "custom",
            "startdt": start,
            "enddt": end,
        }
        return await self.http.get_json(FULL_TEXT, params)


def filing_event_type(form: str, items: str | Sequence[str], etf: bool) -> str | None:
    """The event a filing is, by its form and 8-K items (see the module docstring)."""
    if etf and form in ETF_FORMS:
        return "etf"
    if form in ("8-K", "8-K/A"):
        listed = items.split(",") if isinstance(items, str) else list(items)
        codes = {code.strip() for code in listed}
        return next((event for item, event in ITEM_EVENTS if item in codes), None)
    return None


def archive_url(cik: str, accession: str, document: str) -> str:
    return ARCHIVE_URL.format(
        cik=int(cik), accession=accession.replace("-", ""), document=document
    ).rstrip("/")


def parse_submissions(
    raw: JSON, cik: str, universe: Universe, *, since_ms: int = 0
) -> Parsed[CatalystEvent]:
    """Catalyst events among a filer's filings accepted at or after `since_ms`.

    Reads the main answer (arrays under `filings.recent`) and the older pages
    (`CIK##########-submissions-001.json`, the arrays at the top level):

        {"cik": "1318605", "name": "Tesla, Inc.", "filings": {"recent": {
          "accessionNumber": ["0001564590-22-012345"], "filingDate": ["2022-11-08"],
          "acceptanceDateTime": ["2022-11-08T20:18:10.000Z"], "form": ["8-K"],
          "items": ["1.01,9.01"], "primaryDocument": ["tsla-8k.htm"],
          "primaryDocDescription": ["8-K"]}}}
    """
    cik = cik.zfill(10)
    if not isinstance(raw, Mapping):
        raise PayloadError(NAME, "submissions answer is not an object", payload=raw)
    columns = _columns(raw)
    known = FILERS.get(cik)
    name = known.name if known else str(raw.get("name") or f"CIK {cik}")
    filer = known or Filer(name, etf=False, assets=())
    return parse_rows(
        _rows(columns),
        lambda row: _filing_event(row, cik, filer, universe, since_ms),
        "CatalystEvent",
    )


def _columns(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    filings = raw.get("filings")
    columns = filings.get("recent") if isinstance(filings, Mapping) else raw
    if not isinstance(columns, Mapping) or any(
        not isinstance(columns.get(name), list) for name in COLUMNS
    ):
        raise PayloadError(NAME, f"no filing columns {COLUMNS}", payload=str(raw)[:500])
    return columns


def _rows(columns: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The columnar arrays as rows; a shorter column leaves its field out of a row."""
    arrays = {name: values for name, values in columns.items() if isinstance(values, list)}
    length = max(len(values) for values in arrays.values())
    return [
        {name: values[i] for name, values in arrays.items() if i < len(values)}
        for i in range(length)
    ]


def _filing_event(
    row: Mapping[str, Any], cik: str, filer: Filer, universe: Universe, since_ms: int
) -> CatalystEvent | None:
    form = to_text(require(row, "form"), "form")
    event_type = filing_event_type(form, str(row.get("items") or ""), filer.etf)
    if event_type is None:
        return None
    ts = to_epoch_ms(require(row, "acceptanceDateTime"), "acceptanceDateTime")
    if ts < since_ms:
        return None
    accession = to_text(require(row, "accessionNumber"), "accessionNumber")
    document = str(row.get("primaryDocument") or "")
    description = str(row.get("primaryDocDescription") or "").strip()
    detail = f" ({description})" if description and description.upper() != form.upper() else ""
    return make_event(
        event_type,
        ts,
        f"{filer.name}: {form}{detail}",
        assets=filer.assets,
        source=SOURCE,
        url=archive_url(cik, accession, document),
        exchange=None,
        universe=universe,
    )


_TRAILING_PARENS = re.compile(r"\s*\([^)]*\)")
_FUND_NAME = re.compile(r"\b(trust|fund|etf)\b", re.IGNORECASE)
"""A full-text hit's filer is taken for an ETF issuer when its name says so."""


def parse_full_text(raw: JSON, universe: Universe) -> Parsed[CatalystEvent]:
    """Catalyst events among full-text search hits:

    {"hits": {"total": {"value": 1}, "hits": [{
      "_id": "0001193125-24-012345:d123s1a.htm",
      "_source": {"ciks": ["0001980994"], "form": "S-1/A", "root_forms": ["S-1"],
                  "display_names": ["iShares Bitcoin Trust  (IBIT)  (CIK 0001980994)"],
                  "file_date": "2024-01-08", "items": []}}]}}
    """
    hits = raw.get("hits") if isinstance(raw, Mapping) else None
    rows = hits.get("hits") if isinstance(hits, Mapping) else None
    if not isinstance(rows, list):
        raise PayloadError(EFTS_NAME, "answer has no hits.hits list", payload=str(raw)[:500])
    return parse_rows(rows, lambda row: _hit_event(row, universe), "CatalystEvent")


def _hit_event(row: object, universe: Universe) -> CatalystEvent | None:
    hit_id = to_text(require(row, "_id"), "_id")
    source = require(row, "_source")
    if not isinstance(source, Mapping):
        raise FieldError("_source", source, "must be an object")
    form = to_text(require(source, "form"), "form")
    ciks = source.get("ciks") or []
    cik = str(ciks[0]).zfill(10) if ciks else ""
    names = source.get("display_names") or []
    display = _TRAILING_PARENS.sub("", str(names[0])).strip() if names else f"CIK {cik}"
    known = FILERS.get(cik)
    filer = known or Filer(
        display, etf=bool(_FUND_NAME.search(display)), assets=universe.symbols_in(display)
    )
    event_type = filing_event_type(form, source.get("items") or [], filer.etf)
    if event_type is None:
        return None
    ts = to_epoch_ms(to_text(require(source, "file_date"), "file_date"), "file_date")
    accession, _, document = hit_id.partition(":")
    return make_event(
        event_type,
        ts,
        f"{filer.name}: {form}",
        assets=filer.assets,
        source=SOURCE,
        url=archive_url(cik, accession, document) if cik else None,
        exchange=None,
        universe=universe,
    )
