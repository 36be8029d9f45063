"""The labelled headline set: real headlines, hand-labelled with assets and sentiment.

Each line of `tests/fixtures/labelled/headlines.jsonl` is a headline as an outlet
published it, with the outlet, the date where the page gave one and the address where
it was found; `currencies` are the upper-case symbols of the assets of the built-in
universe it mentions, `sentiment` how a trader of those assets reads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

LABELLED = Path(__file__).parent.parent / "fixtures" / "labelled" / "headlines.jsonl"
LABELS = ("positive", "neutral", "negative")


@dataclass(frozen=True, slots=True)
class Headline:
    headline: str
    outlet: str
    date: str | None
    url: str
    currencies: frozenset[str]
    sentiment: str


def load_headlines() -> list[Headline]:
    rows = []
    for line in LABELLED.read_text(encoding="utf-8").splitlines():
        raw = json.loads(line)
        rows.append(
            Headline(
                raw["headline"],
                raw["outlet"],
                raw["date"],
                raw["url"],
                frozenset(raw["currencies"]),
                raw["sentiment"],
            )
        )
    return rows
