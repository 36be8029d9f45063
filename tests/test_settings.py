"""Configuration is read from the environment and ohmycoins.toml; a bad value fails at
start with one message naming the setting."""

from __future__ import annotations

import pytest

from ohmycoins.errors import ConfigError
from ohmycoins.settings import DEFAULT_DATABASE_URL, DEFAULT_DEMO_DATABASE_URL, load_settings


def test_defaults_need_nothing(tmp_path) -> None:
    settings = load_settings({}, tmp_path / "none.toml")
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.redis_url is None
    assert settings.source("binance").url is None


def test_per_source_variables(tmp_path) -> None:
    env = {
        "OMC_BINANCE_URL": "http://127.0.0.1:9000/",
        "OMC_COINGECKO_API_KEY": "secret-key",
        "OMC_COINGECKO_MONTHLY_QUOTA": "10000",
        "OMC_BLOCKCHAIN_INFO_ENABLED": "false",
    }
    settings = load_settings(env, tmp_path / "none.toml")
    assert settings.source("binance").url == "http://127.0.0.1:9000"
    coingecko = settings.source("coingecko")
    assert coingecko.api_key is not None and coingecko.api_key.get_secret_value() == "secret-key"
    assert "secret-key" not in repr(settings)
    assert coingecko.monthly_quota == 10000
    assert settings.source("blockchain_info").enabled is False


def test_toml_then_environment(tmp_path) -> None:
    config = tmp_path / "ohmycoins.toml"
    config.write_text(
        '[universe]\nsymbols = ["BTC/USDT"]\ntimeframes = ["1m", "1d"]\n'
        "[sources.binance]\nrate_limit = 600\n"
        "[collectors.binance_candles]\ninterval_seconds = 30\n"
    )
    settings = load_settings({"OMC_BINANCE_RATE_LIMIT": "1200"}, config)
    assert settings.universe.symbols == ("BTC/USDT",)
    assert settings.source("binance").rate_limit == 1200
    assert settings.collectors["binance_candles"].interval_seconds == 30


@pytest.mark.parametrize(
    ("env", "toml", "setting", "value"),
    [
        ({"OMC_DATABASE_URL": "oracle://x"}, "", "OMC_DATABASE_URL", "oracle://x"),
        ({"OMC_REDIS_URL": "http://x"}, "", "OMC_REDIS_URL", "http://x"),
        ({"OMC_BINANCE_URL": "ftp://x"}, "", "OMC_BINANCE_URL", "ftp://x"),
        ({"OMC_KRAKEN_RATE_LIMIT": "fast"}, "", "OMC_KRAKEN_RATE_LIMIT", "fast"),
        ({"OMC_KRAKEN_RATE_LIMIT": "-1"}, "", "OMC_KRAKEN_RATE_LIMIT", "-1"),
        ({"OMC_DEMO_DATABASE_URL": "oracle://x"}, "", "OMC_DEMO_DATABASE_URL", "oracle://x"),
        ({"OMC_DATABASE_CONNECT_TIMEOUT": "0"}, "", "OMC_DATABASE_CONNECT_TIMEOUT", "0"),
        ({"OMC_DATABASE_STATEMENT_TIMEOUT": "x"}, "", "OMC_DATABASE_STATEMENT_TIMEOUT", "x"),
        ({}, '[universe]\nsymbols = ["btcusdt"]\n', "[universe] symbols", ["btcusdt"]),
        ({}, '[universe]\ntimeframes = ["2m"]\n', "[universe] timeframes", ["2m"]),
        ({}, '[universe]\ntimeframes = ["1m", 2]\n', "[universe] timeframes[1]", 2),
        ({}, "[universe]\nsymbol = []\n", "[universe] symbol", []),
        ({}, 'database_url = "oracle://x"\n', "database_url", "oracle://x"),
    ],
)
def test_bad_setting_is_named(tmp_path, env, toml, setting, value) -> None:
    config = tmp_path / "ohmycoins.toml"
    config.write_text(toml)
    with pytest.raises(ConfigError) as raised:
        load_settings(env, config)
    assert raised.value.setting == setting
    assert raised.value.value == value
    assert setting in str(raised.value)


def test_a_bad_value_names_its_file_and_key_or_its_variable(tmp_path) -> None:
    config = tmp_path / "ohmycoins.toml"
    config.write_text('[sources.binance]\nrate_limit = "x"\n')
    with pytest.raises(ConfigError) as from_file:
        load_settings({}, config)
    assert str(from_file.value).startswith(
        f"invalid setting [sources.binance] rate_limit='x' in {config}: "
    )
    with pytest.raises(ConfigError) as from_env:
        load_settings({"OMC_BINANCE_RATE_LIMIT": "y"}, config)
    assert str(from_env.value).startswith("invalid setting OMC_BINANCE_RATE_LIMIT='y': ")
    assert from_env.value.origin is None


