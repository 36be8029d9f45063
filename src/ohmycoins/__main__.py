"""`python -m ohmycoins` is `omc`."""

from ohmycoins.cli import app

app()
