"""ARCHITECTURE.md's module map is the truth: every module has a row (named `package.module`, a
package's `__init__` by the package's name), and imports (at any level, inside functions too) stay
within what its row allows."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "lstmcli"
HEAVY = {"tensorflow", "keras", "rich", "typer", "matplotlib", "h5py", "pydantic", "yaml", "numpy"}


def _name(path: Path) -> str:
    """lstmcli/model/cell.py → model.cell; lstmcli/data/__init__.py → data."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _docstring_only(path: Path) -> bool:
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body)


FILES = {
    _name(p): p
    for p in sorted(PACKAGE.rglob("*.py"))
    if not (p.name == "__init__.py" and p.parent != PACKAGE and _docstring_only(p))
}
MODULES = sorted(FILES)


def _rows() -> dict[str, tuple[set[str] | None, set[str]]]:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    rows: dict[str, tuple[set[str] | None, set[str]]] = {}
    for m in re.finditer(r"^\| `([\w.]+)` \| [^|]+ \| ([^|]+) \| ([^|]+) \|$", text, re.M):
        name, may, heavy = m.group(1), m.group(2).strip(), m.group(3).strip()
        allowed = None if may == "any" else set(re.findall(r"`([\w.]+)`", may))
        rows[name] = (allowed, {h.strip() for h in heavy.split(",") if h.strip() not in ("–", "")})
    return rows


def _module(dotted: str) -> str | None:
    """`lstmcli.model.engine` → `model.engine`, if that is a module of the package."""
    rest = dotted.removeprefix("lstmcli").removeprefix(".")
    return rest if rest in FILES or rest == "" else None


def _imports(module: str) -> tuple[set[str], set[str]]:
    tree = ast.parse(FILES[module].read_text(encoding="utf-8"))
    own: set[str] = set()
    third: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "lstmcli":
                    sub = _module(alias.name)
                    own.add(sub if sub is not None else alias.name)
                else:
                    third.add(alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "lstmcli":
                third.add(node.module.split(".")[0])
                continue
            for alias in node.names:  # `from lstmcli.model import engine` imports a module
                sub = _module(f"{node.module}.{alias.name}")
                parent = _module(node.module)
                own.add(sub if sub is not None else parent if parent is not None else node.module)
    own.discard(module)
    own.discard("")  # `from lstmcli import __version__`: the package's own metadata
    return own, third & HEAVY


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
