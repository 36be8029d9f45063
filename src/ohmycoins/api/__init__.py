"""The HTTP and WebSocket API: `create_app(settings)` builds the FastAPI app.

API keys for it are made with `ohmycoins.api.keys.create_key`.
"""

from ohmycoins.api.app import api_server, create_app

__all__ = ["api_server", "create_app"]
