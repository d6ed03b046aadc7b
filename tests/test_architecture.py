"""ARCHITECTURE.md's module map is the truth: every module has a row (named `package.module`, a
package's `__init__` by the package's name), its imports (at any level, inside functions too) stay
within what its row allows, every third-party import is named in its row, and lstmcli's modules
import each other without a single cycle (function-level imports included)."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "lstmcli"
# Every import that is neither the standard library nor lstmcli counts as third-party and must be
# named in the module's row (numpy excepted: it is everywhere below the CLI). The rows name, among
# others: tensorflow, keras, optuna, tensorboard, onnxruntime, tf2onnx, onnx, absl, matplotlib,
# h5py, rich, typer, pydantic, yaml.
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


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
    return own, third - STDLIB


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


def _cycles() -> list[list[str]]:
    """Every import cycle among lstmcli's modules (Tarjan's strongly connected components)."""
    graph = {m: sorted(_imports(m)[0] & set(FILES)) for m in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for m in MODULES:
        if m not in index:
            visit(m)
    return found


def test_no_import_cycles() -> None:
    assert _cycles() == [], "import cycles among lstmcli modules (function-level imports included)"


def test_the_cycle_check_sees_function_level_imports(tmp_path, monkeypatch) -> None:
    """The check above would catch a cycle made only of imports inside functions."""
    a = tmp_path / "a.py"
    b = tmp_path / "b.py"
    a.write_text("def f():\n    from lstmcli import b\n", encoding="utf-8")
    b.write_text("from lstmcli import a\n", encoding="utf-8")
    monkeypatch.setitem(FILES, "a", a)
    monkeypatch.setitem(FILES, "b", b)
    monkeypatch.setattr(sys.modules[__name__], "MODULES", [*MODULES, "a", "b"])
    assert ["a", "b"] in _cycles()


MAX_FUNCTION_LINES = 80


def _long_functions(root: Path) -> dict[str, int]:
    """Dotted name → lines of every function (methods and nested ones too) longer than the bound."""
    found: dict[str, int] = {}
    for path in sorted(root.rglob("*.py")):
        module = ".".join(path.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__")

        def visit(node: ast.AST, prefix: str) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    name = f"{prefix}.{child.name}"
                    if not isinstance(child, ast.ClassDef):
                        lines = (child.end_lineno or child.lineno) - child.lineno + 1
                        if lines > MAX_FUNCTION_LINES:
                            found[name] = lines
                    visit(child, name)

        visit(ast.parse(path.read_text(encoding="utf-8")), module)
    return found


def test_no_function_over_80_lines() -> None:
    long = _long_functions(PACKAGE)
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_the_length_check_sees_methods(tmp_path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    body = "".join(f"        x{n} = {n}\n" for n in range(MAX_FUNCTION_LINES))
    (pkg / "m.py").write_text(f"class C:\n    def long(self):\n{body}\n    def short(self):\n        pass\n")
    assert _long_functions(pkg) == {"pkg.m.C.long": MAX_FUNCTION_LINES + 1}
