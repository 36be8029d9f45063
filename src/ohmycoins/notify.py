"""Alert deliveries through apprise: one library for webhooks (`json://`, `xml://`),
Slack (`slack://`), e-mail over SMTP (`mailto://`, `mailtos://`) and the rest of
apprise's services, so no sender is written here.

URLs hold tokens and passwords: only their scheme is ever shown in a message.
"""

from __future__ import annotations

from collections.abc import Sequence

import apprise

from ohmycoins.errors import ConfigError, DeliveryError

__all__ = ["send"]

_TYPES = {
    "firing": apprise.NotifyType.FAILURE,
    "repeat": apprise.NotifyType.WARNING,
    "resolved": apprise.NotifyType.SUCCESS,
}


def _scheme(url: str) -> str:
    return url.partition("://")[0] + "://…"


def _notifier(urls: Sequence[str]) -> apprise.Apprise:
    notifier = apprise.Apprise()
    for url in urls:
        if not notifier.add(url):
            raise ConfigError("[alerts] urls", _scheme(url), "not a URL apprise can send to")
    return notifier


async def send(urls: Sequence[str], title: str, body: str, kind: str) -> None:
    """Deliver one message to every URL; DeliveryError unless every one took it."""
    if not urls:
        return
    notifier = _notifier(urls)
    ok = await notifier.async_notify(body=body, title=title, notify_type=_TYPES[kind])
    if not ok:
        shown = ", ".join(_scheme(url) for url in urls)
        raise DeliveryError(f"alert {title!r} was not delivered to every URL ({shown})")
