"""The one date reader every source uses: ISO 8601 and RFC 822 fast, dates in other
languages through dateparser, and None (never a guess) for what is not a date."""

from __future__ import annotations

import pytest

from ohmycoins.sources.parsing import FieldError, parse_time, to_epoch_ms, to_optional_time

READ = [
    ("2024-03-05T10:00:00Z", 1_709_632_800_000),
    ("2024-03-05T09:02:11.482913+00:00", 1_709_629_331_482),
    ("2024-05-20 10:18:42", 1_716_200_322_000),  # no zone: UTC
    ("Tue, 05 Mar 2024 10:00:00 +0000", 1_709_632_800_000),
    ("Tue, 05 Mar 2024 10:00:00 GMT", 1_709_632_800_000),
    ("Seg, 24 Set 2018 19:42:40 -0300", 1_537_828_960_000),  # Portuguese
    ("Mi, 03 Jan 2018 13:47:00 +0100", 1_514_983_620_000),  # German
    ("mardi 5 mars 2024 10:00:00 +0000", 1_709_632_800_000),  # French
    ("24 de setembro de 2018", 1_537_747_200_000),
    ("1947-01-01", -725_846_400_000),  # before 1970: negative
]
UNREAD = ["", "   ", "yesterday", "3 hours ago", "em breve", "Mon, 99 Foo 2018", "x" * 500]


@pytest.mark.parametrize(("text", "expected"), READ, ids=[text for text, _ in READ])
def test_dates_are_read_in_any_language(text: str, expected: int) -> None:
    assert parse_time(text) == expected
    assert to_epoch_ms(text, "date") == expected


@pytest.mark.parametrize("text", UNREAD)
def test_what_is_not_a_date_is_none_never_a_guess(text: str) -> None:
    assert parse_time(text) is None
    assert to_optional_time(text, "published") is None
    with pytest.raises(FieldError, match="must be a date and time"):
        to_epoch_ms(text or "?", "published")


def test_numbers_stay_epoch_milliseconds() -> None:
    assert to_epoch_ms("1620550800000.0", "ts") == 1_620_550_800_000
    assert to_epoch_ms(-725_846_400_000, "ts") == -725_846_400_000
    assert to_optional_time(None, "published") is None
    assert parse_time("12") is None  # as a text, a bare number is no date
