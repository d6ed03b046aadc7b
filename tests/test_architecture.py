"""ARCHITECTURE.md's module map is the truth: every module has a row, and imports (at any level,
inside functions too) stay within what its row allows."""

from __future__ import annotations

import ast
import re

import pytest

from conftest import ROOT

PACKAGE = ROOT / "lstmcli"
HEAVY = {"tensorflow", "keras", "rich", "typer", "matplotlib", "h5py", "pydantic", "yaml", "numpy"}


def _rows() -> dict[str, tuple[set[str] | None, set[str]]]:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    rows: dict[str, tuple[set[str] | None, set[str]]] = {}
    for m in re.finditer(r"^\| `(\w+)` \| [^|]+ \| ([^|]+) \| ([^|]+) \|$", text, re.M):
        name, may, heavy = m.group(1), m.group(2).strip(), m.group(3).strip()
        allowed = None if may == "any" else set(re.findall(r"`(\w+)`", may))
        rows[name] = (allowed, {h.strip() for h in heavy.split(",") if h.strip() not in ("–", "")})
    return rows


def _imports(module: str) -> tuple[set[str], set[str]]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    own: set[str] = set()
    third: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top, _, rest = alias.name.partition(".")
                (own.add(rest.split(".")[0]) if top == "lstmcli" else third.add(top))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            top, _, rest = node.module.partition(".")
            if top == "lstmcli":
                own.update([rest.split(".")[0]] if rest else [a.name for a in node.names])
            else:
                third.add(top)
    own.discard(module)
    own.discard("__version__")
    return own, third & HEAVY


MODULES = sorted(p.stem for p in PACKAGE.glob("*.py"))


def test_every_module_has_a_row() -> None:
    rows = _rows()
    assert set(MODULES) == set(rows), f"ARCHITECTURE.md rows vs modules: {set(MODULES) ^ set(rows)}"


@pytest.mark.parametrize("module", MODULES)
def test_imports_follow_the_map(module: str) -> None:
    allowed, heavy = _rows()[module]
    own, third = _imports(module)
    if allowed is not None:
        assert own <= allowed, f"{module} imports {sorted(own - allowed)}, not in its ARCHITECTURE.md row"
    # numpy is everywhere below the CLI; the rest must be named in the row.
    assert third - {"numpy"} <= heavy, f"{module} imports {sorted(third - heavy)}, not in its row"
