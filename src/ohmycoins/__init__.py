"""ohmycoins: a self-hosted collector of crypto market data."""

from importlib.metadata import version as _version

__version__ = _version("ohmycoins")
__all__ = ["__version__"]
