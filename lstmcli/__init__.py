"""lstmcli: train LSTM sequence models from YAML configs and look inside them."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # `__version__` is looked up on first use (PEP 562), not at every start: reading the package
    # metadata costs a few ms that `predict` and `--help` do not need.
    if name != "__version__":
        raise AttributeError(f"module 'lstmcli' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("lstmcli")
    except PackageNotFoundError:  # running from a source tree that was never installed
        value = "0+unknown"
    globals()["__version__"] = value
    return value
