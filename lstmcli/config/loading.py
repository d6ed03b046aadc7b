"""A config file in, a validated `Config` out: read, override, validate, resolve paths."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    ValidationError,
)

from lstmcli.config.messages import messages_of
from lstmcli.config.overrides import apply_sets
from lstmcli.config.schema import Config
from lstmcli.config.yaml12 import read_yaml
from lstmcli.errors import ConfigError, UsageError

_KEY_FIRST = re.compile(r"^([a-z_]+)[.\[:]")


@contextmanager
def in_source(source: str) -> Iterator[None]:
    """Name the config in a usage error about one of its keys (`sequence_length: …` raised by
    the data checks becomes `a.yaml: sequence_length: …`); errors naming a file pass as they are."""
    try:
        yield
    except UsageError as e:
        m = _KEY_FIRST.match(e.message)
        if m is None or m.group(1) not in Config.model_fields:
            raise
        raise UsageError(f"{source}: {e.message}") from None


def validate(data: dict[str, Any], source: str, base: Path | None = None) -> Config:
    """Validate raw data into a Config; every problem becomes `<key.path>: expected …, got …`."""
    try:
        cfg = Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(source, messages_of(e, Config)) from None
    if base is not None:
        cfg = _resolve_paths(cfg, base)
    return cfg


def load(path: str | Path, sets: list[str] | None = None) -> Config:
    """Load, override and validate a config file; paths in it resolve against its folder."""
    p = Path(path)
    data = apply_sets(read_yaml(p), list(sets or []))
    return validate(data, str(p), base=p.resolve().parent)


def _resolve_paths(cfg: Config, base: Path) -> Config:
    updates = {}
    for name in ("text_file", "sequences_file"):
        value = getattr(cfg.data, name)
        if value is not None and not value.is_absolute():
            updates[name] = (base / value).resolve()
    if not updates:
        return cfg
    return cfg.model_copy(update={"data": cfg.data.model_copy(update=updates)})


def dump_yaml(cfg: Config) -> str:
    """The resolved config as YAML (every default filled in), in schema order."""
    return str(yaml.safe_dump(cfg.to_dict(), sort_keys=False, allow_unicode=True))
