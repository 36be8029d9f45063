"""Logging for the CLI and the service: one format, optional rotating file, and no
secret ever written: every configured API key and secret is masked in every line."""

from __future__ import annotations

import logging
import logging.handlers

from ohmycoins.settings import Settings

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5


class RedactSecrets(logging.Filter):
    """Replaces each known secret in a log record's final text with `***`."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        text = record.getMessage()
        for secret in self.secrets:
            text = text.replace(secret, "***")
        record.msg, record.args = text, None
        return True


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value the settings hold."""
    values = [v for v in (settings.secret_key, settings.api_metrics_token) if v is not None]
    for source in settings.sources.values():
        values += [v for v in (source.api_key, source.api_secret) if v is not None]
    return [value.get_secret_value() for value in values]


def configure_logging(settings: Settings) -> None:
    """Log to stderr, and to `OMC_LOG_FILE` (rotated at 10 MiB, 5 kept) when set."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if settings.log_file:
        handlers.append(
            logging.handlers.RotatingFileHandler(
                settings.log_file, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
            )
        )
    redact = RedactSecrets(secrets_of(settings))
    for handler in handlers:
        handler.addFilter(redact)
        handler.setFormatter(logging.Formatter(FORMAT))
    logging.basicConfig(level=settings.log_level, handlers=handlers, force=True)
    logging.getLogger("alembic").setLevel(logging.WARNING)
