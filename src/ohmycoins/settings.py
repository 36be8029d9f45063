"""Configuration: environment variables first, then an optional `ohmycoins.toml`.

Settings are built by `load_settings()` at start, never at import time, so tests and
the API app can pass their own. Any invalid value fails at start with a
`ConfigError` naming the setting, the bad value and where it came from (its variable,
or its file, table and key).

Per-source settings follow one pattern for every source, known or not (any ccxt
exchange id works): `OMC_<SOURCE>_URL`, `OMC_<SOURCE>_WS_URL` (an exchange's websocket
base), `OMC_<SOURCE>_API_KEY`, `OMC_<SOURCE>_API_SECRET`, `OMC_<SOURCE>_RATE_LIMIT`
(requests per minute), `OMC_<SOURCE>_ENABLED`, `OMC_<SOURCE>_MONTHLY_QUOTA`.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from croniter import croniter  # type: ignore[import-untyped]
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
)
from pydantic import ValidationError as PydanticValidationError

from ohmycoins.errors import ConfigError
from ohmycoins.records import UNIFIED_SYMBOL
from ohmycoins.timeframes import DAY_MS, HOUR_MS, TIMEFRAMES

DEFAULT_DATABASE_URL = "sqlite:///./data/ohmycoins.db"
DEFAULT_DEMO_DATABASE_URL = "sqlite:///./data/demo.db"
"""Where `omc run --demo` writes: never the database of real data."""
DEFAULT_CONNECT_TIMEOUT = 10.0
"""Seconds a new database connection may take before the database counts as down."""
DEFAULT_STATEMENT_TIMEOUT = 300.0
"""Seconds PostgreSQL lets one statement run (0: no limit); migrations are exempt."""
DEFAULT_CONFIG_FILE = "ohmycoins.toml"

_SOURCE_FIELDS = {
    "URL": "url",
    "WS_URL": "ws_url",
    "API_KEY": "api_key",
    "API_SECRET": "api_secret",
    "RATE_LIMIT": "rate_limit",
    "ENABLED": "enabled",
    "MONTHLY_QUOTA": "monthly_quota",
}
_SOURCE_VAR = re.compile(
    r"^OMC_(?P<source>[A-Z0-9_]+?)_(?P<field>" + "|".join(_SOURCE_FIELDS) + r")$"
)
_ABSOLUTE_URL = r"^https?://[^/\s]+\S*$"


class SourceSettings(BaseModel):
    """How to reach one source; every field is optional."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = None
    ws_url: str | None = None
    """An exchange's websocket base URL (`ws://host:port/ws`): its streams' host is replaced."""
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    rate_limit: float | None = Field(default=None, gt=0, description="requests per minute")
    enabled: bool = True
    monthly_quota: int | None = Field(default=None, gt=0)

    @field_validator("url", "ws_url")
    @classmethod
    def _base_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        """`url` is an http(s) URL, `ws_url` a ws(s) one; a trailing slash is dropped."""
        scheme = "ws" if info.field_name == "ws_url" else "http"
        if value is not None and not re.match(rf"^{scheme}s?://[^/\s]+", value):
            raise ValueError(f"must be a {scheme}(s) URL")
        return value.rstrip("/") if value else value


class Universe(BaseModel):
    """What to collect: exchanges, symbols, timeframes and the size of the top-N list."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exchanges: tuple[str, ...] = ("binance",)
    symbols: tuple[str, ...] = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
    timeframes: tuple[str, ...] = ("1m", "1h")
    top_n: int = Field(default=100, gt=0, le=250)
    quote_currency: str = "usd"

    @field_validator("symbols")
    @classmethod
    def _unified_symbols(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for symbol in value:
            if not UNIFIED_SYMBOL.match(symbol):
                raise ValueError(f"{symbol!r} is not a unified symbol like 'BTC/USDT'")
        return value

    @field_validator("timeframes")
    @classmethod
    def _known_timeframes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [tf for tf in value if tf not in TIMEFRAMES]
        if unknown:
            raise ValueError(f"unknown timeframe(s) {unknown}; choose from {list(TIMEFRAMES)}")
        return value


class MacroSettings(BaseModel):
    """Which macro series to collect, from the `[macro]` table: FRED series ids and
    Yahoo Finance chart symbols."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fred_series: tuple[str, ...] = ("DGS10", "DFF", "CPIAUCSL", "M2SL", "DTWEXBGS")
    """10-year Treasury yield, fed funds rate, CPI, M2 money stock, broad dollar index."""
    yahoo_symbols: tuple[str, ...] = ("^GSPC", "^IXIC", "DX-Y.NYB", "GC=F", "^VIX")
    """S&P 500, Nasdaq Composite, ICE dollar index, gold futures, VIX."""


