"""The `[news]` settings: feeds, subreddits and the X query, from ohmycoins.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from ohmycoins.errors import ConfigError
from ohmycoins.settings import NewsSettings, load_settings
from ohmycoins.sources.rss import DEFAULT_FEEDS


def test_defaults_are_the_five_outlets_and_three_subreddits(tmp_path: Path) -> None:
    news = load_settings({}, tmp_path / "absent.toml").news
    assert news == NewsSettings()
    assert news.feeds == DEFAULT_FEEDS
    assert news.feeds[0] == "https://www.coindesk.com/arc/outboundfeeds/rss/"
    assert len(news.feeds) == 5
    assert news.subreddits == ("CryptoCurrency", "Bitcoin", "ethereum")
    assert "bitcoin" in news.x_query


def test_news_table_in_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "ohmycoins.toml"
    config.write_text(
        "[news]\n"
        'feeds = ["https://blockworks.co/feed", "http://127.0.0.1:9000/rss.xml"]\n'
        'subreddits = ["r/solana", "defi"]\n'
        'x_query = "solana -is:retweet"\n',
        encoding="utf-8",
    )
    news = load_settings({}, config).news
    assert news.feeds == ("https://blockworks.co/feed", "http://127.0.0.1:9000/rss.xml")
    assert news.subreddits == ("solana", "defi")
    assert news.x_query == "solana -is:retweet"


@pytest.mark.parametrize(
    ("table", "setting"),
    [
        ('feeds = ["/relative/rss"]', "[news] feeds"),
        ('feeds = ["ftp://example.com/rss"]', "[news] feeds"),
        ('subreddits = ["no spaces allowed"]', "[news] subreddits"),
        ('x_query = ""', "[news] x_query"),
        ("unknown = 1", "[news] unknown"),
    ],
)
def test_invalid_news_settings_fail_at_start(tmp_path: Path, table: str, setting: str) -> None:
    config = tmp_path / "ohmycoins.toml"
    config.write_text(f"[news]\n{table}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings({}, config)
    assert caught.value.setting.startswith(setting)


def test_news_settings_are_frozen() -> None:
    news = NewsSettings()
    with pytest.raises(ValueError, match="frozen"):
        news.x_query = "other"  # type: ignore[misc]
