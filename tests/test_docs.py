"""Every command the README and docs show runs as shown (or is marked illustrative), from a
scratch folder, so none leaves files in the checkout."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

import terminal
from conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]
BLOCK = re.compile(r"(?:<!-- ([\w-]+)[^\n]*-->\n)?[ ]*```(?:sh|bash)\n(.*?)[ ]*```", re.S)


def commands(doc: Path) -> list[str]:
    """The shell lines of a document's sh blocks, continuations joined, comments dropped; blocks
    marked `<!-- illustrative … -->` (or run by their own test, `<!-- ci-example -->`) left out."""
    out: list[str] = []
    for marker, body in BLOCK.findall(doc.read_text(encoding="utf-8")):
        if marker in ("illustrative", "ci-example"):
            continue
        joined = re.sub(r"\\\n\s*", " ", body)
        for line in joined.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                out.append(line)
    return out


def test_every_shell_block_is_run_or_marked() -> None:
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        fenced = len(re.findall(r"^[ ]*```(?:sh|bash)$", text, re.M))
        assert fenced == len(BLOCK.findall(text)), f"{doc}: a sh block the docs test cannot read"


@pytest.mark.slow
def test_documented_commands_run_as_shown(tmp_path) -> None:
    # As a person types them: at a terminal (a pty, 80 columns), where the progress bar and the
    # tables' widths are live; a pipe is what tests/test_terminal.py checks for escape codes.
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    before = set(
        subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True
        ).stdout.splitlines()
    )
    ran = 0
    for doc in DOCS:
        for line in commands(doc):
            done = terminal.shell(line, cols=80, cwd=tmp_path)
            assert done.code == 0, f"{doc.name}: {line}\n{done.screen}"
            assert "internal error" not in done.text and "Traceback" not in done.text, done.text
            ran += 1
    assert ran >= 20
    after = set(
        subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True
        ).stdout.splitlines()
    )
    assert after == before, "a documented command left files in the checkout"
