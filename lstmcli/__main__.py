"""Makes `python -m lstmcli` work."""

from lstmcli.cli import main

main()