class NewsSettings(BaseModel):
    """What the news and social collectors read, from the `[news]` table: outlet feeds
    (absolute RSS/Atom URLs), subreddits, and the X recent-search query."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    feeds: tuple[str, ...] = (
        "https://www.coindesk.com/arc/outboundfeeds/rss/",
        "https://cointelegraph.com/rss",
        "https://decrypt.co/feed",
        "https://www.theblock.co/rss.xml",
        "https://bitcoinmagazine.com/feed",
    )
    subreddits: tuple[str, ...] = ("CryptoCurrency", "Bitcoin", "ethereum")
    x_query: str = Field(
        default="(bitcoin OR ethereum OR crypto) -is:retweet lang:en", min_length=1, max_length=512
    )

    @field_validator("feeds")
    @classmethod
    def _absolute_feeds(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if not re.match(_ABSOLUTE_URL, url):
                raise ValueError(f"{url!r} is not an absolute http(s) URL")
        return value

    @field_validator("subreddits")
    @classmethod
    def _subreddit_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        names = tuple(name.strip().removeprefix("/").removeprefix("r/") for name in value)
        for name in names:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_]{1,20}", name):
                raise ValueError(f"{name!r} is not a subreddit name like 'Bitcoin'")
        return names


class AnnouncementPage(BaseModel):
    """An exchange's announcement page read as HTML; `render` when its list is built by
    JavaScript (read through a headless Chromium)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exchange: str = Field(pattern=r"^[a-z0-9_.]+$")
    url: str = Field(pattern=_ABSOLUTE_URL)
    render: bool = False


class CatalystSettings(BaseModel):
    """Where catalyst events come from, from the `[catalysts]` table: the SEC filers
    (10-digit CIKs) and full-text query, and exchange announcement pages."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sec_ciks: tuple[str, ...] = (
        "0001679788",  # Coinbase Global
        "0001050446",  # Strategy (MicroStrategy)
        "0001588489",  # Grayscale Bitcoin Trust
        "0001980994",  # iShares Bitcoin Trust
        "0001852317",  # Fidelity Wise Origin Bitcoin Fund
    )
    sec_user_agent: str = Field(
        default="ohmycoins/0.1 admin@example.com", min_length=3, pattern=r"\S+@\S+"
    )
    """EDGAR asks every client to name itself with a contact e-mail."""
    efts_query: str = Field(default='"bitcoin" OR "ether"', min_length=1, max_length=512)
    efts_forms: tuple[str, ...] = ("S-1", "S-1/A", "19b-4")
    announcement_pages: tuple[AnnouncementPage, ...] = (
        AnnouncementPage(exchange="coinspot", url="https://coinspot.zendesk.com/hc/en-us"),
    )
    news_hours: int = Field(default=6, gt=0, le=720)
    """How far back the news-catalyst collector reads stored news items."""

    @field_validator("sec_ciks")
    @classmethod
    def _ten_digit_ciks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        ciks = tuple(str(cik).strip().zfill(10) for cik in value)
        for cik in ciks:
            if not re.fullmatch(r"\d{10}", cik):
                raise ValueError(f"{cik!r} is not a CIK like '0001679788'")
        return ciks


RETENTION_TABLES = (
    "candles",
    "tickers",
    "trades",
    "orderbooks",
    "market_snapshots",
    "protocol_fundamentals",
    "onchain_metrics",
    "news_items",
    "social_posts",
    "community_metrics",
    "catalyst_events",
    "macro_observations",
    "collector_runs",
    "quarantine",
    "trade_stats",
    "book_stats",
    "sentiment_daily",
)
"""The tables retention applies to (every record table but `assets`, which is no series)."""

DEFAULT_RETENTION: dict[str, str] = {
    "candles": "365d",
    "candles_1m": "90d",
    "candles_5m": "90d",
    "candles_15m": "90d",
    "candles_30m": "90d",
    "candles_1h": "365d",
    "candles_4h": "365d",
    "candles_1d": "1825d",
    "tickers": "365d",
    "trades": "30d",
    "orderbooks": "30d",
    "market_snapshots": "365d",
    "protocol_fundamentals": "365d",
    "onchain_metrics": "180d",
    "news_items": "90d",
    "social_posts": "30d",
    "community_metrics": "30d",
    "catalyst_events": "730d",
    "macro_observations": "forever",
    "collector_runs": "30d",
    "quarantine": "forever",
    "trade_stats": "365d",
    "book_stats": "365d",
    "sentiment_daily": "1825d",
    "capture": "14d",
}
"""How long rows are kept: price data a year; candle detail (under an hour) 90 days,
hourly aggregates a year, daily summaries five years; protocol fundamentals a year,
on-chain 180 days, news 90 days, social 30 days, catalysts two years, collector runs
30 days. Detail is rolled up before it goes (trades and order books into hourly
statistics, sentiment into daily aggregates). Macro history and quarantined rows stay.
The raw capture of live streams (`capture`: its hourly files) is kept two weeks."""

CAPTURE_RETENTION = "capture"
"""The `[retention]` key of the raw stream capture's files (not a table)."""

