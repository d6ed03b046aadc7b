"""The command line (Typer): `commands` holds the app and the core commands, `experiments` the
experiment commands. `lstmcli.cli:main` is the console script; `app` is what tests invoke."""

from lstmcli.cli.commands import app, main

__all__ = ["app", "main"]
