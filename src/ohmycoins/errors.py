"""Every error ohmycoins raises, under one root.

    OhMyCoinsError
    ├── ConfigError                 bad setting: names the setting, the value and where
    │                               it came from (variable, or file and key)
    ├── UsageError                  a command asks for what cannot be done: a range that
    │                               ends before it starts, a file that cannot be written
    ├── SourceError                 something went wrong talking to a source
    │   ├── TemporarySourceError    worth retrying (network, 5xx, timeouts)
    │   │   └── RateLimitedError    the source said slow down (429, Retry-After)
    │   ├── BannedError             the source banned us (Binance 418): stop, do not retry
    │   └── PayloadError            the answer cannot be parsed: quarantine, do not retry
    ├── ValidationError             records broke a rule; carries every violation
    ├── StorageError                the database refused or is unreachable
    │   └── DatabaseUnavailableError    it did not answer in time, or not at all
    ├── DeliveryError               an alert could not be delivered to one of its URLs
    └── UnknownTaskError            an operation named a collector that is not scheduled
                                    (or not configured)

ccxt and httpx errors are translated into these once, at the edge (sources/); so are
the OS and database-driver errors a user's paths and URLs cause (storage/, the CLI).
The CLI prints any of these as one line and exits non-zero.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class OhMyCoinsError(Exception):
    """Root of every error raised by ohmycoins."""


class ConfigError(OhMyCoinsError):
    """A setting is missing or has a value we refuse; `origin` is the file it was read
    from (None for an environment variable, whose name is the setting)."""

    def __init__(
        self, setting: str, value: object, reason: str, *, origin: str | None = None
    ) -> None:
        self.setting = setting
        self.value = value
        self.reason = reason
        self.origin = origin
        where = f" in {origin}" if origin else ""
        super().__init__(f"invalid setting {setting}={value!r}{where}: {reason}")


class UsageError(OhMyCoinsError):
    """A command's arguments ask for something that cannot be done."""


class SourceError(OhMyCoinsError):
    """A source failed; carries which source and what we asked it."""

    def __init__(self, source: str, message: str, *, request: str = "") -> None:
        self.source = source
        self.request = request
        where = f" ({request})" if request else ""
        super().__init__(f"{source}{where}: {message}")


class TemporarySourceError(SourceError):
    """Retrying later may succeed."""


class RateLimitedError(TemporarySourceError):
    """The source asked us to wait `retry_after` seconds."""

    def __init__(
        self, source: str, message: str, *, retry_after: float | None, request: str = ""
    ) -> None:
        self.retry_after = retry_after
        super().__init__(source, message, request=request)


class BannedError(SourceError):
    """The source banned us; every further call makes it worse."""

    def __init__(
        self, source: str, message: str, *, retry_after: float | None, request: str = ""
    ) -> None:
        self.retry_after = retry_after
        super().__init__(source, message, request=request)


class PayloadError(SourceError):
    """The source answered, but with something we cannot parse."""

    def __init__(self, source: str, message: str, *, payload: object, request: str = "") -> None:
        self.payload = payload
        super().__init__(source, message, request=request)


def os_reason(exc: OSError) -> str:
    """Why an OS call failed, in its own lower-case words: `permission denied`."""
    return (exc.strerror or str(exc)).lower()


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: which record, which field, which value, which rule."""

    record_type: str
    field: str
    value: object
    rule: str
    record: object = None

    def __str__(self) -> str:
        return f"{self.record_type}.{self.field}={self.value!r}: {self.rule}"


class ValidationError(OhMyCoinsError):
    """Records broke validation rules; nothing of the batch was written."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = list(violations)
        shown = "; ".join(str(v) for v in self.violations[:5])
        more = f" (+{len(self.violations) - 5} more)" if len(self.violations) > 5 else ""
        super().__init__(f"{len(self.violations)} invalid record(s): {shown}{more}")


class StorageError(OhMyCoinsError):
    """The database refused an operation or cannot be reached."""


class DatabaseUnavailableError(StorageError):
    """The database cannot be reached, did not answer within its connect timeout, or
    cancelled a statement at its statement timeout. `url` never shows the password."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"database {url} {reason}")


class DeliveryError(OhMyCoinsError):
    """A notification was not delivered (apprise reported a failure for its URLs)."""


class UnknownTaskError(OhMyCoinsError):
    """No scheduled task has this id (a collector that was never scheduled), or, `kind`
    "configured", no collector of the configuration has this name. Given the names that
    exist, the message offers the closest ones."""

    def __init__(self, task_id: str, known: Iterable[str] = (), kind: str = "scheduled") -> None:
        self.task_id = task_id
        close = difflib.get_close_matches(task_id, list(known), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        super().__init__(f"no {kind} collector {task_id!r}{hint}")
