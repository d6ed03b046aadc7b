"""`--set KEY.PATH=VALUE` overrides, applied to raw config data before validation."""

from __future__ import annotations

from typing import Any

import yaml

from lstmcli.config.yaml12 import load_yaml
from lstmcli.errors import UsageError


def parse_set(item: str) -> tuple[list[str], Any]:
    """`KEY.PATH=VALUE` → (key path, value read as a YAML scalar)."""
    if "=" not in item:
        raise UsageError(f"--set {item}: expected KEY.PATH=VALUE, got no '='")
    key, raw = item.split("=", 1)
    key = key.strip()
    parts = key.split(".")
    if not key or any(p == "" for p in parts):
        raise UsageError(f"--set {item}: expected KEY.PATH=VALUE, got an empty key")
    try:
        value = load_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError:
        raise UsageError(f"--set {item}: expected a YAML value after '=', got {raw!r}") from None
    return parts, value


def apply_sets(data: dict[str, Any], sets: list[str]) -> dict[str, Any]:
    """Apply `--set` overrides to raw config data (validation happens afterwards)."""
    for item in sets:
        parts, value = parse_set(item)
        node: Any = data
        for i, p in enumerate(parts[:-1]):
            nxt = node.get(p) if isinstance(node, dict) else None
            if nxt is None:
                nxt = {}
                node[p] = nxt
            elif not isinstance(nxt, dict):
                raise UsageError(
                    f"--set {item}: {'.'.join(parts[: i + 1])} is not a section, "
                    f"so it has no key {parts[i + 1]!r}"
                )
            node = nxt
        node[parts[-1]] = value
    return data
