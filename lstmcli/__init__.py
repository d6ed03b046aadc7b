"""lstmcli: train LSTM sequence models from YAML configs and look inside them."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lstmcli")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
