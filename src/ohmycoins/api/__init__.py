"""The HTTP and WebSocket API: `create_app(settings)` builds the FastAPI app.

API keys for it are made with `ohmycoins.api.keys.create_key`. `create_app` and
`api_server` load FastAPI when first asked for, so that importing the keys (as
`omc apikey create` does) does not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ohmycoins.api.app import api_server, create_app

__all__ = ["api_server", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from ohmycoins.api import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