def test_a_source_that_is_not_a_table_is_named(tmp_path) -> None:
    config = tmp_path / "ohmycoins.toml"
    config.write_text("[sources]\nbinance = 3\n")
    with pytest.raises(ConfigError, match=r"\[sources\] binance=3 in .*: must be a table"):
        load_settings({}, config)


def test_a_missing_file_named_by_omc_config_is_an_error(tmp_path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=r"OMC_CONFIG=.*nope\.toml.*: no such file"):
        load_settings({"OMC_CONFIG": str(missing)})
    with pytest.raises(ConfigError, match="is a directory"):
        load_settings({"OMC_CONFIG": str(tmp_path)})
    config = tmp_path / "named.toml"
    config.write_text('[universe]\nsymbols = ["BTC/USDT"]\n')
    assert load_settings({"OMC_CONFIG": str(config)}).universe.symbols == ("BTC/USDT",)


def test_unreadable_toml(tmp_path) -> None:
    config = tmp_path / "ohmycoins.toml"
    config.write_text("[universe\n")
    with pytest.raises(ConfigError, match="cannot read TOML"):
        load_settings({}, config)


def test_sentiment_model_and_chromium_come_from_the_environment(tmp_path) -> None:
    env = {"OMC_SENTIMENT_MODEL_PATH": "/models/cryptobert", "OMC_CHROMIUM": "/usr/bin/chromium"}
    settings = load_settings(env, tmp_path / "none.toml")
    assert settings.sentiment_model_path == "/models/cryptobert"
    assert settings.chromium == "/usr/bin/chromium"
    assert load_settings({}, tmp_path / "none.toml").sentiment_model_path is None


def test_top_level_variables_name_no_source(tmp_path) -> None:
    env = {
        "OMC_API_RATE_LIMIT": "120",
        "OMC_DATABASE_URL": "sqlite:///x.db",
        "OMC_REDIS_URL": "redis://127.0.0.1:6379/0",
        "OMC_TEST_POSTGRES_URL": "postgresql://127.0.0.1/test",
        "OMC_KRAKEN_RATE_LIMIT": "60",
    }
    settings = load_settings(env, tmp_path / "none.toml")
    assert settings.api_rate_limit == 120
    assert set(settings.sources) == {"kraken"}


def test_database_timeouts_and_the_demo_database(tmp_path) -> None:
    defaults = load_settings({}, tmp_path / "none.toml")
    assert defaults.demo_database_url == DEFAULT_DEMO_DATABASE_URL != DEFAULT_DATABASE_URL
    assert (defaults.database_connect_timeout, defaults.database_statement_timeout) == (10, 300)
    env = {
        "OMC_DEMO_DATABASE_URL": "postgresql://127.0.0.1/demo",
        "OMC_DATABASE_CONNECT_TIMEOUT": "3",
        "OMC_DATABASE_STATEMENT_TIMEOUT": "0",
    }
    settings = load_settings(env, tmp_path / "none.toml")
    assert settings.demo_database_url == "postgresql://127.0.0.1/demo"
    assert (settings.database_connect_timeout, settings.database_statement_timeout) == (3, 0)
    assert settings.sources == {}


def test_retention_periods_default_and_override(tmp_path) -> None:
    config = tmp_path / "ohmycoins.toml"
    config.write_text('[retention]\ncandles = "2y"\ncandles_1m = "forever"\ntrades = "12h"\n')
    settings = load_settings({}, config)
    day = 86_400_000
    assert settings.kept_ms("candles_1m") is None  # forever
    assert settings.kept_ms("candles_1h") == 2 * 365 * day  # the table's key beats defaults
    assert settings.kept_ms("trades") == 12 * 3_600_000
    assert settings.kept_ms("news_items") == 90 * day  # the defaults
    assert settings.kept_ms("onchain_metrics") == 180 * day
    assert settings.kept_ms("catalyst_events") == 730 * day
    assert load_settings({}, tmp_path / "none.toml").kept_ms("candles_1d") == 1825 * day


@pytest.mark.parametrize(
    ("line", "key", "reason"),
    [
        ('candles_1m = "90"', "candles_1m", "a period like"),
        ('trades = "0d"', "trades", "a period like"),
        ('candles_2m = "9d"', "candles_2m", "no table"),
        ('assets = "9d"', "assets", "no table"),
    ],
)
def test_a_bad_retention_setting_is_named(tmp_path, line: str, key: str, reason: str) -> None:
    config = tmp_path / "ohmycoins.toml"
    config.write_text(f"[retention]\n{line}\n")
    with pytest.raises(ConfigError) as raised:
        load_settings({}, config)
    assert raised.value.setting == f"[retention] {key}" and reason in raised.value.reason