_PERIOD = re.compile(r"^(\d+)([hdwy])$")
_PERIOD_MS = {"h": HOUR_MS, "d": DAY_MS, "w": 7 * DAY_MS, "y": 365 * DAY_MS}


def retention_ms(period: str) -> int | None:
    """A retention period (`90d`, `12h`, `2w`, `1y`, or `forever`) in milliseconds;
    None for forever. ValueError for anything else."""
    if period == "forever":
        return None
    found = _PERIOD.match(period)
    if not found or int(found[1]) == 0:
        raise ValueError("must be a period like '90d', '12h', '2w', '1y', or 'forever'")
    return int(found[1]) * _PERIOD_MS[found[2]]


def _retention_key(key: str) -> str:
    table, _, timeframe = key.partition("_") if key.startswith("candles_") else (key, "", "")
    if key in RETENTION_TABLES or (table == "candles" and timeframe in TIMEFRAMES):
        return key
    if key == CAPTURE_RETENTION:
        return key
    raise ValueError(
        f"no table {key!r} to keep; one of {', '.join(RETENTION_TABLES)}, "
        f"candles_<timeframe> ({', '.join(TIMEFRAMES)}), or {CAPTURE_RETENTION}"
    )


def _retention_period(period: str) -> str:
    retention_ms(period)
    return period


RetentionKey = Annotated[str, AfterValidator(_retention_key)]
RetentionPeriod = Annotated[str, AfterValidator(_retention_period)]


STREAM_CHANNELS = ("trades", "book", "ticker", "candles")
STREAM_RESYNC_TIMES = 1000
"""Resync times a live stream reports (its latest ones), for the alert on resyncs."""


