"""The lstmcli benchmark suite: `python benchmarks/run.py` runs every section of it."""
