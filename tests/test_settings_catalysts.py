"""The `[catalysts]` settings: defaults, the TOML table, and refused values."""

from __future__ import annotations

from pathlib import Path

import pytest

from ohmycoins.errors import ConfigError
from ohmycoins.settings import CatalystSettings, load_settings


def test_defaults_name_the_verified_filers_and_a_contact() -> None:
    settings = load_settings({})
    assert settings.catalysts == CatalystSettings()
    assert "0001980994" in settings.catalysts.sec_ciks  # iShares Bitcoin Trust
    assert "@" in settings.catalysts.sec_user_agent
    assert settings.catalysts.announcement_pages[0].exchange == "coinspot"


def test_catalysts_table_is_read_from_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "ohmycoins.toml"
    config.write_text(
        "[catalysts]\n"
        'sec_ciks = ["1679788", "0001050446"]\n'
        'sec_user_agent = "acme-research/2.0 ops@acme.test"\n'
        'efts_query = "\\"solana\\""\n'
        "news_hours = 12\n"
        "[[catalysts.announcement_pages]]\n"
        'exchange = "kraken"\n'
        'url = "https://blog.kraken.com/category/product/asset-listings"\n'
        "render = true\n",
        encoding="utf-8",
    )
    catalysts = load_settings({}, config).catalysts
    assert catalysts.sec_ciks == ("0001679788", "0001050446")  # padded to 10 digits
    assert catalysts.sec_user_agent == "acme-research/2.0 ops@acme.test"
    assert catalysts.efts_query == '"solana"'
    assert catalysts.news_hours == 12
    (page,) = catalysts.announcement_pages
    assert page.exchange == "kraken" and page.render


@pytest.mark.parametrize(
    "table",
    [
        'sec_ciks = ["not-a-cik"]',
        'sec_user_agent = "no contact"',
        "news_hours = 0",
        "unknown_key = 1",
        '[[catalysts.announcement_pages]]\nexchange = "Bad Name"\nurl = "https://x.test"',
        '[[catalysts.announcement_pages]]\nexchange = "kraken"\nurl = "ftp://x.test"',
    ],
)
def test_bad_values_are_refused_at_start(tmp_path: Path, table: str) -> None:
    config = tmp_path / "ohmycoins.toml"
    config.write_text(f"[catalysts]\n{table}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="catalysts"):
        load_settings({}, config)