class StreamSettings(BaseModel):
    """Live exchange streams, from the `[streams]` table: which exchanges, symbols and
    channels; the depth and cadence of the stored book snapshots."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    exchanges: tuple[str, ...] = ("binance",)
    symbols: tuple[str, ...] | None = None
    """None: the universe's symbols (its top pairs)."""
    channels: tuple[str, ...] = ("trades", "book", "ticker")
    depth: int = Field(default=50, gt=0, le=1000, description="levels a side per snapshot")
    snapshot_seconds: float = Field(default=1.0, gt=0)
    timeframe: str = "1m"
    stale_seconds: float = Field(default=30.0, gt=0)
    capture: bool = True
    """Keep the raw capture of every stream (what `omc replay` stores again)."""
    capture_dir: Path = Path("./data/capture")

    @field_validator("symbols")
    @classmethod
    def _unified(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return Universe._unified_symbols(value) if value is not None else None

    @field_validator("channels")
    @classmethod
    def _known_channels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [c for c in value if c not in STREAM_CHANNELS]
        if unknown or not value:
            raise ValueError(f"channels {list(value)}: choose from {list(STREAM_CHANNELS)}")
        return value

    @field_validator("timeframe")
    @classmethod
    def _known_timeframe(cls, value: str) -> str:
        if value not in TIMEFRAMES:
            raise ValueError(f"unknown timeframe {value!r}; choose from {list(TIMEFRAMES)}")
        return value


class CollectorOverride(BaseModel):
    """A schedule change for one collector, from the `[collectors.NAME]` table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    interval_seconds: float | None = Field(default=None, gt=0)
    cron: str | None = None
    enabled: bool | None = None
    priority: int | None = None


class BackupSettings(BaseModel):
    """Scheduled backups, from the `[backup]` table: where they go, how many are kept,
    and when they are taken (a cron expression, UTC)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dir: str = "./data/backups"
    keep: int = Field(default=7, gt=0)
    schedule: str = "0 3 * * *"
    enabled: bool = True

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not croniter.is_valid(value):
            raise ValueError("must be a cron expression like '0 3 * * *' (UTC)")
        return value


class AlertSettings(BaseModel):
    """Alert rules and where alerts go, from the `[alerts]` table. `urls` are apprise
    URLs (`json://host/path`, `slack://…`, `mailtos://…`); with none, alerts are still
    kept and shown (API, dashboard) but sent nowhere. A rule whose threshold is 0 is off."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    urls: tuple[SecretStr, ...] = ()
    interval_seconds: float = Field(default=60, gt=0)
    """How often the rules are evaluated."""
    cooldown_minutes: float = Field(default=60, gt=0)
    """A firing alert is sent again no sooner than this."""
    stale_factor: float = Field(default=3, ge=0)
    """A collector whose last success is older than this many times its interval."""
    quality_below: float = Field(default=0.5, ge=0, le=1)
    """A collector whose last run scored below this quality."""
    circuit_open_minutes: float = Field(default=30, ge=0)
    """A source whose circuit has been open this long."""
    quarantine_per_hour: int = Field(default=1000, ge=0)
    """More rows quarantined than this in the last hour."""
    disk_percent: float = Field(default=90, ge=0, le=100)
    """The disk holding `disk_path` fuller than this."""
    disk_path: str = "./data"
    backup_failed: bool = True
    """The scheduled backup's last run failed."""
    stream_quiet_seconds: float = Field(default=120, ge=0)
    """A live stream that has received nothing for longer, or that no worker has run
    for longer."""
    stream_resyncs: int = Field(default=10, ge=0, lt=STREAM_RESYNC_TIMES)
    """A live stream that resynced its books more often than this in the window."""
    stream_resync_minutes: float = Field(default=10, gt=0)
    """The window of `stream_resyncs`."""

    @field_validator("urls", mode="before")
    @classmethod
    def _url_list(cls, value: object) -> object:
        """One URL or a list (from the environment: separated by spaces or newlines)."""
        return tuple(value.split()) if isinstance(value, str) else value


class Settings(BaseModel):
    """Everything ohmycoins reads from its environment and config file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: str = DEFAULT_DATABASE_URL
    demo_database_url: str = DEFAULT_DEMO_DATABASE_URL
    database_connect_timeout: float = Field(default=DEFAULT_CONNECT_TIMEOUT, gt=0)
    database_statement_timeout: float = Field(default=DEFAULT_STATEMENT_TIMEOUT, ge=0)
    redis_url: str | None = None
    secret_key: SecretStr | None = None
    sentiment_model_path: str | None = None
    """A directory of local transformers weights to score sentiment with; VADER when unset."""
    chromium: str | None = None
    """The Chromium that renders JavaScript-only pages; else `chromium` on the PATH."""
    log_level: str = "INFO"
    log_file: str | None = None
    api_require_key: bool = False
    api_rate_limit: float = Field(default=600, gt=0, description="requests per minute per key")
    api_anon_rate_limit: float = Field(
        default=120, gt=0, description="requests per minute per client address without a key"
    )
    api_trusted_proxies: tuple[str, ...] = ()
    """Addresses or networks of the reverse proxies whose `X-Forwarded-For` is believed."""
    api_metrics_token: SecretStr | None = None
    """A bearer token that opens `/metrics` to a scraper without an API key."""
    universe: Universe = Universe()
    macro: MacroSettings = MacroSettings()
    news: NewsSettings = NewsSettings()
    catalysts: CatalystSettings = CatalystSettings()
    backup: BackupSettings = BackupSettings()
    alerts: AlertSettings = AlertSettings()
    streams: StreamSettings = StreamSettings()
    collectors: dict[str, CollectorOverride] = {}
    sources: dict[str, SourceSettings] = {}
    retention: dict[RetentionKey, RetentionPeriod] = {}
    """`[retention]`: how long each table (or `candles_<timeframe>`) is kept, over
    `DEFAULT_RETENTION`."""

    @field_validator("database_url", "demo_database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        schemes = ("sqlite://", "postgresql://", "postgresql+psycopg://", "mysql://", "mariadb://")
        if not value.startswith(schemes):
            raise ValueError("must start with sqlite://, postgresql://, mysql:// or mariadb://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value or None

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @field_validator("api_trusted_proxies", mode="before")
    @classmethod
    def _proxy_networks(cls, value: object) -> object:
        """A comma-separated list (from the environment) or a list; each an IP or CIDR."""
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            return value
        networks = []
        for item in (str(item).strip() for item in items):
            if item:
                try:
                    networks.append(str(ipaddress.ip_network(item, strict=False)))
                except ValueError:
                    raise ValueError(f"{item!r} is not an IP address or network") from None
        return tuple(networks)

    @field_validator("api_metrics_token", mode="before")
    @classmethod
    def _strong_token(cls, value: object) -> object:
        secret = value.get_secret_value() if isinstance(value, SecretStr) else value
        if secret == "":
            return None
        if isinstance(secret, str) and len(secret) < 16:
            raise ValueError("must be at least 16 characters (a guessable token opens /metrics)")
        return value

    def kept_ms(self, key: str) -> int | None:
        """How long the rows of `key` (a table, or `candles_<timeframe>`) are kept, in ms;
        None for forever. A timeframe without its own key takes the table's."""
        table = key.partition("_")[0] if key.startswith("candles_") else key
        for name in (key, table):
            if name in self.retention:
                return retention_ms(self.retention[name])
        for name in (key, table):
            if name in DEFAULT_RETENTION:
                return retention_ms(DEFAULT_RETENTION[name])
        return None

    def source(self, name: str) -> SourceSettings:
        """Settings of one source by its lower-case name; defaults when none are set."""
        return self.sources.get(name.lower(), SourceSettings())


_TOP_LEVEL = (
    "database_url",
    "demo_database_url",
    "database_connect_timeout",
    "database_statement_timeout",
    "redis_url",
    "secret_key",
    "sentiment_model_path",
    "chromium",
    "log_level",
    "log_file",
    "api_require_key",
    "api_rate_limit",
    "api_anon_rate_limit",
    "api_trusted_proxies",
    "api_metrics_token",
)
"""Settings read from `OMC_<NAME>` environment variables (over the config file)."""

_IN_TABLES = {
    "OMC_BACKUP_DIR": ("backup", "dir"),
    "OMC_ALERT_URLS": ("alerts", "urls"),
    "OMC_CAPTURE_DIR": ("streams", "capture_dir"),
}
"""Variables that set one key of a table (over the config file): a container's volume
paths, and alert URLs that hold tokens (a secret, not a config file's content)."""

_NOT_SOURCE_VARS = (
    {f"OMC_{name.upper()}" for name in _TOP_LEVEL}
    | set(_IN_TABLES)
    | {
        "OMC_TEST_POSTGRES_URL",
        "OMC_TEST_REDIS_URL",
        "OMC_TEST_MYSQL_URL",
    }
)
"""Variables shaped like `OMC_<SOURCE>_<FIELD>` that name no source (`OMC_API_RATE_LIMIT`)."""


def load_settings(
    environ: Mapping[str, str] | None = None, config_file: str | Path | None = None
) -> Settings:
    """Read settings from the environment and the config file; raise ConfigError if invalid.

    The file is `config_file`, else the one `OMC_CONFIG` names, which must exist, else
    `./ohmycoins.toml` when there is one. An error names where the bad value came from:
    its variable, or its file, table and key."""
    env = dict(os.environ if environ is None else environ)
    path = _config_path(env, config_file)
    data = _read_toml(path) if path.exists() else {}
    origin = str(path) if data else None
    file_sources = data.pop("sources", {})
    if not isinstance(file_sources, dict):
        raise ConfigError("sources", file_sources, "must be a table of tables", origin=origin)
    from_env: dict[tuple[str, ...], str] = {}
    for name in _TOP_LEVEL:
        var = f"OMC_{name.upper()}"
        if env.get(var) is not None:
            data[name] = env[var]
            from_env[(name,)] = var
    for var, (table, key) in _IN_TABLES.items():
        if env.get(var) is not None:
            section = data.setdefault(table, {})
            if not isinstance(section, dict):
                raise ConfigError(table, section, "must be a table", origin=origin)
            section[key] = env[var]
            from_env[(table, key)] = var
    data["sources"] = _merge_sources(file_sources, env, from_env, origin)
    try:
        return Settings.model_validate(data)
    except PydanticValidationError as exc:
        raise _config_error(exc, data, from_env, origin) from None


def known_variable(name: str) -> bool:
    """True when `name` is an environment variable the settings read (deployment files
    are checked against it)."""
    return (
        name == "OMC_CONFIG"
        or name in _NOT_SOURCE_VARS
        or (name.startswith("OMC_") and _SOURCE_VAR.match(name) is not None)
    )


def _config_path(env: Mapping[str, str], config_file: str | Path | None) -> Path:
    """The config file to read; one named by `OMC_CONFIG` must be a file."""
    if config_file is not None:
        return Path(config_file)
    named = env.get("OMC_CONFIG")
    if not named:
        return Path(DEFAULT_CONFIG_FILE)
    path = Path(named)
    if not path.is_file():
        reason = "is a directory" if path.is_dir() else "no such file"
        raise ConfigError("OMC_CONFIG", named, reason)
    return path


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(str(path), "<file>", f"cannot read TOML: {exc}") from None


def _merge_sources(
    from_file: dict[str, Any],
    env: Mapping[str, str],
    from_env: dict[tuple[str, ...], str],
    origin: str | None,
) -> dict[str, dict[str, Any]]:
    """Per-source tables from the file, overridden by OMC_<SOURCE>_<FIELD> variables
    (each recorded in `from_env` by where it lands)."""
    merged: dict[str, dict[str, Any]] = {}
    for name, values in from_file.items():
        if not isinstance(values, dict):
            raise ConfigError(f"[sources] {name}", values, "must be a table", origin=origin)
        merged[str(name).lower()] = dict(values)
    for var, value in env.items():
        match = _SOURCE_VAR.match(var)
        if not match or var in _NOT_SOURCE_VARS:
            continue
        source, field = match["source"].lower(), _SOURCE_FIELDS[match["field"]]
        merged.setdefault(source, {})[field] = value
        from_env[("sources", source, field)] = var
    return merged


def _config_error(
    exc: PydanticValidationError,
    data: Mapping[str, Any],
    from_env: Mapping[tuple[str, ...], str],
    origin: str | None,
) -> ConfigError:
    """Turn pydantic's first error into one message naming the setting as the user wrote
    it: the environment variable, or the file's `[table] key`."""
    first = exc.errors()[0]
    loc = tuple(first["loc"])
    value = first.get("input")
    reason = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        reason = "no such setting"
    elif first["type"] == "missing":
        value = None
    for length in range(len(loc), 0, -1):
        var = from_env.get(tuple(str(part) for part in loc[:length]))
        if var is not None:
            return ConfigError(var, value, reason)
    table, key = _toml_key(data, loc)
    return ConfigError(f"[{table}] {key}" if table else key, value, reason, origin=origin)


def _toml_key(data: Mapping[str, Any], loc: tuple[int | str, ...]) -> tuple[str, str]:
    """Where pydantic's `loc` is in the TOML: its table (`sources.binance`) and its key
    (`rate_limit`, `announcement_pages[0].url`). Parts past the value (pydantic's type
    tags) are dropped."""
    node: Any = data
    tables: list[str] = []
    parts = list(loc)
    while len(parts) > 1 and isinstance(node, dict) and isinstance(node.get(parts[0]), dict):
        node = node[parts[0]]
        tables.append(str(parts.pop(0)))
    key = ""
    for part in parts:
        if isinstance(node, list | tuple) and isinstance(part, int):
            key += f"[{part}]"
            node = node[part] if part < len(node) else None
        elif isinstance(node, dict):
            key += f".{part}" if key else str(part)
            node = node.get(str(part))
        else:
            break
    return ".".join(tables), key
